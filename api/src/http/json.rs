//! An executed request's response as JSON text, as async-graphql's `Serialize` writes it
//! (`data`, then `extensions` and `errors` when there are any), but for binary values: the
//! schema of HTTP requests produces them only for JSON text already written
//! (`graphql::scalars::JsonRef`, a run's config), which goes into the body as it is.

use async_graphql::{Response, Value};

/// `response`'s body.
pub fn response(response: &Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"data\":");
    value(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

fn value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => serde_json::to_writer(&mut *out, n)?,
        Value::String(s) => serde_json::to_writer(&mut *out, s.as_str())?,
        Value::Enum(name) => serde_json::to_writer(&mut *out, name.as_str())?,
        Value::Binary(text) => out.extend_from_slice(text),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, name.as_str())?;
                out.push(b':');
                self::value(out, field)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::{Name, ServerError};

    use super::*;

    #[test]
    fn responses_are_written_as_async_graphql_writes_them() {
        let data = async_graphql::to_value(serde_json::json!({
            "runs": [{ "id": "a\"b", "n": 1, "x": 2.5, "big": 18446744073709551615u64, "ok": true, "none": null }],
            "empty": {}, "list": [], "text": "ünïcode \u{1} \\"
        }))
        .expect("a value");
        let mut with_errors = Response::new(data.clone());
        with_errors.errors.push(ServerError::new("bad", None));
        with_errors.extensions.insert("cost".into(), Value::Number(3.into()));
        for r in [Response::new(data), with_errors, Response::new(Value::Null)] {
            assert_eq!(response(&r).expect("json"), serde_json::to_vec(&r).expect("json"));
        }
    }

    #[test]
    fn binary_values_are_json_text_written_as_it_is() {
        let config = serde_json::json!({ "fast_period": 10, "risk": { "stop": 0.02 } });
        let data = Value::Object(
            [(Name::new("config"), Value::Binary(serde_json::to_vec(&config).expect("json").into()))]
                .into_iter()
                .collect(),
        );
        let body: serde_json::Value =
            serde_json::from_slice(&response(&Response::new(data)).expect("json")).expect("parses");
        assert_eq!(body, serde_json::json!({ "data": { "config": config } }));
    }
}
