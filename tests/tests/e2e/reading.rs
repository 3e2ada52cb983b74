use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::record;

const PAGE: &str = "query($first: Int, $after: String) {
    backtestRuns(first: $first, after: $after) {
        edges { cursor node { id createdAt } }
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

#[tokio::test]
async fn paging_through_45_runs_20_at_a_time_visits_each_once_newest_first() {
    let app = TestApp::spawn().await;
    // 15 timestamps, 3 runs each: ties on created_at must be ordered by id, not lost or
    // repeated at page boundaries.
    let mut expected: Vec<(String, String)> = Vec::new();
    for i in 0..45 {
        let created = format!("2025-01-{:02}T12:00:00Z", 1 + i / 3);
        let id = record(&app, json!({ "createdAt": created })).await;
        expected.push((created, id));
    }
    expected.sort_by(|a, b| b.cmp(a));

    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let data = app.data(PAGE, json!({ "first": 20, "after": after })).await;
        let conn = &data["backtestRuns"];
        let edges = conn["edges"].as_array().expect("edges").clone();
        let ids: Vec<String> = edges.iter().map(|e| e["node"]["id"].as_str().expect("id").to_owned()).collect();
        let node_ids: Vec<String> =
            conn["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(ids, node_ids, "nodes mirror edges");
        assert_eq!(conn["pageInfo"]["startCursor"], edges[0]["cursor"]);
        assert_eq!(conn["pageInfo"]["endCursor"], edges[edges.len() - 1]["cursor"]);
        pages.push((ids.len(), conn["pageInfo"]["hasNextPage"].as_bool().expect("bool")));
        seen.extend(ids);
        if !conn["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, [(20, true), (20, true), (5, false)]);
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected_ids, "every run exactly once, by (createdAt, id) descending");
}

#[tokio::test]
async fn an_empty_database_gives_an_empty_page() {
    let app = TestApp::spawn().await;
    let data = app.data(PAGE, json!({})).await;
    assert_eq!(
        data["backtestRuns"],
        json!({ "edges": [], "nodes": [], "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } })
    );
}

#[tokio::test]
async fn bad_ids_cursors_and_page_sizes_are_bad_user_input() {
    let app = TestApp::spawn().await;
    record(&app, json!({})).await;
    let cases: [(&str, Value); 5] = [
        ("query { backtestRun(id: \"not-a-uuid\") { id } }", json!({})),
        (PAGE, json!({ "after": "garbage!" })),
        (
            PAGE,
            json!({ "after": "djF8U0hBUlBFX1JBVElPX0RFU0N8MS41fDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA" }),
        ),
        (PAGE, json!({ "first": 0 })),
        (PAGE, json!({ "first": 101 })),
    ];
    for (query, variables) in cases {
        let response = app.graphql(query, variables.clone()).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{variables}: {response}");
        let message = response["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains("UUID") || message.contains("cursor") || message.contains("between 1 and 100"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn an_unknown_id_is_null_not_an_error() {
    let app = TestApp::spawn().await;
    let response = app.graphql("{ backtestRun(id: \"5c0e9a8e-0d1e-4a8e-9f51-8d1f0e6a2b33\") { id } }", json!({})).await;
    assert_eq!(response, json!({ "data": { "backtestRun": null } }));
}

#[tokio::test]
async fn a_database_failure_is_reported_without_its_text() {
    let app = TestApp::spawn().await;
    record(&app, json!({})).await;
    let db = app.db.connect().await;
    db.execute_unprepared("ALTER TABLE backtest_runs RENAME TO gone").await.expect("rename");
    let response = app.graphql(PAGE, json!({})).await;
    assert_eq!(error_codes(&response), ["INTERNAL_SERVER_ERROR"], "{response}");
    let text = response.to_string();
    assert!(!text.contains("backtest_runs") && !text.contains("relation"), "database text leaked: {text}");
}

#[tokio::test]
async fn health_is_200_and_readiness_follows_the_database() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let html = reqwest::Client::new()
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("GraphiQL");
    assert_eq!(html.status(), 200);
    assert!(html.text().await.expect("body").contains("GraphiQL"));

    let db = app.db.connect().await;
    let name = app.db.name.clone();
    db.close().await.expect("close");
    let admin = sea_orm::Database::connect(app.db.url.replace(&name, "postgres")).await.expect("admin");
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.expect("drop");
    assert_eq!(app.get("/readyz").await.status(), 503, "no database, not ready");
    assert_eq!(app.get("/healthz").await.status(), 200, "but alive");
    let response = app.graphql(PAGE, json!({})).await;
    assert_eq!(error_codes(&response), ["SERVICE_UNAVAILABLE"], "{response}");
}

#[tokio::test]
async fn a_repeated_query_text_still_uses_its_variables_and_is_still_validated() {
    // The server caches parsed documents by query text (graphql::documents).
    let app = TestApp::spawn().await;
    let a = record(&app, json!({ "strategyName": "Alpha" })).await;
    let b = record(&app, json!({ "strategyName": "Beta" })).await;
    let query = "query($id: ID!) { backtestRun(id: $id) { id strategyName } }";
    for _ in 0..2 {
        for (id, name) in [(&a, "Alpha"), (&b, "Beta")] {
            let data = app.data(query, json!({ "id": id })).await;
            assert_eq!(data["backtestRun"], json!({ "id": id, "strategyName": name }));
        }
    }
    // A document that parses but does not validate is refused every time, and a missing
    // required variable is noticed on the cached document too.
    for _ in 0..2 {
        let bad = app.graphql("{ backtestRun(id: \"x\") { noSuchField } }", json!({})).await;
        assert!(bad["errors"][0]["message"].as_str().is_some_and(|m| m.contains("noSuchField")), "{bad}");
        assert!(bad.get("data").is_none_or(Value::is_null), "{bad}");
        let missing = app.graphql(query, json!({})).await;
        assert!(missing["errors"].is_array() && missing["data"].is_null(), "{missing}");
    }
}

/// The server decodes `numeric` from PostgreSQL's binary form itself (`store::rows`):
/// every value must come back as the exact decimal PostgreSQL prints, at its scale, for
/// the metric columns' types and for unconstrained `numeric` (weights far from the point,
/// trailing zero groups that PostgreSQL strips, negatives, zero).
#[tokio::test]
async fn numeric_values_decode_exactly_as_postgresql_prints_them() {
    use std::str::FromStr as _;

    use rust_decimal::Decimal;
    use tearsheet_api::store::rows::decimal_at;

    let test_db = tearsheet_tests::TestDb::migrated().await;
    let db = test_db.connect().await;
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "0.0001",
        "-0.0001",
        "1",
        "-1",
        "10000",
        "100000000",
        "1e20",
        "-1e20",
        "1.5",
        "1.50000",
        "9999.9999",
        "-9999.9999",
        "12345678.1234",
        "0.1234567890123456789",
        "123456789012345678.12",
        "99999999999999999999.99",
        "0.00000001",
        "7.000000000001",
        "1234.5678",
        "0.5",
        "100.01",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let digits = state % 10u64.pow(1 + (state >> 60) as u32 % 12);
        let scale = (state >> 40) % 9;
        let sign = if state & 1 == 0 { "" } else { "-" };
        let text = format!("{digits:0>width$}", width = scale as usize + 1);
        let (int, frac) = text.split_at(text.len() - scale as usize);
        texts.push(if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") });
    }
    // Each value as unconstrained numeric and as the metric columns' NUMERIC(10, 4) (when
    // it fits), beside PostgreSQL's own text of it.
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT v::numeric, v::numeric::text,
                    CASE WHEN abs(v::numeric) < 999999 THEN v::numeric(10, 4) END,
                    CASE WHEN abs(v::numeric) < 999999 THEN v::numeric(10, 4)::text END
             FROM unnest($1::text[]) AS t(v)",
            [texts.clone().into()],
        ))
        .await
        .expect("select numerics");
    assert_eq!(rows.len(), texts.len());
    let mut compared = 0;
    for (row, text) in rows.iter().zip(&texts) {
        for (value_at, text_at) in [(0, 1), (2, 3)] {
            let printed: Option<String> = row.try_get_by_index(text_at).expect("text");
            let decoded = decimal_at(row, value_at).unwrap_or_else(|e| panic!("{text}: {e}"));
            let expected = printed.as_deref().map(|p| Decimal::from_str(p).expect("parse"));
            assert_eq!(decoded, expected, "{text} (column {value_at})");
            // Same scale too: 1.5000 stays 1.5000, as PostgreSQL prints it.
            assert_eq!(decoded.map(|d| d.to_string()), printed, "{text} (column {value_at})");
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * texts.len());
    // NaN has no Decimal: an error, not a wrong number.
    let nan = db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT 'NaN'::numeric"))
        .await
        .expect("select NaN")
        .expect("a row");
    assert!(decimal_at(&nan, 0).is_err());
}
