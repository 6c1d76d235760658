//! Identity and access routes: the caller, tokens, tenants, principals, groups, grants, API
//! keys, the audit trail, the tenant's policy and its OIDC providers. Each route's required
//! permission is in `http::permissions`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::access::Rights;
use crate::domain::ids::{ApiKeyId, GrantId, OidcProviderId, PrincipalId};
use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::api_keys::{self, ApiKey, ApiKeyCreated, CreateApiKey};
use crate::services::access::caller::{Caller, Credential, PrincipalKind};
use crate::services::access::grants::{self, CreateGrant, Grant, GrantCreated, GrantQuery};
use crate::services::access::oidc::OidcProviderConfig;
use crate::services::access::oidc_providers::{self, OidcProvider};
use crate::services::access::principals::{
    self, CreateGroup, CreateServiceAccount, CreateUser, GroupView, Principal,
};
use crate::services::access::tokens::{self, IssuedToken};
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::audit::{self, AuditQuery, AuditRecord};
use crate::services::tenants::{self, CreateTenant, TenantCreated, TenantPolicy, TenantRecord};

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// Who the caller is and what it may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerView {
    #[schema(value_type = String)]
    pub tenant: crate::domain::names::TenantName,
    pub principal: String,
    pub kind: PrincipalKind,
    #[schema(value_type = Object)]
    pub credential: Credential,
    #[schema(value_type = Object)]
    pub rights: Rights,
}

problems!(GetCallerProblems: 401);
#[utoipa::path(operation_id = "get_caller", get, path = "/v1/me", tag = "access",
    responses(
        (status = 200, description = "The caller", body = CallerView),
        GetCallerProblems,
    ))]
pub async fn me(caller: Caller) -> Json<CallerView> {
    Json(CallerView {
        tenant: caller.tenant,
        principal: caller.principal,
        kind: caller.kind,
        credential: caller.credential,
        rights: (*caller.rights).clone(),
    })
}

problems!(IssueTokenProblems: 400 "Not an API key", 401);
#[utoipa::path(operation_id = "issue_token", post, path = "/v1/auth/token", tag = "access",
    responses(
        (status = 200, description = "A short-lived access token", body = IssuedToken),
        IssueTokenProblems,
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<IssuedToken>, ApiError> {
    // A token never outlives the key it is made with.
    let token = tokens::issue_with_key(
        &state.ctx,
        caller.tenant.as_str(),
        &caller.principal,
        &caller.credential,
        caller.expires_at,
        tokens::DEFAULT_TTL,
    )
    .await?;
    Ok(Json(token))
}

problems!(CreateTenantProblems: 400 "Invalid name", 403 "Not a platform admin", 409 "Already exists");
#[utoipa::path(operation_id = "create_tenant", post, path = "/v1/tenants", tag = "access",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "The tenant and its first admin's API key, shown once", body = TenantCreated),
        CreateTenantProblems,
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateTenant>,
) -> Created<TenantCreated> {
    let created = tenants::create(&state.ctx, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

problems!(ListTenantsProblems: 403 "Not a platform admin");
#[utoipa::path(operation_id = "list_tenants", get, path = "/v1/tenants", tag = "access",
    params(PageParams),
    responses(
        (status = 200, description = "A page of tenants", body = PageOf<TenantRecord>),
        ListTenantsProblems,
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<TenantRecord>>, ApiError> {
    Ok(Json(tenants::list(&state.ctx, &page).await?))
}

problems!(CreateUserProblems: 400 "Invalid input", 403 "Not a tenant admin", 409 "Name taken");
#[utoipa::path(operation_id = "create_user", post, path = "/v1/users", tag = "access",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The user", body = Principal),
        CreateUserProblems,
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> Created<Principal> {
    Ok((
        StatusCode::CREATED,
        Json(principals::create_user(&state.ctx, &caller, req).await?),
    ))
}

#[utoipa::path(operation_id = "list_users", get, path = "/v1/users", tag = "access",
    params(PageParams),
    responses((status = 200, description = "A page of users", body = PageOf<Principal>)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Principal>>, ApiError> {
    Ok(Json(
        principals::list(&state.ctx, &caller, PrincipalKind::User, &page).await?,
    ))
}

problems!(CreateServiceAccountProblems: 400 "Invalid input", 409 "Name taken");
#[utoipa::path(operation_id = "create_service_account", post, path = "/v1/service-accounts", tag = "access",
    request_body = CreateServiceAccount,
    responses(
        (status = 201, description = "The service account", body = Principal),
        CreateServiceAccountProblems,
    ))]
pub async fn create_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateServiceAccount>,
) -> Created<Principal> {
    Ok((
        StatusCode::CREATED,
        Json(principals::create_service_account(&state.ctx, &caller, req).await?),
    ))
}

#[utoipa::path(operation_id = "list_service_accounts", get, path = "/v1/service-accounts", tag = "access",
    params(PageParams),
    responses((status = 200, description = "A page of service accounts", body = PageOf<Principal>)))]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Principal>>, ApiError> {
    Ok(Json(
        principals::list(&state.ctx, &caller, PrincipalKind::ServiceAccount, &page).await?,
    ))
}

