//! What an npm registry does beyond the catalogue's own operations: its packument (rendered
//! once per change of the package, `page_cache`), publish with a dist-tag, and the writes
//! npm expresses as a changed packument (deprecate, unpublish of versions).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::access::{Role, Target};
use crate::domain::model::{Format, Repository};
use crate::domain::names::PackageName;
use crate::formats::npm::{self, packument};
use crate::services::access::caller::Caller;
use crate::services::catalog::page_cache::{Page, PageKey};
use crate::services::catalog::publish::{self, Declared, Outcome};
use crate::services::catalog::yanks::{self, YankRequest};
use crate::services::catalog::{dist_tags, index, versions};
use crate::services::{Context, Error};

/// Which form of the packument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Abbreviated,
}

impl Form {
    pub fn content_type(self) -> &'static str {
        match self {
            Form::Full => "application/json",
            Form::Abbreviated => packument::ABBREVIATED,
        }
    }
}

/// The registry's URL prefix of a repository, as clients reach it: `{origin}/npm/{t}/{r}`.
pub fn registry_url(origin: &str, tenant: &str, repo: &str) -> String {
    format!("{origin}/npm/{tenant}/{repo}")
}

/// `_rev` of a package: its revision, and a digest that tells two stacks' revisions apart.
fn rev_of(repo: &Repository, name: &PackageName, rev: u64) -> String {
    let digest = Sha256::digest(format!("{}\0{}\0{name}\0{rev}", repo.name, repo.created_at));
    format!("{rev}-{}", &hex::encode(digest)[..16])
}

/// The revision number a `_rev` names, if it is one of ours.
pub fn rev_number(rev: &str) -> Option<u64> {
    rev.split_once('-').and_then(|(n, _)| n.parse().ok())
}

/// The package's packument in `form` for clients of `origin`, from the cache while the
/// package has not changed.
pub async fn packument(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    origin: &str,
    form: Form,
) -> Result<std::sync::Arc<Page>, Error> {
    let record = index::package(ctx, caller, repo, package).await?;
    let key = PageKey::new(&caller.tenant, repo, &record, form.content_type()).with_origin(origin);
    if let Some(page) = ctx.index_pages.get(&key, record.rev) {
        return Ok(page);
    }
    let rev = record.rev;
    let created = record.created_at;
    let modified = record.updated_at;
    let found = index::package_files(ctx, caller, repo, record).await?;
    if found.files.is_empty() {
        return Err(Error::NotFound(format!(
            "package {package} not found in {}",
            repo.name
        )));
    }
    let tags = dist_tags::effective(repo, &found.package, &found.versions);
    let base = registry_url(origin, caller.tenant.as_str(), repo.name.as_str());
    let releases = found
        .files
        .iter()
        .map(|f| packument::Release {
            version: f.version.as_str(),
            manifest: f.file.attributes.get(npm::MANIFEST).map(String::as_str),
            integrity: f.file.attributes.get(npm::INTEGRITY).map(String::as_str),
            shasum: f.file.attributes.get(npm::SHASUM).map(String::as_str),
            tarball: format!("{base}/{package}/-/{}", f.file.filename),
            deprecated: f.yanked.as_ref().map(|y| y.reason.as_str()),
            published: f.file.created_at,
        })
        .collect();
    let doc = packument::Packument {
        name: package.as_str(),
        rev: rev_of(repo, package, rev),
        tags: &tags,
        releases,
        created,
        modified,
    };
    let body = Bytes::from(match form {
        Form::Full => packument::full(&doc),
        Form::Abbreviated => packument::abbreviated(&doc),
    });
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    ctx.index_pages.put(
        key,
        Page {
            rev,
            body: body.clone(),
            etag: etag.clone(),
        },
    );
    Ok(std::sync::Arc::new(Page { rev, body, etag }))
}

