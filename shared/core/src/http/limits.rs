//! Request bodies are held to the limits the OpenAPI document states for them: every string
//! field's `maxLength`, every list's `maxItems`, every map's `maxProperties`. The limits are
//! written once, as `#[schema(...)]` attributes on the request types; this walk enforces
//! exactly what the document promises, so the two cannot drift apart.

use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// Nested schemas deeper than this are not walked (the request types are a few levels
/// deep; the bound only guards against a reference cycle).
const MAX_DEPTH: usize = 16;

/// The first limit `value` breaks, phrased for the client: the field and the limit.
pub fn check(value: &Value, schema: &RefOr<Schema>, doc: &OpenApi) -> Result<(), String> {
    Walk { doc }.check(value, schema, "", 0)
}

struct Walk<'a> {
    doc: &'a OpenApi,
}

impl<'a> Walk<'a> {
    fn resolve(&self, schema: &'a RefOr<Schema>) -> Option<&'a Schema> {
        match schema {
            RefOr::T(s) => Some(s),
            RefOr::Ref(r) => {
                let name = r.ref_location.rsplit('/').next()?;
                let found = self.doc.components.as_ref()?.schemas.get(name)?;
                match found {
                    RefOr::T(s) => Some(s),
                    RefOr::Ref(_) => None,
                }
            }
        }
    }

    fn check(
        &self,
        value: &Value,
        schema: &'a RefOr<Schema>,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let Some(schema) = self.resolve(schema) else {
            return Ok(());
        };
        match schema {
            Schema::Object(o) => {
                match value {
                    Value::String(s) => {
                        if let Some(max) = o.max_length
                            && s.chars().count() > max
                        {
                            return Err(format!(
                                "invalid {}: use at most {max} characters",
                                shown(at)
                            ));
                        }
                    }
                    Value::Object(map) => {
                        if let Some(max) = o.max_properties
                            && map.len() > max
                        {
                            return Err(format!(
                                "invalid {}: use at most {max} entries",
                                shown(at)
                            ));
                        }
                        let key_max = o.property_names.as_ref().and_then(|p| match &**p {
                            Schema::Object(k) => k.max_length,
                            _ => None,
                        });
                        for (key, item) in map {
                            let inner = join(at, &field_name(key));
                            if let Some(field) = o.properties.get(key) {
                                self.check(item, field, &inner, depth + 1)?;
                            } else if let Some(extra) = &o.additional_properties {
                                if let Some(max) = key_max
                                    && key.chars().count() > max
                                {
                                    return Err(format!(
                                        "invalid {}: use keys of at most {max} characters",
                                        shown(at)
                                    ));
                                }
                                if let AdditionalProperties::RefOr(extra) = &**extra {
                                    self.check(item, extra, &inner, depth + 1)?;
                                }
                            }
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            Schema::Array(a) => {
                let Value::Array(items) = value else {
                    return Ok(());
                };
                if let Some(max) = a.max_items
                    && items.len() > max
                {
                    return Err(format!("invalid {}: use at most {max} items", shown(at)));
                }
                if let ArrayItems::RefOrSchema(item_schema) = &a.items {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{at}[{i}]"), depth + 1)?;
                    }
                }
                Ok(())
            }
            Schema::AllOf(all) => all
                .items
                .iter()
                .try_for_each(|s| self.check(value, s, at, depth + 1)),
            Schema::OneOf(one) => self.any(value, &one.items, at, depth),
            Schema::AnyOf(any) => self.any(value, &any.items, at, depth),
            _ => Ok(()),
        }
    }

    /// A value of a union passes when a variant it could be read as holds it.
    fn any(
        &self,
        value: &Value,
        variants: &'a [RefOr<Schema>],
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        let mut first_error = None;
        for variant in variants {
            let Some(resolved) = self.resolve(variant) else {
                continue;
            };
            if !fits(resolved, value) {
                continue;
            }
            match self.check(value, variant, at, depth + 1) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether `value` could be read as `schema` at all: its JSON type, and for an object with
/// fixed properties, no key it does not know.
fn fits(schema: &Schema, value: &Value) -> bool {
    match schema {
        Schema::Object(o) => {
            let type_fits = match &o.schema_type {
                SchemaType::AnyValue => true,
                SchemaType::Type(t) => type_of_fits(t, value),
                SchemaType::Array(ts) => ts.iter().any(|t| type_of_fits(t, value)),
            };
            let keys_fit = match value {
                Value::Object(map) if o.additional_properties.is_none() => {
                    map.keys().all(|k| o.properties.contains_key(k))
                }
                _ => true,
            };
            type_fits && keys_fit
        }
        Schema::Array(_) => value.is_array(),
        _ => true,
    }
}

fn type_of_fits(t: &Type, value: &Value) -> bool {
    matches!(
        (t, value),
        (Type::Object, Value::Object(_))
            | (Type::String, Value::String(_))
            | (Type::Integer | Type::Number, Value::Number(_))
            | (Type::Boolean, Value::Bool(_))
            | (Type::Array, Value::Array(_))
            | (Type::Null, Value::Null)
    )
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn shown(at: &str) -> &str {
    if at.is_empty() { "body" } else { at }
}

/// A key of the client's, as it appears in a message: short and escaped.
fn field_name(key: &str) -> String {
    crate::domain::echo::sanitize(key, 64)
}
