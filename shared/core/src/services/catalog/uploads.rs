//! Upload requests: the client gets a presigned PUT bound to the declared size and digest;
//! the bytes go straight to storage and the pipeline takes it from the storage event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::access::{Role, Target};
use crate::domain::audit_action::AuditAction;
use crate::domain::keys::{self, BlobKey, OPEN_UPLOADS, UploadId};
use crate::domain::model::{
    FileRecord, Repository, ScanResult, Upload, UploadStatus, Version, from_item, to_item,
};
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::blobs::MAX_SINGLE_PUT;
use crate::ports::table::{GSI1_PK, GSI1_SK};
use crate::ports::{Condition, ExecutionStatus, Item, PutConstraints, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::catalog::{lookalikes, repositories};
use crate::services::records::audit;
use crate::services::{Context, Error};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    #[schema(
        example = "widget",
        max_length = 214,
        pattern = "^([A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?|@[a-z0-9][a-z0-9._~-]*/[a-z0-9][a-z0-9._~-]*)$"
    )]
    pub package: String,
    #[schema(
        example = "1.2.0",
        max_length = 64,
        pattern = "^[A-Za-z0-9]([A-Za-z0-9._+-]{0,62}[A-Za-z0-9])?$"
    )]
    pub version: String,
    #[schema(
        example = "widget-1.2.0.tar.gz",
        max_length = 255,
        pattern = "^[A-Za-z0-9]([A-Za-z0-9._+-]{0,253}[A-Za-z0-9])?$"
    )]
    pub filename: String,
    /// Exact size of the file in bytes (not empty).
    #[schema(minimum = 1)]
    pub size: u64,
    /// Lower-case hex SHA-256 of the file.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
    /// Upload in parts of this many bytes (5 MiB to 5 GiB, at most 10,000 parts; every
    /// part but the last is this long). Needed for files over 5 GiB.
    #[serde(default)]
    #[schema(example = 16777216)]
    pub part_size: Option<u64>,
    /// With `part_size`: the parts whose URLs to issue now (at most 100; the others
    /// through `POST …/uploads/{upload_id}/parts`).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub parts: Option<Vec<PartRequest>>,
}

/// A part whose URL is wanted, bound to its SHA-256.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartRequest {
    /// 1 for the first part.
    #[schema(minimum = 1, maximum = 10000)]
    pub number: u32,
    /// Lower-case hex SHA-256 of the part's bytes.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadTicket {
    pub upload_id: String,
    /// Where to send the bytes (a single PUT; absent for an upload in parts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "PUT")]
    pub method: Option<String>,
    /// Send exactly these headers with the bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// When the URL (a single PUT) or the whole upload in parts expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// For an upload in parts: how it is cut, and the URLs of the parts asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart: Option<crate::services::catalog::multipart::MultipartTicket>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadView {
    pub upload_id: String,
    pub status: UploadStatus,
    /// Why the upload was rejected, for a person to act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = String)]
    pub repository: RepoName,
    #[schema(value_type = String)]
    pub package: PackageName,
    #[schema(value_type = String)]
    pub version: VersionName,
    #[schema(value_type = String)]
    pub filename: FileName,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Hex,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionView>,
    /// What the Scan step found, once it has run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
    /// For an upload in parts: how it is cut, and the parts storage holds so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart: Option<crate::services::catalog::multipart::MultipartView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: String,
    #[schema(value_type = String, example = "SUCCEEDED")]
    pub status: ExecutionStatus,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    pub state: String,
    #[schema(value_type = String, example = "SUCCEEDED")]
    pub status: ExecutionStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A file about to be uploaded, checked against its repository: what `request` presigns
/// an upload for, and what a package manager's own publish (`services::catalog::publish`)
/// streams.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub repository: Repository,
    /// In the spelling stored: the repository's format may normalise it (PyPI: PEP 503).
    pub package: PackageName,
    pub version: VersionName,
    pub filename: FileName,
    /// What the audit record names.
    pub target: String,
}

/// What a client says it uploads, before any check.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub filename: &'a str,
    /// When already known (a presigned upload declares it; a streamed one learns it).
    pub size: Option<u64>,
}