/// What `npm publish` asked for, once the pipeline has decided.
pub async fn publish(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    published: npm::Publish,
) -> Result<Outcome, Error> {
    let package = PackageName::parse(&published.name)?;
    let declared = Declared {
        package: published.name.clone(),
        version: published.version.clone(),
        filename: npm::tarball_filename(&published.name, &published.version),
        sha256: None,
    };
    let bytes = Bytes::from(published.tarball);
    let body = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let outcome = match publish::publish(ctx, caller, repo.name.as_str(), declared, body).await {
        Err(Error::Conflict(why)) => {
            return Err(Error::Conflict(format!(
                "cannot publish over the previously published versions: {} ({why})",
                published.version
            )));
        }
        other => other?,
    };
    if let Outcome::Published(upload) = &outcome {
        let tags = BTreeMap::from([(published.tag.clone(), upload.version.to_string())]);
        if published.tag == dist_tags::LATEST {
            // `latest` follows the newest release unless set: a pin set before gives way.
            let record = index::package(ctx, caller, repo, &package).await?;
            if record.dist_tags.contains_key(dist_tags::LATEST) {
                let mut kept: BTreeMap<String, String> = record
                    .dist_tags
                    .iter()
                    .map(|(t, v)| (t.clone(), v.to_string()))
                    .collect();
                kept.remove(dist_tags::LATEST);
                kept.extend(tags);
                dist_tags::replace(ctx, caller, repo, &package, &kept).await?;
            }
        } else {
            dist_tags::set(
                ctx,
                caller,
                repo,
                &package,
                &published.tag,
                upload.version.as_str(),
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// The versions of a packument a client sent back, with their deprecation messages.
#[derive(Debug, Default)]
pub struct SentDocument {
    pub versions: BTreeMap<String, Option<String>>,
    pub tags: BTreeMap<String, String>,
    pub rev: Option<String>,
}

impl SentDocument {
    /// Reads the parts of a packument that a client may change.
    pub fn parse(package: &PackageName, body: &[u8]) -> Result<Self, Error> {
        let doc: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::Invalid(format!("the body is not a JSON packument: {e}")))?;
        let Some(doc) = doc.as_object() else {
            return Err(Error::Invalid("the body is not a JSON object".into()));
        };
        if let Some(name) = doc.get("name").and_then(|n| n.as_str())
            && name != package.as_str()
        {
            return Err(Error::Invalid(format!(
                "the document is for {}, not {package}",
                crate::domain::echo::echo(name)
            )));
        }
        let mut sent = SentDocument {
            rev: doc.get("_rev").and_then(|r| r.as_str()).map(str::to_owned),
            ..Default::default()
        };
        let versions = doc
            .get("versions")
            .and_then(|v| v.as_object())
            .ok_or_else(|| Error::Invalid("the document has no versions object".into()))?;
        for (version, body) in versions {
            let deprecated = match body.get("deprecated") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "versions[{}].deprecated must be a string",
                        crate::domain::echo::echo(version)
                    )));
                }
            };
            sent.versions.insert(version.clone(), deprecated);
        }
        if let Some(tags) = doc.get("dist-tags").and_then(|t| t.as_object()) {
            for (tag, version) in tags {
                let Some(version) = version.as_str() else {
                    return Err(Error::Invalid(format!(
                        "dist-tags[{}] must be a version",
                        crate::domain::echo::echo(tag)
                    )));
                };
                sent.tags.insert(tag.clone(), version.to_owned());
            }
        }
        Ok(sent)
    }
}

