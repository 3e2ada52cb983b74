//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz`): the decoders of untrusted
//! input, each with what must hold whatever the bytes. Also run by unit tests on a few
//! inputs, so that they stay compiled and correct without the fuzzer.

use crate::graphql::limits::Limits;
use crate::graphql::pagination::{decode_cursor, encode_cursor};
use crate::graphql::runs::BacktestRunFilter;
use crate::http::endpoint;
use crate::store::query::{Direction, Order, OrderField, Sql};

/// A cursor, for every order: decoding never panics, and a cursor that decodes encodes
/// back to one that decodes to the same position.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for field in OrderField::ALL {
        for direction in [Direction::Asc, Direction::Desc] {
            let order = Order { field, direction };
            if let Ok(position) = decode_cursor("after", order, text) {
                let again = encode_cursor(order, &position);
                let round = decode_cursor("after", order, &again).expect("a cursor the server made decodes");
                assert_eq!(round, position, "cursor {text:?} does not round-trip");
            }
        }
    }
}

/// A `config` filter (JSON): refused or turned into SQL whose text holds none of the
/// client's values — every value is a bound parameter.
pub fn config_filter(data: &[u8]) {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let filter = BacktestRunFilter { config: Some(async_graphql::Json(config)), ..BacktestRunFilter::default() };
    let Ok(filter) = filter.into_filter() else { return };
    let mut sql = Sql::default();
    filter.push_conditions(&mut sql);
    // The only quoted text is the server's own (hot config keys).
    let literals: Vec<&str> = sql.text.split('\'').skip(1).step_by(2).collect();
    for literal in literals {
        assert!(
            crate::store::query::HOT_CONFIG_KEYS.contains(&literal),
            "client text {literal:?} reached the SQL: {}",
            sql.text
        );
    }
}

/// A POST body: refused with a 4xx, or a request whose document (if it parses) the limits
/// can check without panicking.
pub fn request_body(data: &[u8]) {
    match endpoint::decode_json_body(data) {
        Err(refusal) => assert!(refusal.status().is_client_error(), "{:?}", refusal.status()),
        Ok(request) => check_document(&request.query),
    }
}

/// A GET's query string: as [`request_body`].
pub fn url_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match endpoint::decode_get(Some(text)) {
        Err(refusal) => assert!(refusal.status().is_client_error(), "{:?}", refusal.status()),
        Ok(request) => check_document(&request.query),
    }
}

fn check_document(query: &str) {
    if let Ok(document) = async_graphql::parser::parse_query(query) {
        let _ = Limits::default().check_document(&document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_entry_points_hold_on_sample_inputs() {
        let position = crate::store::query::Position {
            value: crate::store::query::SortValue::Time(chrono::Utc::now()),
            id: uuid::Uuid::nil(),
        };
        let order = Order::default();
        cursor(encode_cursor(order, &position).as_bytes());
        cursor(b"!!!");
        config_filter(br#"{"fast_period": 10, "risk": {"stop": "x'); DROP TABLE t; --"}}"#);
        config_filter(br#"{"slow_period'": 1}"#);
        request_body(br#"{"query": "{ a: x b: y ...F } fragment F on Q { ...F }"}"#);
        request_body(b"[1]");
        url_query(b"query=%7Bx%7D&variables=%7B%7D");
        url_query(b"query=mutation%7Bx%7D");
    }
}