problems!(CreateGroupProblems: 400 "Invalid input", 409 "Name taken");
#[utoipa::path(operation_id = "create_group", post, path = "/v1/groups", tag = "access",
    request_body = CreateGroup,
    responses(
        (status = 201, description = "The group", body = Principal),
        CreateGroupProblems,
    ))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateGroup>,
) -> Created<Principal> {
    Ok((
        StatusCode::CREATED,
        Json(principals::create_group(&state.ctx, &caller, req).await?),
    ))
}

#[utoipa::path(operation_id = "list_groups", get, path = "/v1/groups", tag = "access",
    params(PageParams),
    responses((status = 200, description = "A page of groups", body = PageOf<Principal>)))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Principal>>, ApiError> {
    Ok(Json(
        principals::list(&state.ctx, &caller, PrincipalKind::Group, &page).await?,
    ))
}

problems!(GetGroupProblems: 404 "No such group");
#[utoipa::path(operation_id = "get_group", get, path = "/v1/groups/{id}", tag = "access",
    params(("id" = String, Path, description = "Group id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32)),
    responses(
        (status = 200, description = "The group and its direct members", body = GroupView),
        GetGroupProblems,
    ))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<PrincipalId>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(
        principals::get_group(&state.ctx, &caller, id.as_str()).await?,
    ))
}

problems!(GetPrincipalProblems: 404 "No such principal");
#[utoipa::path(operation_id = "get_principal", get, path = "/v1/principals/{id}", tag = "access",
    params(("id" = String, Path, description = "Principal id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32)),
    responses(
        (status = 200, description = "The user, service account or group", body = Principal),
        GetPrincipalProblems,
    ))]
pub async fn get_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<PrincipalId>,
) -> Result<Json<Principal>, ApiError> {
    Ok(Json(
        principals::get(&state.ctx, &caller, id.as_str()).await?,
    ))
}

problems!(AddGroupMemberProblems: 404 "No such group or principal", 409 "Would make a cycle");
#[utoipa::path(operation_id = "add_group_member", put, path = "/v1/groups/{id}/members/{principal}", tag = "access",
    params(("id" = String, Path, description = "Group id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32), ("principal" = String, Path, description = "Member's principal id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32)),
    responses(
        (status = 204, description = "A member (again)"),
        AddGroupMemberProblems,
    ))]
pub async fn add_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, principal)): Path<(PrincipalId, PrincipalId)>,
) -> Result<StatusCode, ApiError> {
    principals::add_member(&state.ctx, &caller, id.as_str(), principal.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(RemoveGroupMemberProblems: 404 "Not a member", 409 "It would leave the tenant without an admin who can sign in");
#[utoipa::path(operation_id = "remove_group_member", delete, path = "/v1/groups/{id}/members/{principal}", tag = "access",
    params(("id" = String, Path, description = "Group id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32), ("principal" = String, Path, description = "Member's principal id", pattern = "^(user_|sa_|group_)[0-9a-z]{26}$", max_length = 32)),
    responses(
        (status = 204, description = "No longer a member"),
        RemoveGroupMemberProblems,
    ))]
pub async fn remove_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, principal)): Path<(PrincipalId, PrincipalId)>,
) -> Result<StatusCode, ApiError> {
    principals::remove_member(&state.ctx, &caller, id.as_str(), principal.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(CreateGrantProblems: 400 "Invalid input", 403 "Not an admin of the scope", 404 "No such principal");
#[utoipa::path(operation_id = "create_grant", post, path = "/v1/grants", tag = "access",
    request_body = CreateGrant,
    responses(
        (status = 201, description = "The grant's id", body = GrantCreated),
        CreateGrantProblems,
    ))]
pub async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateGrant>,
) -> Created<GrantCreated> {
    Ok((
        StatusCode::CREATED,
        Json(grants::create(&state.ctx, &caller, req).await?),
    ))
}

#[utoipa::path(operation_id = "list_grants", get, path = "/v1/grants", tag = "access",
    params(GrantQuery),
    responses((status = 200, description = "The grants the caller may see: its own, and those in scopes it administers", body = PageOf<Grant>)))]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GrantQuery>,
) -> Result<Json<PageOf<Grant>>, ApiError> {
    Ok(Json(grants::list(&state.ctx, &caller, &q).await?))
}

problems!(GetGrantProblems: 404 "No such grant, or not visible to the caller");
#[utoipa::path(operation_id = "get_grant", get, path = "/v1/grants/{id}", tag = "access",
    params(("id" = String, Path, description = "Grant id", pattern = "^[0-9a-z]{26}$", max_length = 26)),
    responses(
        (status = 200, description = "The grant", body = Grant),
        GetGrantProblems,
    ))]
pub async fn get_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<GrantId>,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(grants::get(&state.ctx, &caller, id.as_str()).await?))
}

