//! The document `npm publish` sends (`PUT /{package}`): the package's name, one version's
//! manifest, the dist-tag to point at it, and the tarball, base64-encoded, as an attachment.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::domain::echo::{echo, sanitize};

use super::digests::{TarballDigests, integrity, sri_sha512};
use super::tags::check_dist_tag;

/// One version being published, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub name: String,
    pub version: String,
    /// The dist-tag the client asked for, `latest` when none.
    pub tag: String,
    pub tarball: Vec<u8>,
    /// The attachment's key as sent (npm: `{name}-{version}.tgz`).
    pub attachment: String,
}

/// The tag npm points at a new version unless told otherwise.
const DEFAULT_TAG: &str = "latest";

/// The parts of the document that are read. Strings are borrowed from the body where they
/// hold no escapes, above all the tarball's base64 text, which is decoded from the body.
#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "dist-tags", default)]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, VersionManifest<'a>>,
    #[serde(rename = "_attachments", borrow)]
    attachments: Option<BTreeMap<String, Attachment<'a>>>,
}

#[derive(Deserialize)]
struct VersionManifest<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    /// The rest is the version's manifest: it is read from the tarball itself.
    #[serde(borrow)]
    dist: Option<Dist<'a>>,
}

#[derive(Deserialize)]
struct Dist<'a> {
    #[serde(borrow)]
    integrity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    shasum: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    length: Option<u64>,
}

/// Reads and checks a publish document for the package named in the URL (decoded:
/// `@acme/widget`). Each refusal says what to fix: the client prints it.
pub fn parse_publish(url_package: &str, body: &[u8]) -> Result<Publish, String> {
    let document: Document<'_> = serde_json::from_slice(body).map_err(|e| {
        format!(
            "invalid publish document: expected a JSON object with name, versions and \
             _attachments ({})",
            sanitize(&e.to_string(), 120)
        )
    })?;
    let name = document
        .name
        .ok_or("invalid publish document: it has no name")?;
    if name != url_package {
        return Err(format!(
            "name mismatch: the document publishes {}, the URL names {}",
            echo(&name),
            echo(url_package)
        ));
    }
    let (version, manifest) = one_version(document.versions)?;
    check_version_manifest(&name, &version, &manifest)?;
    let tag = dist_tag(document.dist_tags, &version)?;
    let (attachment, tarball) = one_attachment(document.attachments)?;
    if let Some(dist) = &manifest.dist {
        check_digests(&version, dist, &tarball)?;
    }
    Ok(Publish {
        name: name.into_owned(),
        version,
        tag,
        tarball,
        attachment,
    })
}

fn one_version(
    versions: BTreeMap<String, VersionManifest<'_>>,
) -> Result<(String, VersionManifest<'_>), String> {
    if versions.len() > 1 {
        return Err(format!(
            "publish one version at a time: the document has {} versions",
            versions.len()
        ));
    }
    versions
        .into_iter()
        .next()
        .ok_or_else(|| "invalid publish document: it has no version to publish".into())
}

fn check_version_manifest(
    name: &str,
    version: &str,
    manifest: &VersionManifest<'_>,
) -> Result<(), String> {
    if manifest.name.as_deref() != Some(name) {
        return Err(format!(
            "name mismatch: version {} of the document is of {}, not of {}",
            echo(version),
            manifest
                .name
                .as_deref()
                .map_or("no package".into(), |n| echo(n).to_string()),
            echo(name)
        ));
    }
    if let Some(inner) = manifest.version.as_deref()
        && inner != version
    {
        return Err(format!(
            "version mismatch: the document lists version {} as {}",
            echo(version),
            echo(inner)
        ));
    }
    Ok(())
}

fn dist_tag(dist_tags: BTreeMap<String, String>, version: &str) -> Result<String, String> {
    if dist_tags.len() > 1 {
        return Err(format!(
            "set one dist-tag at a time: the document sets {}",
            dist_tags.len()
        ));
    }
    let Some((tag, target)) = dist_tags.into_iter().next() else {
        return Ok(DEFAULT_TAG.to_owned());
    };
    if target != version {
        return Err(format!(
            "dist-tag {} points at {}, not at the version published, {}",
            echo(&tag),
            echo(&target),
            echo(version)
        ));
    }
    check_dist_tag(&tag)?;
    Ok(tag)
}

