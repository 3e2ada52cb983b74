//! Objects written straight into the response's JSON text.
//!
//! async-graphql resolves an object field by field: a boxed future and a context per
//! field, each value built into its value tree (an `Arc<str>` name and a SipHash map entry
//! per field), the tree serialized by `http::json` and then dropped. On a page of 20 runs
//! with metrics that was over half of the server's instructions (callgrind), for values
//! that are already in hand. An object that implements [`Direct`] instead writes the JSON
//! text of its selection itself, in one buffer, and returns it as a `Value::Binary`, which
//! `http::json` copies into the body as it is.
//!
//! It does so only where nothing is lost, and otherwise answers "no" and is resolved by
//! async-graphql as before:
//! - only for HTTP requests whose document merges no object-valued field: async-graphql
//!   merges two selections of one response key (`node { id } node { status }`) by merging
//!   the objects they resolved to, which it cannot do with text. The pipeline marks such
//!   requests with [`DirectObjects`] (the check is made once per cached document);
//! - only when every selected field's value is in hand: a field that needs the database
//!   (a run's `originalRun`, metrics not read with the run) or carries a directive makes
//!   the whole object fall back;
//! - fields are collected as the GraphQL spec's CollectFields does and async-graphql's
//!   `Fields::add_set` does (fragments whose type condition is the object's type or an
//!   interface it implements; the first occurrence of a repeated key), and every value is
//!   written as `http::json` writes the value async-graphql would have produced (a unit
//!   test compares the bytes of both paths for every field).

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Deref;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use axum::body::Bytes;
use chrono::{DateTime, Datelike as _, Timelike as _, Utc};

/// `T`, written as JSON text where it can be ([`resolve`]), else resolved by async-graphql
/// as `T` (whose fields and type information it shows).
#[derive(Clone)]
pub struct Written<T>(pub T);

impl<T> Deref for Written<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: OutputType + Direct> OutputType for Written<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match resolve(ctx, &self.0) {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// Request data: this HTTP request's response is written by `http::json` and its
/// document never selects one object-valued response key twice in a selection set.
#[derive(Clone, Copy, Debug)]
pub struct DirectObjects;

/// An object whose fields can be written as JSON text.
pub trait Direct {
    /// Its GraphQL type name (`__typename`, fragment type conditions).
    const TYPE_NAME: &'static str;

    /// Writes the value of `field` (never `__typename`), whose own selection is `ctx`'s;
    /// false when that value cannot be written here (the object is then resolved by
    /// async-graphql).
    fn write_field(&self, ctx: &ContextSelectionSet<'_>, field: &Field, out: &mut Vec<u8>) -> bool;
}

/// `object` as the JSON text of `ctx`'s selection, when the request allows it (see the
/// module's notes) and every selected value is in hand.
pub fn resolve<T: Direct>(ctx: &ContextSelectionSet<'_>, object: &T) -> Option<Value> {
    ctx.data_opt::<DirectObjects>()?;
    let mut out = Vec::with_capacity(512);
    write_object(ctx, object, &mut out).then(|| Value::Binary(Bytes::from(out)))
}

/// Appends `object`'s JSON object for `ctx`'s selection to `out`; false (with `out` left
/// part-written) when some field cannot be written.
pub fn write_object<T: Direct>(ctx: &ContextSelectionSet<'_>, object: &T, out: &mut Vec<u8>) -> bool {
    let mut keys: Vec<&str> = Vec::with_capacity(16);
    out.push(b'{');
    if !collect(ctx, ctx.item, object, out, &mut keys, 0) {
        return false;
    }
    out.push(b'}');
    true
}

/// Fragments nest at most this deep here (validation refuses cycles; a deeper nesting is
/// left to async-graphql).
const MAX_FRAGMENT_DEPTH: usize = 8;

fn collect<'a, T: Direct>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a Positioned<SelectionSet>,
    object: &T,
    out: &mut Vec<u8>,
    keys: &mut Vec<&'a str>,
    depth: usize,
) -> bool {
    for selection in &set.node.items {
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.directives.is_empty() {
                    return false;
                }
                let key = field.response_key().node.as_str();
                if keys.contains(&key) {
                    // A repeated leaf has one value (validation made both selections
                    // the same field); a repeated object would need its parts merged.
                    if field.selection_set.node.items.is_empty() {
                        continue;
                    }
                    return false;
                }
                write_key(out, key, keys.is_empty());
                keys.push(key);
                if field.name.node == "__typename" {
                    string(out, T::TYPE_NAME);
                } else if !object.write_field(&ctx.with_selection_set(&field.selection_set), field, out) {
                    return false;
                }
                continue;
            }
            Selection::FragmentSpread(spread) => {
                if !spread.node.directives.is_empty() {
                    return false;
                }
                let Some(fragment) = ctx.query_env.fragments.get(&spread.node.fragment_name.node) else {
                    return false;
                };
                (Some(fragment.node.type_condition.node.on.node.as_str()), &fragment.node.selection_set)
            }
            Selection::InlineFragment(fragment) => {
                if !fragment.node.directives.is_empty() {
                    return false;
                }
                (fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()), &fragment.node.selection_set)
            }
        };
        if depth >= MAX_FRAGMENT_DEPTH {
            return false;
        }
        if applies::<T>(ctx, condition) && !collect(ctx, inner, object, out, keys, depth + 1) {
            return false;
        }
    }
    true
}

