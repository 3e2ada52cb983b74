//! `config_hash` and `config_hash_except_seed`, computed by the server for the runs it
//! records, bit for bit as PostgreSQL's `tearsheet_config_hash` (m0008) and
//! `tearsheet_config_text_hash` (m0009) compute them.
//!
//! Why here: the triggers that compute them in PostgreSQL cost ~100 µs a run (jsonb to
//! text twice, a regex, md5 twice), which was most of a batch's time in PostgreSQL (20,000
//! runs: 3.3 s with the triggers computing, 1.3 s without). Since m0010 the triggers keep
//! a hash an INSERT supplies and compute the missing ones, so every other writer (COPY,
//! `tearsheet seed`, hand-written SQL) still gets them. The price is trust: a writer that
//! supplies a hash is believed, so this module must agree with the SQL, which the end-to-end
//! test `server_computed_hashes_equal_postgresql_s` checks over a corpus of awkward
//! configs.
//!
//! The canonical text is jsonb's text output (`config::text`) with trailing zeros after a
//! decimal point removed:
//! - objects `{"k": v, "k2": v}` with keys sorted shortest first, then bytewise (jsonb's
//!   own order), arrays `[a, b]`;
//! - strings escaped as PostgreSQL's `escape_json` does: `\"`, `\\`, `\b`, `\f`, `\n`,
//!   `\r`, `\t`, other characters below U+0020 as `\u00xx`, everything else as is;
//! - numbers as the exact decimal value of the text the server sends (PostgreSQL parses
//!   that text into `numeric`, which prints without exponent), without trailing zeros.

use md5::{Digest as _, Md5};
use serde_json::{Number, Value as Json};
use uuid::Uuid;

use super::record::NewRun;

/// The `config_hash` of a run: its canonical config, then its other inputs, each after a
/// `\x1f` separator (dates as days since 2000-01-01, as the SQL writes them).
pub fn config_hash(run: &NewRun) -> Uuid {
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    let mut md5 = run.config.canonical_md5();
    for part in [
        run.strategy_name.as_str(),
        &run.strategy_type,
        &run.instrument_symbol,
        &(run.date_range_start - epoch).num_days().to_string(),
        &(run.date_range_end - epoch).num_days().to_string(),
        &run.data_source,
    ] {
        md5.update([0x1f]);
        md5.update(part);
    }
    Uuid::from_bytes(md5.finalize().into())
}

/// The `config_hash_except_seed` of a config: `tearsheet_config_text_hash(config - 'seed')`.
pub fn config_hash_except_seed(config: &Json) -> Uuid {
    Uuid::from_bytes(Md5::digest(canonical(config, Some("seed"))).into())
}

/// The canonical text of `value`, leaving out the top-level key `skip` of an object (what
/// jsonb's `config - 'seed'` removes; recorded configs are always objects).
pub(super) fn canonical(value: &Json, skip: Option<&str>) -> String {
    let mut out = String::with_capacity(256);
    match (value, skip) {
        (Json::Object(map), Some(skip)) => write_object(&mut out, map.iter().filter(|(k, _)| k.as_str() != skip)),
        _ => write(&mut out, value),
    }
    out
}

fn write(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(out, n),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, item);
            }
            out.push(']');
        }
        Json::Object(map) => write_object(out, map.iter()),
    }
}

fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a String, &'a Json)>) {
    let mut entries: Vec<_> = entries.collect();
    // jsonb's key order: shorter keys first, then bytewise.
    entries.sort_unstable_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(out, key);
        out.push_str(": ");
        write(out, value);
    }
    out.push('}');
}

/// As PostgreSQL's `escape_json`.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The number as `numeric` prints the text serde_json sends for it, trailing zeros after
/// the point removed: `1.0` → `1`, `1e21` → `1000000000000000000000`, `1.5e-7` →
/// `0.00000015`, `-0.0` → `0`.
fn write_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
    } else {
        out.push_str(&plain_decimal(&n.to_string()));
    }
}

/// `text` (`-?digits(.digits)?(e[+-]?digits)?`, as serde_json writes a float) as a plain
/// decimal without exponent, leading zeros or trailing zeros after the point.
fn plain_decimal(text: &str) -> String {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    // The decimal point sits after `point` digits of `digits` (may be outside them).
    let point = int.len() as i64 + exponent;
    let (int_part, frac_part) = if point <= 0 {
        (String::new(), "0".repeat((-point) as usize) + &digits)
    } else if point as usize >= digits.len() {
        (digits.clone() + &"0".repeat(point as usize - digits.len()), String::new())
    } else {
        (digits[..point as usize].to_owned(), digits[point as usize..].to_owned())
    };
    let int_part = int_part.trim_start_matches('0');
    let frac_part = frac_part.trim_end_matches('0');
    if int_part.is_empty() && frac_part.is_empty() {
        return "0".to_owned();
    }
    let mut out = String::with_capacity(int_part.len() + frac_part.len() + 3);
    if negative {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_print_as_numeric_does_without_trailing_zeros() {
        for (text, plain) in [
            ("1.0", "1"),
            ("1.50", "1.5"),
            ("100.0", "100"),
            ("1e21", "1000000000000000000000"),
            ("1.5e-7", "0.00000015"),
            ("-2.5e3", "-2500"),
            ("-0.0", "0"),
            ("0.001", "0.001"),
            ("123.456e1", "1234.56"),
            ("5e-324", &format!("0.{}5", "0".repeat(323))),
        ] {
            assert_eq!(plain_decimal(text), plain, "{text}");
        }
    }

    #[test]
    fn canonical_text_sorts_keys_as_jsonb_and_escapes_as_postgresql() {
        let config = json!({ "bb": [1, 2.50, "x\u{1}\n\"é"], "a": { "c": null, "ab": true }, "seed": 7 });
        assert_eq!(
            canonical(&config, None),
            r#"{"a": {"c": null, "ab": true}, "bb": [1, 2.5, "x\u0001\n\"é"], "seed": 7}"#
        );
        assert_eq!(
            canonical(&config, Some("seed")),
            r#"{"a": {"c": null, "ab": true}, "bb": [1, 2.5, "x\u0001\n\"é"]}"#
        );
    }
}
