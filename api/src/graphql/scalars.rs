//! Scalars of the contract that async-graphql does not name the same way, and id parsing.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, ID, InputValueError, InputValueResult, Json, Name, OutputType, Positioned, Scalar, ScalarType,
    ServerResult, Value,
};
use chrono::{Datelike as _, NaiveDate};
use uuid::Uuid;

use crate::error::{ApiError, Result};

/// A calendar date, YYYY-MM-DD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("expected a date as YYYY-MM-DD, got {s:?}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        // chrono's `format` interprets its pattern on every call; two dates per run add up
        // on a page. Outside years 0 to 9999 chrono writes a sign: left to it.
        let d = self.0;
        if (0..=9999).contains(&d.year()) {
            Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        } else {
            Value::String(d.format("%Y-%m-%d").to_string())
        }
    }
}

/// A JSON value shown as the `JSON` scalar (the same scalar as `Json<serde_json::Value>`),
/// converted from the value in place: `Json` needs an owned value, so a config would be
/// cloned and then serialized into async-graphql's value, two copies of a 1–5 KB tree.
pub struct JsonRef<'a>(pub Cow<'a, serde_json::Value>);

impl OutputType for JsonRef<'_> {
    fn type_name() -> Cow<'static, str> {
        <Json<serde_json::Value> as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Json<serde_json::Value> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> ServerResult<Value> {
        Ok(to_graphql(&self.0))
    }
}

/// The value `async_graphql::to_value` gives for `value` (same numbers, same key order).
fn to_graphql(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.clone()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(to_graphql).collect()),
        serde_json::Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (Name::new(k), to_graphql(v))).collect())
        }
    }
}

/// A run id from the client: any UUID spelling `uuid` accepts, else `BAD_USER_INPUT`.
pub fn parse_run_id(arg: &str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::bad_input(arg, format!("{arg} must be a UUID, got {:?}", id.as_str())))
}

/// A run id as the API shows it: lower-case and hyphenated.
pub fn run_id(id: Uuid) -> ID {
    ID(id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_converted_as_async_graphql_converts_it() {
        let value = serde_json::json!({
            "z": [1, -2, 3.5, 1e300, 18446744073709551615u64, null, true, "s"],
            "a": { "nested": { "empty": {}, "list": [] } },
            "m": "ünïcode \"quoted\""
        });
        assert_eq!(to_graphql(&value), async_graphql::to_value(&value).expect("converts"));
        assert_eq!(
            serde_json::to_string(&to_graphql(&value)).expect("json"),
            serde_json::to_string(&value).expect("json")
        );
    }

    #[test]
    fn dates_are_shown_as_yyyy_mm_dd() {
        let cases = [
            (2024, 2, 29, "2024-02-29"),
            (5, 1, 9, "0005-01-09"),
            (9999, 12, 31, "9999-12-31"),
            (10000, 1, 1, "+10000-01-01"),
            (-1, 3, 4, "-0001-03-04"),
        ];
        for (y, m, d, text) in cases {
            let date = Date(NaiveDate::from_ymd_opt(y, m, d).expect("date"));
            assert_eq!(date.to_value(), Value::String(text.into()));
            assert_eq!(date.to_value(), Value::String(date.0.format("%Y-%m-%d").to_string()));
        }
    }
}
