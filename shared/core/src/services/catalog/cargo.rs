//! What a Cargo registry does beyond the catalogue's own operations: `config.json`, the
//! sparse index files (rendered once per change of the crate, `page_cache`), publish of
//! cargo's binary body, yank, owners (grants on the crate) and search.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::access::{Role, Scope, Target};
use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{Format, Package, Repository, from_item};
use crate::domain::names::PackageName;
use crate::formats::cargo;
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::access::caller::Caller;
use crate::services::access::grants::{self, CreateGrant, Grant};
use crate::services::access::principals;
use crate::services::catalog::page_cache::{Page, PageKey};
use crate::services::catalog::publish::{self, Declared, Outcome};
use crate::services::catalog::yanks::{self, YankRequest};
use crate::services::catalog::{index, lookalikes};
use crate::services::records::audit;
use crate::services::{Context, Error};

/// The index files' media type, and their key in the page cache.
const INDEX_FORM: &str = "text/plain; charset=utf-8";
/// Most crates one search answers.
pub const MAX_PER_PAGE: usize = 100;

/// The repository `repo` of the caller's tenant if it is a Cargo registry.
pub async fn registry(ctx: &Context, caller: &Caller, repo: &str) -> Result<Repository, Error> {
    index::repository(ctx, caller, repo, Format::Cargo).await
}

/// `config.json`: where cargo downloads crates and calls the API, and that every request
/// needs the token (RFC 3139).
pub fn config(origin: &str, tenant: &str, repo: &str) -> serde_json::Value {
    let api = format!("{origin}/cargo/{tenant}/{repo}");
    serde_json::json!({
        "dl": format!("{api}/api/v1/crates"),
        "api": api,
        "auth-required": true,
    })
}

/// The crate a client names, in the spelling it was published under: cargo lower-cases
/// index paths, and a name differing only in case is the same crate.
pub async fn crate_named(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    raw: &str,
) -> Result<PackageName, Error> {
    let name = PackageName::parse(raw)?;
    match lookalikes::claimed(ctx, &caller.tenant, repo, &name).await? {
        Some(held) if held.as_str().eq_ignore_ascii_case(raw) => Ok(held),
        _ => Ok(name),
    }
}

/// The index URL of this registry as a client reached it (`sparse+{origin}/cargo/{t}/{r}/index/`).
pub fn own_index(origin: &str, tenant: &str, repo: &str) -> String {
    format!("sparse+{origin}/cargo/{tenant}/{repo}/index/")
}

/// An index entry as this registry's clients read it: a dependency on this very registry
/// carries no `registry` (the index's "same registry"), although the crate's normalized
/// Cargo.toml names it by URL (`registry-index`), as cargo writes it on publish.
fn localized(entry: &str, own_index: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(entry) else {
        return entry.to_owned();
    };
    let own = own_index.trim_end_matches('/');
    if let Some(deps) = doc["deps"].as_array_mut() {
        for dep in deps {
            let same = dep["registry"]
                .as_str()
                .is_some_and(|r| r.trim_end_matches('/') == own);
            if same {
                dep["registry"] = serde_json::Value::Null;
            }
        }
    }
    doc.to_string()
}

/// A crate's index file for clients of `origin`, from the cache while the crate has not
/// changed.
pub async fn index_file(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
    origin: &str,
) -> Result<Arc<Page>, Error> {
    let record = index::package(ctx, caller, repo, name).await?;
    let key = PageKey::new(&caller.tenant, repo, &record, INDEX_FORM).with_origin(origin);
    if let Some(page) = ctx.index_pages.get(&key, record.rev) {
        return Ok(page);
    }
    let rev = record.rev;
    let own = own_index(origin, caller.tenant.as_str(), repo.name.as_str());
    let found = index::package_files(ctx, caller, repo, record).await?;
    let entries: Vec<Option<String>> = found
        .files
        .iter()
        .map(|f| {
            f.file
                .attributes
                .get(cargo::INDEX_ENTRY)
                .map(|e| localized(e, &own))
        })
        .collect();
    let lines: Vec<cargo::IndexLine<'_>> = found
        .files
        .iter()
        .zip(&entries)
        .filter_map(|(f, entry)| {
            Some(cargo::IndexLine {
                entry: entry.as_deref()?,
                cksum: f.file.sha256.as_str(),
                yanked: f.yanked.is_some(),
                pubtime: Some(f.file.created_at),
            })
        })
        .collect();
    if lines.is_empty() {
        return Err(Error::NotFound(format!(
            "crate {name} not found in {}",
            repo.name
        )));
    }
    let body = Bytes::from(cargo::render_index(&lines));
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    ctx.index_pages.put(
        key,
        Page {
            rev,
            body: body.clone(),
            etag: etag.clone(),
        },
    );
    Ok(Arc::new(Page { rev, body, etag }))
}