/// `npm deprecate`: the packument comes back with `deprecated` set (or emptied) on the
/// versions it names; each change is a yank or an unyank of that version.
pub async fn deprecate(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    sent: &SentDocument,
) -> Result<(), Error> {
    require(caller, repo, package, Role::Maintainer)?;
    let live = dist_tags::live_versions(ctx, caller, repo, package).await?;
    for v in &live {
        let Some(wanted) = sent.versions.get(v.version.as_str()) else {
            continue;
        };
        let now = v.yanked.as_ref().map(|y| y.reason.as_str());
        let yank = match wanted.as_deref() {
            // An empty message is npm's way to lift a deprecation.
            None | Some("") => None,
            Some(reason) => Some(YankRequest {
                reason: Some(reason.to_owned()),
                filename: None,
            }),
        };
        let same = match (&yank, now) {
            (None, None) => true,
            (Some(y), Some(now)) => y.reason.as_deref() == Some(now),
            _ => false,
        };
        if same {
            continue;
        }
        yanks::set(
            ctx,
            caller,
            repo.name.as_str(),
            package.as_str(),
            v.version.as_str(),
            None,
            yank.as_ref(),
        )
        .await?;
    }
    let unknown: Vec<&String> = sent
        .versions
        .keys()
        .filter(|s| !live.iter().any(|v| v.version.as_str() == s.as_str()))
        .collect();
    if let Some(v) = unknown.first() {
        return Err(Error::Invalid(format!(
            "version {} is not published; publish it with its tarball",
            crate::domain::echo::echo(v)
        )));
    }
    Ok(())
}

/// `npm unpublish NAME@VERSION`: the packument comes back without the versions to remove
/// (and with the dist-tags moved off them). Every version missing is deleted; a tag the
/// document still points at one of them refuses the whole change.
pub async fn unpublish_missing(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    sent: &SentDocument,
) -> Result<(), Error> {
    require(caller, repo, package, Role::Maintainer)?;
    let record = index::package(ctx, caller, repo, package).await?;
    if let Some(rev) = sent.rev.as_deref().and_then(rev_number)
        && rev != record.rev
    {
        return Err(Error::Conflict(format!(
            "{package} changed since the document was read (rev {rev}, now {}); read it again",
            record.rev
        )));
    }
    let live = dist_tags::live_versions(ctx, caller, repo, package).await?;
    let removed: Vec<_> = live
        .iter()
        .filter(|v| !sent.versions.contains_key(v.version.as_str()))
        .collect();
    let removed_names: BTreeSet<&str> = removed.iter().map(|v| v.version.as_str()).collect();
    if let Some((tag, v)) = sent
        .tags
        .iter()
        .find(|(_, v)| removed_names.contains(v.as_str()))
    {
        return Err(Error::Conflict(format!(
            "dist-tag {tag} points at {v}; move the tag before unpublishing {v}"
        )));
    }
    for v in removed {
        versions::delete(ctx, caller, &repo.name, v).await?;
    }
    dist_tags::replace(ctx, caller, repo, package, &sent.tags).await
}

/// `npm unpublish NAME --force`: every version goes; the name stays taken.
pub async fn unpublish_all(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
) -> Result<(), Error> {
    require(caller, repo, package, Role::Maintainer)?;
    index::package(ctx, caller, repo, package).await?;
    for v in dist_tags::live_versions(ctx, caller, repo, package).await? {
        versions::delete(ctx, caller, &repo.name, &v).await?;
    }
    Ok(())
}

/// The tarball `filename` of `package` removed (npm sends it after the document without the
/// version): answered as done when its version is already gone.
pub async fn delete_tarball(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    filename: &str,
) -> Result<(), Error> {
    require(caller, repo, package, Role::Maintainer)?;
    let live = dist_tags::live_versions(ctx, caller, repo, package).await?;
    let version = live
        .iter()
        .find(|v| npm::tarball_filename(package.as_str(), v.version.as_str()) == filename);
    if let Some(v) = version {
        let record = index::package(ctx, caller, repo, package).await?;
        if let Some((tag, _)) = record.dist_tags.iter().find(|(_, at)| **at == v.version) {
            return Err(Error::Conflict(format!(
                "dist-tag {tag} points at {}; move the tag before unpublishing it",
                v.version
            )));
        }
        versions::delete(ctx, caller, &repo.name, v).await?;
    }
    Ok(())
}

/// The repository `repo` of the caller's tenant if it is an npm registry.
pub async fn registry(ctx: &Context, caller: &Caller, repo: &str) -> Result<Repository, Error> {
    index::repository(ctx, caller, repo, Format::Npm).await
}

fn require(
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    role: Role,
) -> Result<(), Error> {
    caller.require(role, &Target::Package(&repo.name, package), || {
        Error::NotFound(format!("package {package} not found in {}", repo.name))
    })
}