fn one_attachment(
    attachments: Option<BTreeMap<String, Attachment<'_>>>,
) -> Result<(String, Vec<u8>), String> {
    let attachments = attachments.unwrap_or_default();
    if attachments.len() > 1 {
        return Err(format!(
            "publish one tarball at a time: the document has {} attachments",
            attachments.len()
        ));
    }
    let (key, attachment) = attachments.into_iter().next().ok_or(
        "invalid publish document: it has no tarball in _attachments; publish with npm publish",
    )?;
    let tarball = STANDARD.decode(attachment.data.as_bytes()).map_err(|why| {
        format!(
            "invalid attachment {}: data is not base64 ({why})",
            echo(&key)
        )
    })?;
    let length = attachment
        .length
        .ok_or_else(|| format!("invalid attachment {}: it has no length", echo(&key)))?;
    if length != tarball.len() as u64 {
        return Err(format!(
            "invalid attachment {}: length says {length} bytes, data holds {}",
            echo(&key),
            tarball.len()
        ));
    }
    Ok((key, tarball))
}

/// The tarball must be the one the client computed `dist` of: a body cut or altered on
/// the way is refused here, not served to every installer.
fn check_digests(version: &str, dist: &Dist<'_>, tarball: &[u8]) -> Result<(), String> {
    let (sha512, sha1) = TarballDigests::of(tarball).finalize();
    if let Some(claimed) = dist.integrity.as_deref().and_then(sri_sha512)
        && claimed != sha512
    {
        return Err(format!(
            "integrity mismatch: the tarball's digest is {}, versions[{}].dist.integrity says {}",
            integrity(&sha512),
            echo(version),
            echo(dist.integrity.as_deref().unwrap_or_default())
        ));
    }
    let sha1 = hex::encode(sha1);
    if let Some(shasum) = dist.shasum.as_deref()
        && !shasum.eq_ignore_ascii_case(&sha1)
    {
        return Err(format!(
            "integrity mismatch: the tarball's sha1 is {sha1}, versions[{}].dist.shasum says {}",
            echo(version),
            echo(shasum)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Any bytes do: the checks are of digests and lengths, not of the archive.
    const TARBALL: &[u8] = b"\x1f\x8b\x08\x00 a tarball's bytes";

    fn sha1_hex(bytes: &[u8]) -> String {
        hex::encode(TarballDigests::of(bytes).finalize().1)
    }

    fn sri(bytes: &[u8]) -> String {
        integrity(&TarballDigests::of(bytes).finalize().0)
    }

    /// A document shaped as npm 11 sends it.
    fn document() -> Value {
        json!({
            "_id": "@acme/widget",
            "name": "@acme/widget",
            "description": "A widget",
            "dist-tags": {"latest": "1.0.0"},
            "versions": {
                "1.0.0": {
                    "name": "@acme/widget",
                    "version": "1.0.0",
                    "description": "A widget",
                    "main": "index.js",
                    "dependencies": {"left-pad": "^1.3.0"},
                    "readme": "# Widget",
                    "_id": "@acme/widget@1.0.0",
                    "_nodeVersion": "22.11.0",
                    "_npmVersion": "11.0.0",
                    "dist": {
                        "integrity": sri(TARBALL),
                        "shasum": sha1_hex(TARBALL),
                        "tarball": "http://127.0.0.1/npm/acme/libs/@acme/widget/-/@acme/widget-1.0.0.tgz",
                    },
                },
            },
            "access": null,
            "_attachments": {
                "@acme/widget-1.0.0.tgz": {
                    "content_type": "application/octet-stream",
                    "data": STANDARD.encode(TARBALL),
                    "length": TARBALL.len(),
                },
            },
        })
    }

    fn parse(doc: &Value) -> Result<Publish, String> {
        parse_publish("@acme/widget", doc.to_string().as_bytes())
    }

    fn refusal(doc: &Value) -> String {
        parse(doc).expect_err("refused")
    }

    #[test]
    fn a_document_as_npm_sends_it_is_read() {
        let publish = parse(&document()).expect("valid");
        assert_eq!(
            publish,
            Publish {
                name: "@acme/widget".into(),
                version: "1.0.0".into(),
                tag: "latest".into(),
                tarball: TARBALL.to_vec(),
                attachment: "@acme/widget-1.0.0.tgz".into(),
            }
        );
    }

    #[test]
    fn the_tag_asked_for_is_kept_and_latest_is_the_default() {
        let mut doc = document();
        doc["dist-tags"] = json!({"beta": "1.0.0"});
        assert_eq!(parse(&doc).expect("valid").tag, "beta");
        doc.as_object_mut().expect("object").remove("dist-tags");
        assert_eq!(parse(&doc).expect("valid").tag, "latest");
    }

    #[test]
    fn the_base64_text_is_borrowed_from_the_body() {
        let body = document().to_string();
        let parsed: Document<'_> = serde_json::from_slice(body.as_bytes()).expect("valid");
        let attachment = parsed
            .attachments
            .as_ref()
            .and_then(|a| a.values().next())
            .expect("one attachment");
        assert!(matches!(attachment.data, Cow::Borrowed(_)));
    }

    #[test]
    fn a_body_that_is_no_json_object_is_refused() {
        for body in [&b"not json"[..], b"[]", b"\"x\"", b""] {
            let err = parse_publish("@acme/widget", body).expect_err("refused");
            assert!(err.starts_with("invalid publish document"), "{err}");
        }
    }

    #[test]
    fn the_name_must_be_the_urls() {
        let err = parse_publish("@acme/gadget", document().to_string().as_bytes())
            .expect_err("other package");
        assert!(err.starts_with("name mismatch"), "{err}");
        let mut doc = document();
        doc.as_object_mut().expect("object").remove("name");
        assert!(refusal(&doc).contains("it has no name"));
        let mut doc = document();
        doc["versions"]["1.0.0"]["name"] = json!("@evil/widget");
        let err = refusal(&doc);
        assert!(err.contains("is of \"@evil/widget\""), "{err}");
        let mut doc = document();
        doc["versions"]["1.0.0"]["version"] = json!("2.0.0");
        assert!(refusal(&doc).starts_with("version mismatch"));
    }

    #[test]
    fn exactly_one_version_is_published() {
        let mut doc = document();
        let one = doc["versions"]["1.0.0"].clone();
        doc["versions"]["1.0.1"] = one;
        assert!(refusal(&doc).starts_with("publish one version at a time"));
        doc["versions"] = json!({});
        assert!(refusal(&doc).contains("no version to publish"));
    }

    #[test]
    fn exactly_one_attachment_holds_the_tarball() {
        let mut doc = document();
        doc.as_object_mut().expect("object").remove("_attachments");
        assert!(refusal(&doc).contains("no tarball in _attachments"));
        let mut doc = document();
        let one = doc["_attachments"]["@acme/widget-1.0.0.tgz"].clone();
        doc["_attachments"]["other.tgz"] = one;
        assert!(refusal(&doc).starts_with("publish one tarball at a time"));
    }

    #[test]
    fn the_attachment_must_decode_to_its_length() {
        let key = "@acme/widget-1.0.0.tgz";
        let mut doc = document();
        doc["_attachments"][key]["data"] = json!("not*base64!");
        assert!(refusal(&doc).contains("data is not base64"));
        let mut doc = document();
        doc["_attachments"][key]["length"] = json!(TARBALL.len() + 1);
        let err = refusal(&doc);
        assert!(
            err.contains(&format!("length says {} bytes", TARBALL.len() + 1)),
            "{err}"
        );
        let mut doc = document();
        doc["_attachments"][key]
            .as_object_mut()
            .expect("object")
            .remove("length");
        assert!(refusal(&doc).contains("it has no length"));
    }

    #[test]
    fn the_tarball_must_match_its_digests() {
        let other = b"other bytes";
        let mut doc = document();
        doc["versions"]["1.0.0"]["dist"]["integrity"] = json!(sri(other));
        let err = refusal(&doc);
        assert!(err.starts_with("integrity mismatch"), "{err}");
        assert!(err.contains(&sri(TARBALL)), "{err}");

        let mut doc = document();
        doc["versions"]["1.0.0"]["dist"]["shasum"] = json!(sha1_hex(other));
        let err = refusal(&doc);
        assert!(err.contains("dist.shasum"), "{err}");

        // Of several hashes, the sha512 one is checked; a sha1 SRI alone is left to shasum.
        let mut doc = document();
        doc["versions"]["1.0.0"]["dist"]["integrity"] = json!(format!("sha1-AAAA {}", sri(other)));
        assert!(refusal(&doc).starts_with("integrity mismatch"));
        doc["versions"]["1.0.0"]["dist"]["integrity"] = json!("sha1-AAAA");
        assert!(parse(&doc).is_ok());
        // Upper-case hex is the same digest.
        let mut doc = document();
        doc["versions"]["1.0.0"]["dist"]["shasum"] = json!(sha1_hex(TARBALL).to_uppercase());
        assert!(parse(&doc).is_ok());
    }

    #[test]
    fn the_dist_tag_must_point_at_the_version_and_be_a_tag() {
        let mut doc = document();
        doc["dist-tags"] = json!({"latest": "1.0.0", "beta": "1.0.0"});
        assert!(refusal(&doc).starts_with("set one dist-tag at a time"));
        doc["dist-tags"] = json!({"latest": "0.9.0"});
        let err = refusal(&doc);
        assert!(err.contains("points at \"0.9.0\""), "{err}");
        doc["dist-tags"] = json!({"1.x": "1.0.0"});
        assert!(refusal(&doc).contains("must not be a valid SemVer range"));
    }
}