/// `cargo publish`: the crate through the pipeline, waited for.
pub async fn publish(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    body: &[u8],
) -> Result<Outcome, Error> {
    let published = cargo::parse_publish(body).map_err(Error::Invalid)?;
    check_registries(&published.metadata)?;
    let declared = Declared {
        filename: cargo::crate_filename(&published.name, &published.vers),
        package: published.name.clone(),
        version: published.vers.clone(),
        sha256: None,
    };
    let bytes = Bytes::from(published.crate_bytes);
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    match publish::publish(ctx, caller, repo.name.as_str(), declared, stream).await {
        Err(Error::Conflict(why)) => Err(Error::Conflict(format!(
            "crate version `{}@{}` is already uploaded ({why})",
            published.name, published.vers
        ))),
        other => other,
    }
}

/// Registries a crate's dependencies may come from, besides this one (`registry: null` in
/// cargo's publish metadata): crates.io, by either of its index URLs. A dependency on any
/// other registry would leave the crate unbuildable for whoever cannot reach it.
const ALLOWED_REGISTRIES: &[&str] = &[
    cargo::manifest::CRATES_IO_INDEX,
    "sparse+https://index.crates.io/",
];

fn check_registries(metadata: &serde_json::Value) -> Result<(), Error> {
    for dep in metadata["deps"].as_array().into_iter().flatten() {
        let Some(registry) = dep["registry"].as_str() else {
            continue;
        };
        if !ALLOWED_REGISTRIES.contains(&registry) {
            return Err(Error::Invalid(format!(
                "dependency {} comes from registry {}, which this registry does not allow: \
                 dependencies come from this registry or from crates.io",
                crate::domain::echo::echo(dep["name"].as_str().unwrap_or_default()),
                crate::domain::echo::echo(registry)
            )));
        }
    }
    Ok(())
}

/// `cargo yank` (`yank`) and `cargo yank --undo`: a yanked version stays downloadable for
/// lockfiles that name it, and new resolutions skip it.
pub async fn set_yanked(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
    version: &str,
    yank: bool,
) -> Result<(), Error> {
    caller.require(Role::Maintainer, &Target::Package(&repo.name, name), || {
        Error::NotFound(format!("crate {name} not found in {}", repo.name))
    })?;
    let request = YankRequest::default();
    yanks::set(
        ctx,
        caller,
        repo.name.as_str(),
        name.as_str(),
        version,
        None,
        yank.then_some(&request),
    )
    .await
    .map(drop)
}

/// An owner as cargo lists it: a principal holding a grant on exactly this crate.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    /// cargo's numeric id; the position in the list.
    pub id: u64,
    /// The principal id (`user_…`, `sa_…`, `group_…`): what `cargo owner --add` takes.
    pub login: String,
    pub name: Option<String>,
}

fn crate_scope(repo: &Repository, name: &PackageName) -> Result<Scope, Error> {
    serde_json::from_value(serde_json::json!({
        "repository": repo.name, "package": name.as_str()
    }))
    .map_err(|e| Error::Invalid(format!("crate {name} cannot be a grant's scope: {e}")))
}

/// The grants on exactly this crate (a grant on a pattern or on the repository makes no
/// owner: it is not this crate's).
async fn crate_grants(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
) -> Result<Vec<Grant>, Error> {
    let scope = crate_scope(repo, name)?;
    let query = Query::new(keys::grants_partition(&caller.tenant));
    let mut out = Vec::new();
    for item in query_all(ctx.table.as_ref(), query).await? {
        let grant: Grant = from_item(item)?;
        if grant.scope == scope {
            out.push(grant);
        }
    }
    Ok(out)
}

/// `cargo owner --list`: readers of the crate may see who owns it.
pub async fn owners(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
) -> Result<Vec<Owner>, Error> {
    index::package(ctx, caller, repo, name).await?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for grant in crate_grants(ctx, caller, repo, name).await? {
        if !seen.insert(grant.principal.clone()) {
            continue;
        }
        let record = principals::find(ctx, &caller.tenant, &grant.principal).await?;
        out.push(Owner {
            id: out.len() as u64 + 1,
            login: grant.principal,
            name: record.map(|r| r.name.to_string()),
        });
    }
    Ok(out)
}

/// `cargo owner --add`: a maintainer grant on the crate for each principal (admins of the
/// crate's scope only, as any grant).
pub async fn add_owners(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
    logins: &[String],
) -> Result<String, Error> {
    index::package(ctx, caller, repo, name).await?;
    let have: BTreeSet<String> = crate_grants(ctx, caller, repo, name)
        .await?
        .into_iter()
        .filter(|g| g.role >= Role::Maintainer)
        .map(|g| g.principal)
        .collect();
    for login in logins {
        if have.contains(login) {
            continue;
        }
        grants::create(
            ctx,
            caller,
            CreateGrant {
                principal: login.clone(),
                role: Role::Maintainer,
                scope: crate_scope(repo, name)?,
            },
        )
        .await?;
    }
    Ok(format!(
        "{} now own{} {name}",
        logins.join(", "),
        if logins.len() == 1 { "s" } else { "" }
    ))
}

