//! Scalars of the contract that async-graphql does not name the same way, and id parsing.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, ID, InputValueError, InputValueResult, Json, Name, OutputType, Positioned, Scalar, ScalarType,
    ServerError, ServerResult, Value,
};
use axum::body::Bytes;
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
        Value::String(self.text())
    }
}

impl Date {
    /// YYYY-MM-DD.
    pub fn text(self) -> String {
        // chrono's `format` interprets its pattern on every call; two dates per run add up
        // on a page. Outside years 0 to 9999 chrono writes a sign: left to it.
        let d = self.0;
        if (0..=9999).contains(&d.year()) {
            format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
        } else {
            d.format("%Y-%m-%d").to_string()
        }
    }
}

/// A JSON value shown as the `JSON` scalar (the same scalar as `Json<serde_json::Value>`):
/// a tree, or JSON text as PostgreSQL wrote it (`Configs::Text`).
///
/// Where the response is written by `http::json` (HTTP requests: the schema's data holds
/// [`JsonText`]), objects and arrays go to it as JSON text in a `Value::Binary`, which it
/// writes as it is: text read as text is never parsed, a tree is serialized once, straight
/// from itself. async-graphql's own path (`Json` needs an owned value) cloned the tree,
/// turned the copy into async-graphql's value tree (a map entry and an `Arc<str>` name per
/// key) and serialized that; with the parse of the text into the tree before it, ~40% of a
/// run by id's instructions went to its one config. Elsewhere (the WebSocket endpoint) the
/// value is converted in place, as async-graphql would (text is parsed first).
pub enum JsonRef<'a> {
    Tree(Cow<'a, serde_json::Value>),
    Text(Bytes),
}

/// Schema data: the response is written by `http::json`, which takes `Value::Binary` as
/// JSON text (nothing else in the schema produces binary values).
#[derive(Clone, Copy, Debug)]
pub struct JsonText;

impl JsonRef<'_> {
    /// Appends the value's JSON text to `out` (text as it is): what `http::json` writes of
    /// the value it resolves to under [`JsonText`].
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            JsonRef::Text(text) => out.extend_from_slice(text),
            // A `serde_json::Value` always serializes.
            JsonRef::Tree(value) => {
                let _ = serde_json::to_writer(&mut *out, value.as_ref());
            }
        }
    }
}

impl OutputType for JsonRef<'_> {
    fn type_name() -> Cow<'static, str> {
        <Json<serde_json::Value> as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Json<serde_json::Value> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let as_text = ctx.data_opt::<JsonText>().is_some();
        match self {
            JsonRef::Text(text) if as_text => Ok(Value::Binary(text.clone())),
            JsonRef::Text(text) => serde_json::from_slice::<serde_json::Value>(text)
                .map(|value| to_graphql(&value))
                .map_err(|e| ServerError::new(format!("a stored JSON value does not parse: {e}"), Some(field.pos))),
            JsonRef::Tree(value) if as_text && (value.is_object() || value.is_array()) => {
                let mut text = Vec::new();
                self.write(&mut text);
                Ok(Value::Binary(Bytes::from(text)))
            }
            JsonRef::Tree(value) => Ok(to_graphql(value)),
        }
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

#[cfg(test)]
mod json_text_tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Q;

    #[Object]
    impl Q {
        async fn config(&self) -> JsonRef<'static> {
            JsonRef::Tree(Cow::Owned(serde_json::json!({ "fast_period": 10 })))
        }

        async fn text(&self) -> JsonRef<'static> {
            JsonRef::Text(Bytes::from_static(b"{\"fast_period\": 10}"))
        }
    }

    #[tokio::test]
    async fn objects_are_json_text_where_the_schema_says_so() {
        let plain = Schema::new(Q, EmptyMutation, EmptySubscription);
        let text = Schema::build(Q, EmptyMutation, EmptySubscription).data(JsonText).finish();
        let config = |r: async_graphql::Response| match r.data {
            Value::Object(mut o) => o.shift_remove("config").expect("config"),
            other => panic!("{other:?}"),
        };
        assert_eq!(config(plain.execute("{ config }").await), to_graphql(&serde_json::json!({ "fast_period": 10 })));
        assert_eq!(
            config(text.execute("{ config }").await),
            Value::Binary(Bytes::from_static(b"{\"fast_period\":10}"))
        );
    }
}
