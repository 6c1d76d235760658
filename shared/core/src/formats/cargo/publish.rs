//! The body `cargo publish` sends (`PUT /api/v1/crates/new`): the length of the JSON
//! metadata (u32, little-endian), the metadata, the length of the `.crate`, the `.crate`.

use serde_json::Value;

use crate::domain::echo::sanitize;
use crate::formats::semver_order;

use super::names::check_crate_name;

/// One crate version being published, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub name: String,
    pub vers: String,
    pub crate_bytes: Vec<u8>,
    /// The whole metadata object as sent; the index is built from the `.crate`'s own
    /// Cargo.toml, not from this.
    pub metadata: Value,
}

/// Reads and checks a publish body. Each refusal says what is wrong: cargo prints it.
pub fn parse_publish(body: &[u8]) -> Result<Publish, String> {
    let mut rest = body;
    let json = take_part(&mut rest, "metadata")?;
    let crate_file = take_part(&mut rest, ".crate file")?;
    if !rest.is_empty() {
        return Err(format!(
            "invalid publish body: {} bytes follow the .crate file",
            rest.len()
        ));
    }
    if crate_file.is_empty() {
        return Err("invalid publish body: the .crate file is empty".into());
    }
    let metadata: Value = serde_json::from_slice(json).map_err(|e| {
        format!(
            "invalid publish body: the metadata is not JSON ({})",
            sanitize(&e.to_string(), 120)
        )
    })?;
    let fields = metadata
        .as_object()
        .ok_or("invalid publish body: the metadata is not a JSON object")?;
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .ok_or("invalid publish body: the metadata has no name")?;
    check_crate_name(name)?;
    let vers = fields
        .get("vers")
        .and_then(Value::as_str)
        .ok_or("invalid publish body: the metadata has no vers")?;
    semver_order::parse(vers, "Cargo")?;
    Ok(Publish {
        name: name.to_owned(),
        vers: vers.to_owned(),
        crate_bytes: crate_file.to_vec(),
        metadata,
    })
}

/// The next length-prefixed part of the body, borrowed from it.
fn take_part<'b>(rest: &mut &'b [u8], what: &str) -> Result<&'b [u8], String> {
    let (len, after) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("invalid publish body: it ends before the length of the {what}"))?;
    let len = u32::from_le_bytes(*len);
    let (part, tail) = usize::try_from(len)
        .ok()
        .and_then(|len| after.split_at_checked(len))
        .ok_or_else(|| {
            format!(
                "invalid publish body: the {what} is said to be {len} bytes, {} remain",
                after.len()
            )
        })?;
    *rest = tail;
    Ok(part)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(metadata: &[u8], crate_file: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for part in [metadata, crate_file] {
            let len = u32::try_from(part.len()).expect("small part");
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(part);
        }
        body
    }

    fn metadata(value: &Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn reads_the_metadata_and_the_crate() {
        let meta = json!({"name": "Foo-Bar", "vers": "1.0.0-rc.1", "deps": [], "features": {}});
        let parsed = parse_publish(&body(&metadata(&meta), b"\x1f\x8bcrate")).expect("valid");
        assert_eq!(parsed.name, "Foo-Bar");
        assert_eq!(parsed.vers, "1.0.0-rc.1");
        assert_eq!(parsed.crate_bytes, b"\x1f\x8bcrate");
        assert_eq!(parsed.metadata, meta);
    }

    #[test]
    fn refuses_a_body_whose_lengths_do_not_add_up() {
        let good = body(
            &metadata(&json!({"name": "foo", "vers": "1.0.0"})),
            b"crate",
        );
        for (bad, why) in [
            (Vec::new(), "ends before the length of the metadata"),
            (vec![1, 0], "ends before the length of the metadata"),
            (
                good[..good.len() - 9].to_vec(),
                "ends before the length of the .crate file",
            ),
            (
                good[..good.len() - 1].to_vec(),
                "the .crate file is said to be 5 bytes, 4 remain",
            ),
            (
                [&u32::MAX.to_le_bytes()[..], b"{}"].concat(),
                "the metadata is said to be 4294967295 bytes, 2 remain",
            ),
            ([&good[..], b"x"].concat(), "1 bytes follow the .crate file"),
            (body(b"{}", b""), "the .crate file is empty"),
        ] {
            let err = parse_publish(&bad).expect_err(why);
            assert!(err.starts_with("invalid publish body: "), "{err}");
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn refuses_metadata_that_does_not_name_a_crate_version() {
        for (meta, why) in [
            (b"{\"name\": ".to_vec(), "the metadata is not JSON"),
            (metadata(&json!(["foo", "1.0.0"])), "not a JSON object"),
            (
                metadata(&json!({"vers": "1.0.0"})),
                "the metadata has no name",
            ),
            (
                metadata(&json!({"name": 7, "vers": "1.0.0"})),
                "the metadata has no name",
            ),
            (
                metadata(&json!({"name": "foo"})),
                "the metadata has no vers",
            ),
            (
                metadata(&json!({"name": "foo", "vers": 1})),
                "the metadata has no vers",
            ),
            (
                metadata(&json!({"name": "foo.bar", "vers": "1.0.0"})),
                "invalid crate name",
            ),
            (
                metadata(&json!({"name": "std", "vers": "1.0.0"})),
                "reserved name",
            ),
            (
                metadata(&json!({"name": "foo", "vers": "1.0"})),
                "invalid version \"1.0\"",
            ),
            (
                metadata(&json!({"name": "foo", "vers": "v1.0.0"})),
                "leading 'v'",
            ),
        ] {
            let err = parse_publish(&body(&meta, b"crate")).expect_err(why);
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