/// `cargo owner --remove`: the principals' grants on exactly this crate go.
pub async fn remove_owners(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    name: &PackageName,
    logins: &[String],
) -> Result<String, Error> {
    index::package(ctx, caller, repo, name).await?;
    // A reader of the crate sees its owners (`owners`): one who may not remove them is
    // refused, not told that an owner's grant is not there.
    let crate_admin = caller.require(Role::Admin, &Target::Package(&repo.name, name), || {
        Error::NotFound(format!("crate {name} not found in {}", repo.name))
    });
    if let Err(e) = crate_admin {
        let target = format!("crate/{}/{name}", repo.name);
        audit::denied(ctx, caller, AuditAction::GrantDelete, &target).await;
        return Err(e);
    }
    let grants = crate_grants(ctx, caller, repo, name).await?;
    for login in logins {
        let theirs: Vec<&Grant> = grants.iter().filter(|g| g.principal == *login).collect();
        if theirs.is_empty() {
            return Err(Error::NotFound(format!(
                "{} does not own {name}",
                crate::domain::echo::echo(login)
            )));
        }
        for grant in theirs {
            grants::delete(ctx, caller, &grant.id).await?;
        }
    }
    Ok(format!("{} no longer own {name}", logins.join(", ")))
}

/// One crate of a search.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub name: String,
    pub max_version: String,
    pub description: Option<String>,
}

/// `cargo search`: the crates the caller may read whose name holds `q` (case-insensitive,
/// `-` and `_` alike), exact matches first, then by name; with the total.
pub async fn search(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    q: &str,
    per_page: usize,
) -> Result<(Vec<Found>, usize), Error> {
    let fold = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let wanted = fold(q.trim());
    let query = Query::new(keys::packages_partition(&caller.tenant, &repo.name))
        .begins_with(keys::PACKAGE_SK_PREFIX);
    let mut hits = Vec::new();
    for item in query_all(ctx.table.as_ref(), query).await? {
        let package: Package = from_item(item)?;
        let Some(latest) = package.latest_version.as_ref() else {
            continue;
        };
        if !caller
            .rights
            .can(Role::Reader, &Target::Package(&repo.name, &package.name))
        {
            continue;
        }
        let folded = fold(package.name.as_str());
        if folded.contains(&wanted) {
            hits.push((
                folded != wanted,
                package.name.to_string(),
                latest.to_string(),
            ));
        }
    }
    hits.sort();
    let total = hits.len();
    let found = hits
        .into_iter()
        .take(per_page.clamp(1, MAX_PER_PAGE))
        .map(|(_, name, max_version)| Found {
            name,
            max_version,
            description: None,
        })
        .collect();
    Ok((found, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_from_this_registry_or_crates_io_only() {
        let deps = |registry: serde_json::Value| serde_json::json!({"deps": [{"name": "x", "version_req": "^1", "registry": registry}]});
        assert!(check_registries(&deps(serde_json::Value::Null)).is_ok());
        assert!(
            check_registries(&deps("https://github.com/rust-lang/crates.io-index".into())).is_ok()
        );
        assert!(check_registries(&deps("sparse+https://index.crates.io/".into())).is_ok());
        let err = check_registries(&deps("sparse+https://evil.example/index/".into()))
            .expect_err("another registry");
        assert!(err.to_string().contains("evil.example"), "{err}");
    }

    #[test]
    fn a_dependency_on_this_registry_reads_as_the_same_registry() {
        let own = own_index("http://127.0.0.1:8080", "default", "crates");
        let entry = serde_json::json!({"name": "app", "vers": "1.0.0", "deps": [
            {"name": "helper", "req": "^1", "registry": "sparse+http://127.0.0.1:8080/cargo/default/crates/index/"},
            {"name": "serde", "req": "^1", "registry": "https://github.com/rust-lang/crates.io-index"},
            {"name": "other", "req": "^1", "registry": "sparse+http://127.0.0.1:8080/cargo/default/elsewhere/index/"},
            {"name": "plain", "req": "^1", "registry": null},
        ]})
        .to_string();
        let out: serde_json::Value = serde_json::from_str(&localized(&entry, &own)).expect("json");
        let registries: Vec<&serde_json::Value> = out["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .map(|d| &d["registry"])
            .collect();
        assert_eq!(
            registries,
            [
                &serde_json::Value::Null,
                &serde_json::json!("https://github.com/rust-lang/crates.io-index"),
                &serde_json::json!("sparse+http://127.0.0.1:8080/cargo/default/elsewhere/index/"),
                &serde_json::Value::Null,
            ]
        );
    }
}