/// Checks that the caller may upload `filename` as `package` `version` to `repo`, that the
/// repository's format takes it, and that nothing published is in the way. `size`, when
/// already known, is held to the repository's limit.
pub async fn admit(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    proposal: Proposal<'_>,
    action: AuditAction,
) -> Result<Admitted, Error> {
    let Proposal {
        package,
        version,
        filename,
        size,
    } = proposal;
    let repo = RepoName::parse(repo)?;
    // Names that are invalid anywhere are refused before the repository is looked up.
    PackageName::parse(package)?;
    VersionName::parse(version)?;
    FileName::parse(filename)?;
    let repository = repositories::find(ctx, &caller.tenant, &repo).await?;
    // A format stores each package and version under one spelling, and takes only files
    // that name them.
    let (package_text, version_text) = match crate::formats::for_format(repository.format) {
        Some(format) => {
            let named = crate::formats::check_upload(format, package, version, filename)
                .map_err(Error::Invalid)?;
            (named.package, named.version)
        }
        // A scoped name is npm's: a generic repository's packages are one path segment
        // each in the generic routes, which API Gateway would split at the decoded `/`.
        None if package.starts_with('@') => {
            return Err(Error::Invalid(format!(
                "package name {}: scoped names (@scope/name) belong to npm repositories",
                crate::domain::echo::echo(package)
            )));
        }
        None => (package.to_owned(), version.to_owned()),
    };
    let package = PackageName::parse(&package_text)?;
    let version = VersionName::parse(&version_text)?;
    let filename = FileName::parse(filename)?;
    let target = format!("upload/{repo}/{package}/{version}/{filename}");
    if let Err(e) = caller.require(Role::Writer, &Target::Package(&repo, &package), || {
        Error::NotFound(format!("package {package} not found in {repo}"))
    }) {
        audit::denied(ctx, caller, action, &target).await;
        return Err(e);
    }
    if let Some(size) = size
        && size > repository.max_file_size
    {
        return Err(too_large(size, &repository));
    }
    let tenant = &caller.tenant;
    let package_exists = ctx
        .table
        .get(&keys::package(tenant, &repo, &package))
        .await?
        .is_some();
    if !package_exists {
        PackageName::parse_new(&package_text)?;
        if let Some(existing) = lookalikes::package(ctx, tenant, &repository, &package).await? {
            return Err(Error::Conflict(lookalikes::package_refusal(
                &package, &existing,
            )));
        }
    }
    match ctx
        .table
        .get(&keys::version(tenant, &repo, &package, &version))
        .await?
    {
        Some(item) => {
            let existing: Version = from_item(item)?;
            if existing.deleted {
                return Err(Error::Conflict(format!(
                    "version {version} of {package} was deleted; version numbers are never reused"
                )));
            }
        }
        None => {
            VersionName::parse_new(&version_text)?;
            let lookalike =
                lookalikes::version(ctx, tenant, &repository, &package, &version).await?;
            if let Some(existing) = lookalike {
                return Err(Error::Conflict(lookalikes::version_refusal(
                    &package, &version, &existing,
                )));
            }
        }
    }
    if let Some(item) = ctx
        .table
        .get(&keys::file(tenant, &repo, &package, &version, &filename))
        .await?
    {
        let existing: FileRecord = from_item(item)?;
        return Err(Error::Conflict(format!(
            "{filename} of {package} {version} is already published (sha256 {}); published files are immutable",
            existing.sha256
        )));
    }
    FileName::parse_new(filename.as_str())?;
    let lookalike =
        lookalikes::file(ctx, tenant, &repository, &package, &version, &filename).await?;
    if let Some(existing) = lookalike {
        return Err(Error::Conflict(lookalikes::file_refusal(
            &package, &version, &filename, &existing,
        )));
    }

    Ok(Admitted {
        repository,
        package,
        version,
        filename,
        target,
    })
}

impl Admitted {
    /// The new upload of these checked names: `size` bytes with digest `sha256`, waiting for
    /// its bytes (or, when a package manager sent them, for its pipeline).
    pub fn pending(
        self,
        ctx: &Context,
        caller: &Caller,
        upload_id: UploadId,
        size: u64,
        sha256: Sha256Hex,
    ) -> Upload {
        let now = ctx.clock.now();
        Upload {
            upload_id,
            tenant: caller.tenant.clone(),
            repository: self.repository.name,
            repository_id: self.repository.id,
            package: self.package,
            version: self.version,
            filename: self.filename,
            size,
            sha256,
            status: UploadStatus::Pending,
            reason: None,
            execution_id: None,
            created_at: now,
            expires_at: now + ctx.settings.upload_url_ttl,
            updated_at: now,
            scan: None,
            digests: Default::default(),
            multipart: None,
            created_by: Some(caller.principal.clone()),
        }
    }
}

