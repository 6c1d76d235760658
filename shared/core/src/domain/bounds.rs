//! The bounds of free-form strings a client sends: query parameters, and the schemas of
//! lists and maps of strings in request bodies (`http::limits` enforces what a schema
//! states). No client string reaches a key, a log line or a stored record unbounded.

use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};

/// The longest `cursor` a list accepts. Cursors Trove hands out are far shorter; a longer
/// one could only smuggle an oversized key into the query.
pub const MAX_CURSOR_CHARS: usize = 2048;
/// The longest free-form query filter (a name prefix, an action, a principal id, a time).
pub const MAX_FILTER_CHARS: usize = 256;

fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
    max: usize,
) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(v) if v.chars().count() > max => Err(serde::de::Error::custom(format!(
            "{field} is longer than {max} characters"
        ))),
        other => Ok(other),
    }
}

/// `#[serde(default, deserialize_with = "…")]` for an optional `cursor` query parameter.
pub fn cursor_param<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bounded(d, "cursor", MAX_CURSOR_CHARS)
}

/// `#[serde(default, deserialize_with = "…")]` for an optional free-form query filter.
pub fn filter_param<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bounded(d, "a query parameter", MAX_FILTER_CHARS)
}

/// A string of at most `max_chars` characters matching `pattern` (the length stated apart,
/// so a reader need not work it out of the pattern).
pub struct Shaped<'a> {
    pub max_chars: usize,
    pub pattern: &'a str,
}

impl Shaped<'_> {
    fn schema(&self) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(self.max_chars))
            .pattern(Some(self.pattern))
    }
}

/// The schema of a list of at most `max_items` strings of the given shape.
pub fn pattern_list(max_items: usize, item: Shaped<'_>) -> Array {
    ArrayBuilder::new()
        .items(item.schema())
        .max_items(Some(max_items))
        .build()
}

/// The schema of a list of at most `max_items` strings of at most `max_chars` each.
pub fn string_list(max_items: usize, max_chars: usize) -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(max_chars)),
        )
        .max_items(Some(max_items))
        .build()
}

/// The schema of a map of at most `max_entries` entries, keys and values matching their
/// patterns.
pub fn pattern_map(max_entries: usize, key: Shaped<'_>, value: Shaped<'_>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(key.schema()))
        .additional_properties(Some(value.schema()))
        .max_properties(Some(max_entries))
        .build()
}

/// The schema of a map of at most `max_entries` entries: keys of 1 to `max_chars`
/// characters, values of at most `max_chars`.
pub fn string_map(max_entries: usize, max_chars: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(max_chars)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(max_chars)),
        ))
        .max_properties(Some(max_entries))
        .build()
}
