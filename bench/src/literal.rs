//! The server's SQL with its parameters written in as typed literals, for pgbench scripts
//! (pgbench binds only numbers it generates itself). Each literal carries a cast, so it
//! means to PostgreSQL exactly what the bound parameter meant.

use sea_orm::Value;
use tearsheet_api::store::query::Sql;

/// `sql` with `$1..$n` replaced by literals.
pub fn inline(sql: &Sql) -> String {
    let mut out = sql.text.clone();
    // Highest first, so `$1` does not eat the start of `$10`.
    for (i, value) in sql.values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), &literal(value));
    }
    out
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(value: &Value) -> String {
    match value {
        Value::Bool(Some(b)) => b.to_string(),
        Value::Int(Some(n)) => format!("{n}::int4"),
        Value::BigInt(Some(n)) => format!("{n}::int8"),
        Value::BigUnsigned(Some(n)) => format!("{n}::int8"),
        Value::String(Some(s)) => format!("{}::text", quoted(s)),
        Value::Json(Some(j)) => format!("{}::jsonb", quoted(&j.to_string())),
        Value::ChronoDateTimeUtc(Some(t)) => format!("{}::timestamptz", quoted(&t.to_rfc3339())),
        Value::Uuid(Some(u)) => format!("'{u}'::uuid"),
        Value::Decimal(Some(d)) => format!("{d}::numeric"),
        Value::Double(Some(x)) => format!("{x:?}::float8"),
        Value::Array(_, Some(items)) => {
            // Array elements in PostgreSQL's array syntax: uuids bare, texts double-quoted.
            let (elements, kind): (Vec<String>, &str) = match items.first() {
                Some(Value::String(_)) => (
                    items
                        .iter()
                        .map(|v| match v {
                            Value::String(Some(s)) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
                            other => panic!("mixed array: {other:?}"),
                        })
                        .collect(),
                    "text[]",
                ),
                _ => (
                    items
                        .iter()
                        .map(|v| match v {
                            Value::Uuid(Some(u)) => u.to_string(),
                            other => panic!("only uuid and text arrays are inlined, got {other:?}"),
                        })
                        .collect(),
                    "uuid[]",
                ),
            };
            format!("{}::{kind}", quoted(&format!("{{{}}}", elements.join(","))))
        }
        other => panic!("no literal form for {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_typed_literals() {
        let sql = Sql {
            text: "SELECT $1, $2, $10, $3".into(),
            values: vec![
                Value::from("it's".to_owned()),
                Value::from(uuid::Uuid::nil()),
                Value::from(vec![uuid::Uuid::nil()]),
                Value::from(2i64),
                Value::from(3i64),
                Value::from(4i64),
                Value::from(5i64),
                Value::from(6i64),
                Value::from(7i64),
                Value::from(10i64),
            ],
        };
        assert_eq!(
            inline(&sql),
            "SELECT 'it''s'::text, '00000000-0000-0000-0000-000000000000'::uuid, 10::int8, \
             '{00000000-0000-0000-0000-000000000000}'::uuid[]"
        );
    }
}
