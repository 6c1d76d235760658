//! Yanking (PEP 592): a yanked release or file stays listed and downloadable, but installers
//! skip it unless it is the only match of an exact pin. Maintainers yank a whole release or
//! one file of it; unyanking undoes exactly that mark (a file yanked on its own stays yanked
//! when its release is unyanked). Each call is one audited change, and bumps the package's
//! `rev` like any change its index page shows (`page_cache`).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{Package, Version, Yanked, from_item, to_item};
use crate::ports::{Condition, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::catalog::packages::{self, VersionDetail};
use crate::services::catalog::versions::{self, VersionRef};
use crate::services::records::audit;
use crate::services::{Context, Error};

/// The body of a yank.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YankRequest {
    /// Shown by installers to whoever installs it anyway.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$",
        example = "broken on Python 3.13, use 1.0.1"
    )]
    pub reason: Option<String>,
    /// Yank only this file of the release.
    #[serde(default)]
    #[schema(
        max_length = 255,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$",
        example = "widget-1.0-cp313-cp313-manylinux_2_28_x86_64.whl"
    )]
    pub filename: Option<String>,
}

/// Yanks (`Some`) or unyanks (`None`) a release, or only its file `filename`; answers the
/// release as it is now.
pub async fn set(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    filename: Option<&str>,
    yank: Option<&YankRequest>,
) -> Result<VersionDetail, Error> {
    match filename {
        Some(file) => set_file(ctx, caller, repo, package, version, file, yank).await?,
        None => set_version(ctx, caller, repo, package, version, yank).await?,
    }
    packages::get_version(ctx, caller, repo, package, version).await
}

impl YankRequest {
    fn mark(&self, ctx: &Context) -> Result<Yanked, Error> {
        let reason = self.reason.as_deref().unwrap_or_default().trim();
        if reason.chars().count() > Yanked::MAX_REASON {
            return Err(Error::Invalid(format!(
                "reason is longer than {} characters",
                Yanked::MAX_REASON
            )));
        }
        if reason.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "reason must be one line of text without control characters".into(),
            ));
        }
        Ok(Yanked {
            reason: reason.to_owned(),
            at: ctx.clock.now(),
        })
    }
}

async fn set_version(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    yank: Option<&YankRequest>,
) -> Result<(), Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let mark = yank.map(|y| y.mark(ctx)).transpose()?;
    let mut v: Version = versions::live(ctx, &caller.tenant, &r).await?;
    let rev = v.rev;
    v.yanked = mark;
    v.rev += 1;
    v.updated_at = ctx.clock.now();
    let key = keys::version(&caller.tenant, &r.repo, &r.package, &r.version);
    let writes = vec![
        Write::Put {
            item: to_item(&key, &v)?,
            condition: Some(Condition::Equals("rev".into(), rev.into())),
        },
        package_bump(ctx, caller, &r).await?,
    ];
    let action = match yank {
        Some(_) => AuditAction::VersionYank,
        None => AuditAction::VersionUnyank,
    };
    match audit::transact(ctx, caller, action, &r.target(), writes).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed })
            if failed.contains(&0) || failed.contains(&1) =>
        {
            Err(Error::Conflict(format!(
                "version {} changed concurrently; retry",
                r.version
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// The package with its `rev` bumped, conditioned on the `rev` read.
async fn package_bump(ctx: &Context, caller: &Caller, r: &VersionRef) -> Result<Write, Error> {
    let key = keys::package(&caller.tenant, &r.repo, &r.package);
    let mut package: Package = match ctx.table.get(&key).await? {
        Some(item) => from_item(item)?,
        None => return Err(r.not_found()),
    };
    let rev = package.rev;
    package.rev += 1;
    package.updated_at = ctx.clock.now();
    Ok(Write::Put {
        item: to_item(&key, &package)?,
        condition: Some(Condition::Equals("rev".into(), rev.into())),
    })
}

async fn set_file(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    filename: &str,
    yank: Option<&YankRequest>,
) -> Result<(), Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let mark = yank.map(|y| y.mark(ctx)).transpose()?;
    let (v, mut file) = packages::live_file(ctx, caller, &r, filename).await?;
    let filename = file.filename.clone();
    let key = keys::file(&caller.tenant, &r.repo, &r.package, &r.version, &filename);
    let not_found = || {
        Error::NotFound(format!(
            "file {filename} not found in {} {}",
            r.package, r.version
        ))
    };
    file.yanked = mark;
    // Files never change but for this mark: the version's `rev` guards against a delete of
    // the release racing the change, the file's upload id against a file deleted and
    // published again under the same name (never allowed, but cheap to hold).
    let writes = vec![
        Write::Put {
            item: to_item(&key, &file)?,
            condition: Some(Condition::Equals(
                "upload_id".into(),
                file.upload_id.as_str().into(),
            )),
        },
        Write::Check {
            key: keys::version(&caller.tenant, &r.repo, &r.package, &r.version),
            condition: Condition::Equals("rev".into(), v.rev.into()),
        },
        package_bump(ctx, caller, &r).await?,
    ];
    let action = match yank {
        Some(_) => AuditAction::VersionYank,
        None => AuditAction::VersionUnyank,
    };
    let target = format!("{}/{filename}", r.target());
    match audit::transact(ctx, caller, action, &target, writes).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(not_found()),
        Err(TableError::TransactionCanceled { failed })
            if failed.contains(&1) || failed.contains(&2) =>
        {
            Err(Error::Conflict(format!(
                "version {} changed concurrently; retry",
                r.version
            )))
        }
        Err(e) => Err(e.into()),
    }
}
