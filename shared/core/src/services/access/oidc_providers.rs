//! External OIDC issuers a tenant trusts (CI systems publishing without stored secrets).
//! Each (issuer, audience) pair belongs to one tenant, so a token names its tenant by its
//! audience.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::TenantName;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::caller::{Caller, PrincipalKind};
use crate::services::access::oidc::OidcProviderConfig;
use crate::services::access::principals;
use crate::services::pagination::{self, PageOf, PageParams};
use crate::services::records::audit;
use crate::services::{Context, Error};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OidcProvider {
    pub id: String,
    #[schema(value_type = String)]
    pub tenant: TenantName,
    #[serde(flatten)]
    pub config: OidcProviderConfig,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

pub async fn create(
    ctx: &Context,
    caller: &Caller,
    config: OidcProviderConfig,
) -> Result<OidcProvider, Error> {
    config.validate(ctx.settings.allow_http_jwks)?;
    for rule in &config.rules {
        match principals::find(ctx, &caller.tenant, &rule.principal).await? {
            Some(p) if p.kind != PrincipalKind::Group => {}
            Some(_) => {
                return Err(Error::Invalid(format!(
                    "rule principal {} is a group; map tokens to a user or service account",
                    rule.principal
                )));
            }
            None => {
                return Err(Error::NotFound(format!(
                    "principal {} not found",
                    rule.principal
                )));
            }
        }
    }
    let provider = OidcProvider {
        id: ulid::Ulid::new().to_string().to_ascii_lowercase(),
        tenant: caller.tenant.clone(),
        config,
        created_at: ctx.clock.now(),
        created_by: caller.principal.clone(),
    };
    let writes = vec![
        Write::Put {
            item: to_item(
                &keys::oidc_audience(&provider.config.issuer, &provider.config.audience),
                &provider,
            )?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(
                &keys::oidc_provider(&caller.tenant, &provider.id),
                &provider,
            )?,
            condition: Some(Condition::NotExists),
        },
    ];
    let target = format!("oidc_provider/{}", provider.id);
    match audit::transact(
        ctx,
        caller,
        AuditAction::OidcProviderCreate,
        &target,
        writes,
    )
    .await
    {
        Ok(()) => Ok(provider),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::Conflict(format!(
                "tokens of {} for audience {} are already accepted by a provider; use another audience",
                provider.config.issuer, provider.config.audience
            )))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    ctx: &Context,
    caller: &Caller,
    page: &PageParams,
) -> Result<PageOf<OidcProvider>, Error> {
    let query = Query::new(keys::oidc_providers_partition(&caller.tenant))
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    pagination::fetch(ctx.table.as_ref(), &query).await
}

pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<(), Error> {
    let not_found = || Error::NotFound(format!("OIDC provider {id} not found"));
    if ulid::Ulid::from_string(id).is_err() {
        return Err(not_found());
    }
    let item = ctx
        .table
        .get(&keys::oidc_provider(&caller.tenant, id))
        .await?
        .ok_or_else(not_found)?;
    let provider: OidcProvider = from_item(item)?;
    let writes = vec![
        Write::Delete {
            key: keys::oidc_provider(&caller.tenant, id),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: keys::oidc_audience(&provider.config.issuer, &provider.config.audience),
            condition: None,
        },
    ];
    match audit::transact(
        ctx,
        caller,
        AuditAction::OidcProviderDelete,
        &format!("oidc_provider/{id}"),
        writes,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The provider that accepts tokens of `issuer` for `audience`, if a tenant configured one.
pub async fn by_audience(
    ctx: &Context,
    issuer: &str,
    audience: &str,
) -> Result<Option<OidcProvider>, Error> {
    match ctx
        .table
        .get(&keys::oidc_audience(issuer, audience))
        .await?
    {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}
