//! First start: the tenant `default`, whose admins are the platform's. Its first admin is
//! made by `tenants::ensure`.

pub const DEFAULT_TENANT: &str = "default";
