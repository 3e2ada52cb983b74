//! A recorded run's config as the store holds it until the INSERT: its JSON text and its
//! canonical hashes, computed once from the parsed value, which is not kept.
//!
//! Why not the `serde_json::Value`: a value tree takes about seven times its JSON text
//! (a `BTreeMap` node of eleven slots for every object, however small), and a batch of
//! 1,000 runs held all its configs as trees at once, from the parsing of the request's
//! arguments to the INSERT: 33 MB of a 4.6 MB request, a third of a recording's peak heap
//! (valgrind massif on the release server). Built while the arguments are parsed
//! (`graphql::record::ConfigInput`), a config exists as a tree only for the moment it is
//! checked and hashed.

use std::fmt;

use md5::{Digest as _, Md5};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::config_hash;

#[derive(Clone)]
pub struct RunConfig {
    /// Compact JSON, as serde_json writes the value.
    text: Box<RawValue>,
    /// md5 over the canonical text, not finalized: `config_hash` goes on with the run's
    /// other inputs.
    canonical: Md5,
    except_seed: Uuid,
}

impl RunConfig {
    pub fn new(value: &Value) -> RunConfig {
        let text = serde_json::value::to_raw_value(value).expect("a JSON value always serializes");
        let mut canonical = Md5::new();
        canonical.update(config_hash::canonical(value, None));
        RunConfig { text, canonical, except_seed: config_hash::config_hash_except_seed(value) }
    }

    /// The JSON text (its length is the config's size as JSON).
    pub fn text(&self) -> &str {
        self.text.get()
    }

    /// The value, parsed again from the text (for the rare comparisons with a stored run).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.text.get()).expect("the text was written from a value")
    }

    /// The md5 state after the canonical config (see `config_hash::config_hash`).
    pub(super) fn canonical_md5(&self) -> Md5 {
        self.canonical.clone()
    }

    pub fn hash_except_seed(&self) -> Uuid {
        self.except_seed
    }
}

impl From<Value> for RunConfig {
    fn from(value: Value) -> RunConfig {
        RunConfig::new(&value)
    }
}

/// As JSON values: key order and spacing do not matter (the text is compact and its keys
/// sorted, but numbers may be written differently by different sources).
impl PartialEq for RunConfig {
    fn eq(&self, other: &RunConfig) -> bool {
        self.text.get() == other.text.get() || self.value() == other.value()
    }
}

impl fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.get())
    }
}

impl fmt::Display for RunConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.get())
    }
}

/// The JSON itself, not a string of it.
impl Serialize for RunConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_config_keeps_its_value_and_hashes_without_the_tree() {
        let value = json!({ "fast_period": 10, "risk": { "stop": 0.02 }, "seed": 3, "tags": ["a", "b"] });
        let config = RunConfig::new(&value);
        assert_eq!(config.value(), value);
        assert_eq!(config.text(), serde_json::to_string(&value).expect("json"));
        assert_eq!(config.hash_except_seed(), config_hash::config_hash_except_seed(&value));
        assert_eq!(serde_json::to_value(&config).expect("serializes"), value, "serialized as JSON, not a string");
        let other_seed =
            RunConfig::new(&json!({ "fast_period": 10, "risk": { "stop": 0.02 }, "seed": 4, "tags": ["a", "b"] }));
        assert_eq!(config.hash_except_seed(), other_seed.hash_except_seed());
        assert_ne!(config, other_seed);
        assert_eq!(RunConfig::new(&json!({ "b": 1, "a": 2 })), RunConfig::new(&json!({ "a": 2, "b": 1 })));
    }
}