/// Whether a fragment with this type condition applies to `T`, as async-graphql decides.
fn applies<T: Direct>(ctx: &ContextSelectionSet<'_>, condition: Option<&str>) -> bool {
    let Some(condition) = condition else { return true };
    condition == T::TYPE_NAME
        || ctx.schema_env.registry.implements.get(T::TYPE_NAME).is_some_and(|interfaces| interfaces.contains(condition))
}

/// `,"key":` (no comma before the first): a response key is a GraphQL name
/// (`[_A-Za-z][_0-9A-Za-z]*`, the parser's), which JSON never escapes.
fn write_key(out: &mut Vec<u8>, key: &str, first: bool) {
    out.reserve(key.len() + 4);
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Whether JSON escapes any of these bytes (a control character, a quote, a backslash).
/// Every byte is looked at, without an early exit, so that the loop is vectorized: the
/// strings written here are short and almost never need escaping (a page of 20 runs
/// writes ~100 of them; the early-exit `all` was ~10% of its instructions).
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |escape, &b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// `text` as a JSON string, escaped as `http::json` escapes strings.
pub fn string(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// A time as a JSON string, as async-graphql's `DateTime<Utc>` scalar writes it (chrono's
/// `to_rfc3339`: seconds, then a fraction of 3, 6 or 9 digits when there is one, then
/// `+00:00`), without the `String` that makes (two per run on a page).
pub fn utc_time(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    let naive = time.naive_utc();
    let year = naive.year();
    if !(0..=9999).contains(&year) {
        // Signed years: chrono's own writing.
        return string(out, &time.to_rfc3339());
    }
    let (hour, minute, mut second) = (naive.hour(), naive.minute(), naive.second());
    let mut nano = naive.nanosecond();
    if nano >= 1_000_000_000 {
        // A leap second, which chrono writes as second 60.
        second += 1;
        nano -= 1_000_000_000;
    }
    out.reserve(40);
    out.push(b'"');
    for (value, digits, after) in
        [(year as u32, 4, b'-'), (naive.month(), 2, b'-'), (naive.day(), 2, b'T'), (hour, 2, b':'), (minute, 2, b':')]
    {
        push_digits(out, value, digits);
        out.push(after);
    }
    push_digits(out, second, 2);
    if nano != 0 {
        out.push(b'.');
        if nano.is_multiple_of(1_000_000) {
            push_digits(out, nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            push_digits(out, nano / 1_000, 6);
        } else {
            push_digits(out, nano, 9);
        }
    }
    out.extend_from_slice(b"+00:00\"");
}

/// `value` in decimal, zero-padded to `digits` digits (it has no more).
fn push_digits(out: &mut Vec<u8>, value: u32, digits: u32) {
    for place in (0..digits).rev() {
        out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
    }
}

/// `text` as a JSON string, or null.
pub fn optional_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// `items` as a JSON array, each written by `write`.
pub fn list<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// A number as `http::json` writes async-graphql's `Value::Number` of it (a float that is
/// not finite, which async-graphql turns into null, as null).
pub fn number<N: serde::Serialize>(out: &mut Vec<u8>, n: Option<N>) {
    match n {
        // Writing into a Vec cannot fail; serde_json writes non-finite floats as null.
        Some(n) => {
            let _ = serde_json::to_writer(&mut *out, &n);
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// Whether a response of `document` can hold objects written as text: no selection set
/// (with the fragments it spreads, flattened) selects an object-valued response key twice,
/// which async-graphql would answer by merging the two objects.
pub fn merges_no_objects(document: &ExecutableDocument) -> bool {
    let sets = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set)
        .chain(document.fragments.values().map(|f| &f.node.selection_set));
    for set in sets {
        if !set_merges_no_objects(document, set) {
            return false;
        }
    }
    true
}

/// This set's own keys (flattened), then every field's sub-selection, recursively.
fn set_merges_no_objects(document: &ExecutableDocument, set: &Positioned<SelectionSet>) -> bool {
    let mut keys = HashSet::new();
    if !distinct_object_keys(document, set, &mut keys, 0) {
        return false;
    }
    set.node.items.iter().all(|s| match &s.node {
        Selection::Field(field) => set_merges_no_objects(document, &field.node.selection_set),
        Selection::InlineFragment(fragment) => set_merges_no_objects(document, &fragment.node.selection_set),
        // Fragments are checked on their own (`merges_no_objects`).
        Selection::FragmentSpread(_) => true,
    })
}

fn distinct_object_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    keys: &mut HashSet<&'a str>,
    depth: usize,
) -> bool {
    if depth > MAX_FRAGMENT_DEPTH {
        return false;
    }
    for selection in &set.node.items {
        let inner = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.selection_set.node.items.is_empty() && !keys.insert(field.response_key().node.as_str()) {
                    return false;
                }
                continue;
            }
            Selection::InlineFragment(fragment) => &fragment.node.selection_set,
            Selection::FragmentSpread(spread) => match document.fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) => &fragment.node.selection_set,
                None => return false,
            },
        };
        if !distinct_object_keys(document, inner, keys, depth + 1) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn documents_that_merge_objects_are_told_apart() {
        let merging = [
            "{ a { b } a { c } }",
            "{ x { edges { node { id } } edges { cursor node { id } } } }",
            "{ x { ...F ...G } } fragment F on T { m { a } } fragment G on T { m { b } }",
            "{ x { ... on T { m { a } } m { b } } }",
            "{ x { ...F } } fragment F on T { ...F }",
        ];
        for query in merging {
            assert!(!merges_no_objects(&parse(query)), "{query}");
        }
        let distinct = [
            "{ a { b b c } d: a { c } }",
            "{ x { id ...F } } fragment F on T { id m { a } }",
            "{ x { edges { node { id id status } } pageInfo { hasNextPage } } }",
            "query A { a { b } } query B { a { c } }",
        ];
        for query in distinct {
            assert!(merges_no_objects(&parse(query)), "{query}");
        }
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        use chrono::TimeZone as _;
        let day = Utc.with_ymd_and_hms(2024, 3, 9, 7, 5, 3).single().expect("a time");
        let mut times = vec![day, Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().expect("year 0")];
        times.push(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().expect("year 9999"));
        times.push(Utc.with_ymd_and_hms(-1, 6, 1, 0, 0, 0).single().expect("a year before 0"));
        times.push(Utc.with_ymd_and_hms(10000, 6, 1, 0, 0, 0).single().expect("a year after 9999"));
        for nanos in [1, 1_000, 120_000, 999_999_999, 5_000_000, 123_456_789, 1_500_000_000] {
            // The last one is a leap second.
            let naive = day.naive_utc().date().and_hms_nano_opt(23, 59, 59, nanos).expect("a time of day");
            times.push(Utc.from_utc_datetime(&naive));
        }
        for time in times {
            let mut out = Vec::new();
            utc_time(&mut out, &time);
            assert_eq!(String::from_utf8(out).expect("utf-8"), format!("\"{}\"", time.to_rfc3339()));
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let long = "a".repeat(100);
        let mut texts = vec!["plain".to_owned(), String::new(), "quote \" back \\ slash".to_owned()];
        texts.push("tab\tnew\nline \u{1} \u{7f} ünï 😀".to_owned());
        // One byte to escape anywhere in a long string (the check looks at every byte).
        for special in ["\u{1f}", "\"", "\\", "\u{0}"] {
            texts.push(format!("{special}{long}"));
            texts.push(format!("{long}{special}"));
            texts.push(format!("{long}{special}{long}"));
        }
        for text in &texts {
            let mut out = Vec::new();
            string(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).expect("json"), "{text}");
        }
    }
}