problems!(DeleteGrantProblems: 403 "Not an admin of the grant's scope", 404 "No such grant", 409 "It would leave the tenant without an admin who can sign in");
#[utoipa::path(operation_id = "delete_grant", delete, path = "/v1/grants/{id}", tag = "access",
    params(("id" = String, Path, description = "Grant id", pattern = "^[0-9a-z]{26}$", max_length = 26)),
    responses(
        (status = 204, description = "Revoked"),
        DeleteGrantProblems,
    ))]
pub async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<GrantId>,
) -> Result<StatusCode, ApiError> {
    grants::delete(&state.ctx, &caller, id.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(CreateApiKeyProblems: 400 "Invalid input", 403 "Scopes beyond the owner's rights, or a key for another principal", 404 "No such owner");
#[utoipa::path(operation_id = "create_api_key", post, path = "/v1/api-keys", tag = "access",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key, shown once", body = ApiKeyCreated),
        CreateApiKeyProblems,
    ))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateApiKey>,
) -> Created<ApiKeyCreated> {
    Ok((
        StatusCode::CREATED,
        Json(api_keys::create(&state.ctx, &caller, req).await?),
    ))
}

#[utoipa::path(operation_id = "list_api_keys", get, path = "/v1/api-keys", tag = "access",
    params(PageParams),
    responses((status = 200, description = "The caller's keys (a tenant admin: all)", body = PageOf<ApiKey>)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<ApiKey>>, ApiError> {
    Ok(Json(api_keys::list(&state.ctx, &caller, &page).await?))
}

problems!(RevokeApiKeyProblems: 404 "No such key", 409 "It would leave the tenant without an admin who can sign in");
#[utoipa::path(operation_id = "revoke_api_key", delete, path = "/v1/api-keys/{id}", tag = "access",
    params(("id" = String, Path, description = "Key id", pattern = "^[0-9a-z]{26}$", max_length = 26)),
    responses(
        (status = 204, description = "Revoked"),
        RevokeApiKeyProblems,
    ))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    api_keys::revoke(&state.ctx, &caller, id.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(ListAuditProblems: 400 "Invalid filter");
#[utoipa::path(operation_id = "list_audit", get, path = "/v1/audit", tag = "access",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit records, newest first", body = PageOf<AuditRecord>),
        ListAuditProblems,
    ))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<PageOf<AuditRecord>>, ApiError> {
    Ok(Json(audit::list(&state.ctx, &caller, &q).await?))
}

#[utoipa::path(operation_id = "get_policy", get, path = "/v1/policy", tag = "access",
    responses((status = 200, description = "The tenant's rate limits and IP lists", body = TenantPolicy)))]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantPolicy>, ApiError> {
    Ok(Json(tenants::get_policy(&state.ctx, &caller.tenant).await?))
}

problems!(PutPolicyProblems: 400 "Invalid limits or addresses, or a policy that would lock the caller out");
#[utoipa::path(operation_id = "put_policy", put, path = "/v1/policy", tag = "access",
    request_body = TenantPolicy,
    responses(
        (status = 200, description = "The stored policy (in force within seconds)", body = TenantPolicy),
        PutPolicyProblems,
    ))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Json(policy): Json<TenantPolicy>,
) -> Result<Json<TenantPolicy>, ApiError> {
    let stored = tenants::put_policy(&state.ctx, &caller, policy).await?;
    state.authorizer.policies.forget(&caller.tenant);
    Ok(Json(stored))
}

problems!(CreateOidcProviderProblems: 400 "Invalid configuration", 404 "A rule names a principal that does not exist", 409 "The issuer and audience are taken");
#[utoipa::path(operation_id = "create_oidc_provider", post, path = "/v1/oidc-providers", tag = "access",
    request_body = OidcProviderConfig,
    responses(
        (status = 201, description = "The provider", body = OidcProvider),
        CreateOidcProviderProblems,
    ))]
pub async fn create_oidc_provider(
    State(state): State<AppState>,
    caller: Caller,
    Json(config): Json<OidcProviderConfig>,
) -> Created<OidcProvider> {
    Ok((
        StatusCode::CREATED,
        Json(oidc_providers::create(&state.ctx, &caller, config).await?),
    ))
}

#[utoipa::path(operation_id = "list_oidc_providers", get, path = "/v1/oidc-providers", tag = "access",
    params(PageParams),
    responses((status = 200, description = "A page of providers", body = PageOf<OidcProvider>)))]
pub async fn list_oidc_providers(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<OidcProvider>>, ApiError> {
    Ok(Json(
        oidc_providers::list(&state.ctx, &caller, &page).await?,
    ))
}

problems!(DeleteOidcProviderProblems: 404 "No such provider");
#[utoipa::path(operation_id = "delete_oidc_provider", delete, path = "/v1/oidc-providers/{id}", tag = "access",
    params(("id" = String, Path, description = "Provider id", pattern = "^[0-9a-z]{26}$", max_length = 26)),
    responses(
        (status = 204, description = "Deleted"),
        DeleteOidcProviderProblems,
    ))]
pub async fn delete_oidc_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OidcProviderId>,
) -> Result<StatusCode, ApiError> {
    oidc_providers::delete(&state.ctx, &caller, id.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}
