//! First start: the tenant `default` and its admin API key.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::keys;
use crate::domain::model::to_item;
use crate::domain::names::TenantName;
use crate::ports::{Condition, TableError, Write};
use crate::services::{Context, Error, auth};

pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: TenantName,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates `tenant` with a new admin key unless it exists. The key is handed to `keep`
/// *before* it is stored, so a crash in between never leaves a tenant whose only key was
/// lost. Returns the new key when one was created.
pub async fn ensure_tenant(
    ctx: &Context,
    tenant: &TenantName,
    keep: impl FnOnce(&str) -> std::io::Result<()>,
) -> Result<Option<String>, Error> {
    if ctx.table.get(&keys::tenant(tenant)).await?.is_some() {
        return Ok(None);
    }
    let key = auth::generate_key();
    keep(&key).map_err(|e| Error::Internal(format!("cannot keep the admin key: {e}")))?;
    let record = TenantRecord {
        name: tenant.clone(),
        created_at: ctx.clock.now(),
    };
    let writes = vec![
        Write::Put {
            item: to_item(&keys::tenant(tenant), &record)?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(&keys::tenant_listing(tenant), &record)?,
            condition: None,
        },
        Write::Put {
            item: auth::admin_key_item(ctx, tenant, &key, "bootstrap-admin")?,
            condition: Some(Condition::NotExists),
        },
    ];
    match ctx.table.transact(writes).await {
        Ok(()) => Ok(Some(key)),
        Err(TableError::TransactionCanceled { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
