//! Relay cursor connections: page-size rules, opaque cursors, and the page objects.
//!
//! A cursor is URL-safe base64 (no padding) of `v1|<order>|<sort key>|<run id>`. It carries
//! the order it belongs to, so a cursor from another order is refused rather than read as
//! a position in the wrong index. Clients must treat it as opaque.

use async_graphql::{ComplexObject, Context, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::runs::BacktestRun;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::runs::CreatedAtKey;

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// The page size a client asked for, checked against 1..=100.
pub fn page_size(arg: &str, requested: Option<i32>) -> Result<u64> {
    let n = requested.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&n) {
        return Err(ApiError::bad_input(arg, format!("{arg} must be between 1 and {MAX_PAGE_SIZE}, got {n}")));
    }
    Ok(n as u64)
}

const VERSION: &str = "v1";
const ORDER_CREATED_AT_DESC: &str = "CREATED_AT_DESC";

/// Encodes a position in the newest-first order.
pub fn encode_created_at(key: CreatedAtKey) -> String {
    let raw = format!("{VERSION}|{ORDER_CREATED_AT_DESC}|{}|{}", key.created_at.timestamp_micros(), key.id);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a cursor of the newest-first order; anything else is the client's error.
pub fn decode_created_at(arg: &str, cursor: &str) -> Result<CreatedAtKey> {
    let invalid = |why: &str| ApiError::bad_input(arg, format!("{arg} is not a valid cursor: {why}"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).map_err(|_| invalid("not base64url"))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("malformed"))?;
    let parts: Vec<&str> = text.split('|').collect();
    let [version, order, micros, id] = parts.as_slice() else { return Err(invalid("malformed")) };
    if *version != VERSION {
        return Err(invalid("unknown cursor version"));
    }
    if *order != ORDER_CREATED_AT_DESC {
        return Err(invalid(&format!("it belongs to the order {order}, not CREATED_AT DESC")));
    }
    let created_at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(|| invalid("malformed position"))?;
    let id = Uuid::parse_str(id).map_err(|_| invalid("malformed position"))?;
    Ok(CreatedAtKey { created_at, id })
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct BacktestRunEdge {
    pub cursor: String,
    pub node: BacktestRun,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BacktestRunConnection {
    pub edges: Vec<BacktestRunEdge>,
    pub page_info: PageInfo,
}

#[ComplexObject]
impl BacktestRunConnection {
    async fn nodes(&self) -> Vec<BacktestRun> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }

    /// Count of all runs matching the filter; computed only when selected.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let state = ctx.data::<AppState>()?;
        let n = crate::store::runs::count(&state.pools.read).await.map_err(ApiError::from)?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let key = CreatedAtKey {
            created_at: DateTime::<Utc>::from_timestamp_micros(1_737_801_000_123_456).expect("valid"),
            id: Uuid::now_v7(),
        };
        let cursor = encode_created_at(key);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        assert_eq!(decode_created_at("after", &cursor).expect("decodes"), key);
    }

    #[test]
    fn foreign_and_broken_cursors_are_refused() {
        let other_order = URL_SAFE_NO_PAD.encode(format!("v1|SHARPE_RATIO_DESC|1.5|{}", Uuid::nil()));
        for bad in ["", "%%%", "bm9wZQ", other_order.as_str()] {
            let err = decode_created_at("after", bad).expect_err(bad);
            assert_eq!(err.code(), "BAD_USER_INPUT");
        }
    }

    #[test]
    fn page_sizes_outside_1_to_100_are_refused() {
        assert_eq!(page_size("first", None).expect("default"), 20);
        assert_eq!(page_size("first", Some(100)).expect("max"), 100);
        for n in [0, -1, 101] {
            assert!(page_size("first", Some(n)).is_err(), "{n}");
        }
    }
}