/// What the audit trail names an upload by.
pub fn target_of(upload: &Upload) -> String {
    format!(
        "upload/{}/{}/{}/{}",
        upload.repository, upload.package, upload.version, upload.filename
    )
}

/// Stores a new upload with its audit record (`action`), in one transaction.
pub async fn record(
    ctx: &Context,
    caller: &Caller,
    upload: &Upload,
    action: AuditAction,
    target: &str,
) -> Result<(), Error> {
    let writes = vec![Write::Put {
        item: upload_item(upload)?,
        condition: Some(Condition::NotExists),
    }];
    audit::transact(ctx, caller, action, target, writes).await?;
    Ok(())
}

/// Why a file over the repository's limit is refused.
pub fn too_large(size: u64, repository: &Repository) -> Error {
    Error::TooLarge(format!(
        "file too large: {size} bytes exceeds the repository limit of {} bytes",
        repository.max_file_size
    ))
}

pub async fn request(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    req: CreateUpload,
) -> Result<UploadTicket, Error> {
    if req.part_size.is_some() {
        return crate::services::catalog::multipart::start(ctx, caller, repo, req).await;
    }
    if req.parts.is_some() {
        return Err(Error::Invalid(
            "parts: only an upload in parts (with part_size) has parts".into(),
        ));
    }
    let sha256 = Sha256Hex::parse(&req.sha256)?;
    if req.size == 0 {
        return Err(Error::Invalid(
            "invalid size 0: files must not be empty".into(),
        ));
    }
    if req.size > MAX_SINGLE_PUT {
        return Err(Error::Invalid(format!(
            "a file of {} bytes is over the {MAX_SINGLE_PUT} bytes (5 GiB) of one PUT: upload it in parts (give part_size)",
            req.size
        )));
    }
    let proposal = Proposal {
        package: &req.package,
        version: &req.version,
        filename: &req.filename,
        size: Some(req.size),
    };
    let admitted = admit(ctx, caller, repo, proposal, AuditAction::UploadCreate).await?;
    let target = admitted.target.clone();
    let tenant = &caller.tenant;
    let upload = admitted.pending(ctx, caller, UploadId::new(), req.size, sha256);
    let presigned = ctx
        .blobs
        .presign_put(
            &BlobKey::incoming(tenant, &upload.upload_id),
            &PutConstraints {
                size: upload.size,
                sha256: upload.sha256.to_string(),
                content_type: "application/octet-stream".into(),
            },
            ctx.settings.upload_url_ttl,
        )
        .await?;
    record(ctx, caller, &upload, AuditAction::UploadCreate, &target).await?;
    Ok(UploadTicket {
        upload_id: upload.upload_id.to_string(),
        url: Some(presigned.url),
        method: Some(presigned.method),
        headers: Some(presigned.headers),
        expires_at: presigned.expires_at,
        multipart: None,
    })
}

/// The upload `upload_id` of `repo`, if the caller holds `role` on its package: 404 for
/// whoever may not read it (or when it belongs to an earlier repository of that name). A
/// refusal for want of the role is audited as `denied_as`, when the caller means a change.
pub async fn find(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    upload_id: &str,
    role: Role,
    denied_as: Option<AuditAction>,
) -> Result<Upload, Error> {
    let repo = RepoName::parse(repo)?;
    let not_found =
        || Error::NotFound(format!("upload {upload_id} not found in repository {repo}"));
    let id = UploadId::parse(upload_id).ok_or_else(not_found)?;
    let upload = load(ctx, &caller.tenant, &id)
        .await?
        .ok_or_else(not_found)?;
    if upload.repository != repo {
        return Err(not_found());
    }
    if let Err(e) = caller.require(role, &Target::Package(&repo, &upload.package), not_found) {
        if let Some(action) = denied_as {
            audit::denied(ctx, caller, action, &target_of(&upload)).await;
        }
        return Err(e);
    }
    // An upload belongs to the repository it was accepted for: once that one is deleted,
    // a repository created again under its name does not show it.
    match repositories::find(ctx, &caller.tenant, &repo).await {
        Ok(current) if upload.belongs_to(&current) => Ok(upload),
        Ok(_) | Err(Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e),
    }
}

