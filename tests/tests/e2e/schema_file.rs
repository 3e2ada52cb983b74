#[test]
fn the_committed_schema_graphql_is_what_the_code_serves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = tearsheet_api::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date: run `cargo run -p tearsheet-api -- schema > schema.graphql` and commit it"
    );
}
