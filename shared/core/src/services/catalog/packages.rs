//! Reads of packages, versions and files; downloads; version deletion.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::domain::access::{Role, Target};
use crate::domain::keys::{self, BlobKey, UploadId};
use crate::domain::model::{FileRecord, Package, ScanResult, Version, Yanked, from_item};
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, VersionName};
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories;
use crate::services::catalog::versions::{self, VersionRef, VersionView};
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::usage;
use crate::services::{Context, Error};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PackageListParams {
    /// Only packages whose name starts with this.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256)]
    pub prefix: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "crate::domain::bounds::cursor_param")]
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

/// A package as answered: the stored record without its bookkeeping.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackageView {
    #[schema(value_type = String)]
    pub name: PackageName,
    #[schema(value_type = String)]
    pub repository: RepoName,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub latest_version: Option<VersionName>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Package> for PackageView {
    fn from(p: Package) -> Self {
        Self {
            name: p.name,
            repository: p.repository,
            latest_version: p.latest_version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionDetail {
    #[serde(flatten)]
    pub version: VersionView,
    pub files: Vec<FileView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    #[schema(value_type = String)]
    pub filename: FileName,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Hex,
    /// The scan that let the file in; `status: partial` when it did not see all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
    /// Set while this file is yanked on its own (its release may be yanked as a whole too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yanked>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The upload that published it.
    #[schema(value_type = String)]
    pub upload_id: UploadId,
    /// The principal whose upload published it, while the upload's record is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
}

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            filename: f.filename,
            size: f.size,
            sha256: f.sha256,
            scan: f.scan,
            yanked: f.yanked,
            created_at: f.created_at,
            upload_id: f.upload_id,
            uploaded_by: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DownloadLink {
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Hex,
}

pub async fn list(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    params: &PackageListParams,
) -> Result<PageOf<PackageView>, Error> {
    let repo = RepoName::parse(repo)?;
    repositories::find(ctx, &caller.tenant, &repo).await?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    };
    let prefix = match params.prefix.as_deref() {
        None | Some("") => String::new(),
        // A valid prefix is a valid name's beginning; anything else matches nothing.
        Some(p) => PackageName::parse(p)?.to_string(),
    };
    let query = Query::new(keys::packages_partition(&caller.tenant, &repo))
        .begins_with(format!("{}{prefix}", keys::PACKAGE_SK_PREFIX))
        .limit(page.limit()?)
        .cursor(page.cursor);
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in page.items {
        let pkg: Package = from_item(item)?;
        if caller
            .rights
            .can(Role::Reader, &Target::Package(&repo, &pkg.name))
        {
            items.push(PackageView::from(pkg));
        }
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

pub async fn get(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
) -> Result<PackageView, Error> {
    find(ctx, caller, repo, package)
        .await
        .map(PackageView::from)
}

async fn find(ctx: &Context, caller: &Caller, repo: &str, package: &str) -> Result<Package, Error> {
    let (repo, package) = (RepoName::parse(repo)?, PackageName::parse(package)?);
    let item = ctx
        .table
        .get(&keys::package(&caller.tenant, &repo, &package))
        .await?;
    match item {
        Some(item) => Ok(from_item(item)?),
        None => {
            repositories::find(ctx, &caller.tenant, &repo).await?;
            Err(Error::NotFound(format!(
                "package {package} not found in {repo}"
            )))
        }
    }
}

pub async fn list_versions(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    page: &PageParams,
) -> Result<PageOf<VersionView>, Error> {
    let pkg = find(ctx, caller, repo, package).await?;
    let query = Query::new(keys::versions_partition(
        &caller.tenant,
        &pkg.repository,
        &pkg.name,
    ))
    .limit(page.limit()?)
    .cursor(page.cursor.clone());
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in page.items {
        let v: Version = from_item(item)?;
        if !v.deleted {
            items.push(VersionView::from(v));
        }
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

pub async fn get_version(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<VersionDetail, Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let version = versions::live(ctx, &caller.tenant, &r).await?;
    let query = Query::new(keys::files_partition(
        &caller.tenant,
        &r.repo,
        &r.package,
        &r.version,
    ))
    .limit(1000);
    let mut files = query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .map(|item| from_item::<FileRecord>(item).map(FileView::from))
        .collect::<Result<Vec<_>, _>>()?;
    for file in &mut files {
        file.uploaded_by =
            crate::services::catalog::uploads::load(ctx, &caller.tenant, &file.upload_id)
                .await?
                .and_then(|u| u.created_by);
    }
    Ok(VersionDetail {
        version: version.into(),
        files,
    })
}

pub async fn download(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    filename: &str,
) -> Result<DownloadLink, Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let (_, file) = live_file(ctx, caller, &r, filename).await?;
    let presigned = ctx
        .blobs
        .presign_get(
            &BlobKey::content(&file.sha256),
            ctx.settings.download_url_ttl,
            Some(file.filename.as_str()),
        )
        .await?;
    // The one extra write of a download: a count, never a reason to fail it.
    usage::count(
        ctx,
        &caller.tenant,
        &r.repo,
        &r.package,
        &[
            (usage::DOWNLOADS, 1),
            (
                usage::DOWNLOAD_BYTES,
                i64::try_from(file.size).unwrap_or(i64::MAX),
            ),
        ],
    )
    .await;
    Ok(DownloadLink {
        url: presigned.url,
        expires_at: presigned.expires_at,
        size: file.size,
        sha256: file.sha256,
    })
}

/// A file of a live version, as stored, and the version as read.
pub(crate) async fn live_file(
    ctx: &Context,
    caller: &Caller,
    r: &VersionRef,
    filename: &str,
) -> Result<(Version, FileRecord), Error> {
    let filename = FileName::parse(filename)?;
    let version = versions::live(ctx, &caller.tenant, r).await?;
    let key = keys::file(&caller.tenant, &r.repo, &r.package, &r.version, &filename);
    match ctx.table.get(&key).await? {
        Some(item) => Ok((version, from_item(item)?)),
        None => Err(Error::NotFound(format!(
            "file {filename} not found in {} {}",
            r.package, r.version
        ))),
    }
}

/// A presigned GET of a file's core metadata (PEP 658), if the pipeline stored one.
pub async fn core_metadata(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    filename: &str,
) -> Result<String, Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let (_, file) = live_file(ctx, caller, &r, filename).await?;
    if file.core_metadata.is_none() {
        return Err(Error::NotFound(format!(
            "no core metadata for {filename} in {package} {version}"
        )));
    }
    let presigned = ctx
        .blobs
        .presign_get(
            &BlobKey::core_metadata(&file.sha256),
            ctx.settings.download_url_ttl,
            Some(&format!("{}.metadata", file.filename)),
        )
        .await?;
    Ok(presigned.url)
}

/// Deletes the version: at once neither listed nor downloadable, its number never reused,
/// its files gone and their bytes freed by the next cleanup once no other file shares them.
/// A pinned version can be deleted this way too: pinning only holds off retention.
pub async fn delete_version(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<(), Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let v = versions::live(ctx, &caller.tenant, &r).await?;
    versions::delete(ctx, caller, &r.repo, &v).await?;
    Ok(())
}
