//! First start: the tenant `default`, whose admins are the platform's, and its first admin.

use crate::domain::names::TenantName;
use crate::services::{Context, Error, tenants};

pub const DEFAULT_TENANT: &str = "default";

/// Creates `tenant` with an admin user, its tenant-wide admin grant and an API key, unless
/// the tenant exists. The key reaches `keep` before it is stored. Returns the new key.
pub async fn ensure_tenant(
    ctx: &Context,
    tenant: &TenantName,
    keep: impl FnOnce(&str) -> std::io::Result<()>,
) -> Result<Option<String>, Error> {
    tenants::ensure(ctx, tenant, keep).await
}