pub async fn get(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    upload_id: &str,
) -> Result<UploadView, Error> {
    let upload = find(ctx, caller, repo, upload_id, Role::Reader, None).await?;
    view(ctx, upload).await
}

/// What a client is shown of an upload: its state, its execution's steps, and for an
/// upload in parts the parts storage holds.
pub async fn view(ctx: &Context, upload: Upload) -> Result<UploadView, Error> {
    let execution = match &upload.execution_id {
        Some(id) => ctx_execution(ctx, id).await,
        None => None,
    };
    let multipart = crate::services::catalog::multipart::view(ctx, &upload).await?;
    Ok(UploadView {
        upload_id: upload.upload_id.to_string(),
        status: upload.status,
        reason: upload.reason,
        repository: upload.repository,
        package: upload.package,
        version: upload.version,
        filename: upload.filename,
        size: upload.size,
        sha256: upload.sha256,
        created_at: upload.created_at,
        expires_at: upload.expires_at,
        updated_at: upload.updated_at,
        execution,
        scan: upload.scan,
        multipart,
    })
}

async fn ctx_execution(ctx: &Context, id: &str) -> Option<ExecutionView> {
    let execution = match ctx.workflow.describe(id).await {
        Ok(e) => e?,
        Err(e) => {
            tracing::warn!(error = %e, execution = id, "cannot describe execution");
            return None;
        }
    };
    Some(ExecutionView {
        id: execution.id,
        status: execution.status,
        steps: execution
            .steps
            .into_iter()
            .map(|s| StepView {
                state: s.state,
                status: s.status,
                started_at: s.started_at,
                ended_at: s.ended_at,
                error: s.error,
            })
            .collect(),
    })
}

pub async fn load(
    ctx: &Context,
    tenant: &TenantName,
    id: &UploadId,
) -> Result<Option<Upload>, Error> {
    match ctx.table.get(&keys::upload(tenant, id.as_str())).await? {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}

/// The upload's item; open uploads also sit in the index of open uploads, so cleanup and a
/// restarted `trove serve` can find them.
pub fn upload_item(upload: &Upload) -> Result<Item, Error> {
    let mut item = to_item(
        &keys::upload(&upload.tenant, upload.upload_id.as_str()),
        upload,
    )?;
    if upload.status.is_open() {
        item.insert(
            GSI1_PK.into(),
            OPEN_UPLOADS.shard_of(upload.upload_id.as_str()).into(),
        );
        item.insert(
            GSI1_SK.into(),
            format!(
                "{}#{}#{}",
                upload.created_at.unix_timestamp(),
                upload.tenant,
                upload.upload_id
            )
            .into(),
        );
    }
    Ok(item)
}

/// Stores a new state of the upload if nobody changed its status meanwhile.
pub async fn transition(ctx: &Context, from: UploadStatus, upload: &Upload) -> Result<(), Error> {
    match ctx
        .table
        .put(upload_item(upload)?, Some(status_is(from)))
        .await
    {
        Ok(()) => Ok(()),
        Err(TableError::ConditionFailed) => Err(Error::Conflict(format!(
            "upload {} changed concurrently",
            upload.upload_id
        ))),
        Err(e) => Err(e.into()),
    }
}

/// As [`transition`], with `records` (its audit record, its event) in the same transaction.
pub async fn transition_recorded(
    ctx: &Context,
    from: UploadStatus,
    upload: &Upload,
    records: impl IntoIterator<Item = Write>,
) -> Result<(), Error> {
    let mut writes = vec![Write::Put {
        item: upload_item(upload)?,
        condition: Some(status_is(from)),
    }];
    writes.extend(records);
    match ctx.table.transact(writes).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict(format!("upload {} changed concurrently", upload.upload_id)),
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn status_is(status: UploadStatus) -> Condition {
    Condition::Equals(
        "status".into(),
        serde_json::to_value(status).unwrap_or(serde_json::Value::Null),
    )
}
