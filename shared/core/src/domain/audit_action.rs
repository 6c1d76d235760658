//! What the audit trail says was done (`AuditRecord::action`): the services record these,
//! the permission table names the one each mutating route records. The strings are stored
//! and filtered on (`GET /v1/audit?action=`), so they never change.

super::vocabulary! {
    pub enum AuditAction {
        RepositoryCreate = "repository.create",
        RepositoryDelete = "repository.delete",
        RepositoryRetentionUpdate = "repository.retention.update",
        RepositoryScanPolicyUpdate = "repository.scan_policy.update",
        UploadCreate = "upload.create",
        /// An upload in parts joined into its file (the pipeline takes it from there).
        UploadComplete = "upload.complete",
        UploadCancel = "upload.cancel",
        /// A package manager's own upload (twine's): the bytes come with the request.
        UploadPublish = "upload.publish",
        /// The pipeline published an upload's file (actor: the system, on behalf of the
        /// uploader; no route records it).
        FilePublish = "file.publish",
        /// The pipeline refused an upload, with the reason (no route records it).
        UploadReject = "upload.reject",
        VersionDelete = "version.delete",
        VersionPin = "version.pin",
        VersionUnpin = "version.unpin",
        /// The version's tags and labels replaced (`PUT …/labels`).
        VersionLabel = "version.labels.update",
        /// A release or one file of it (the record's target names the file).
        VersionYank = "version.yank",
        VersionUnyank = "version.unyank",
        /// A dist-tag set on a package, or moved (npm's `dist-tag add`); the target names it.
        PackageTagSet = "package.tag.set",
        PackageTagRemove = "package.tag.remove",
        TenantCreate = "tenant.create",
        /// `trove admin reset-admin` / the operator job: no route records it.
        TenantResetAdmin = "tenant.reset_admin",
        UserCreate = "user.create",
        ServiceAccountCreate = "service_account.create",
        GroupCreate = "group.create",
        GroupMemberAdd = "group.member.add",
        GroupMemberRemove = "group.member.remove",
        GrantCreate = "grant.create",
        GrantDelete = "grant.delete",
        ApiKeyCreate = "api_key.create",
        ApiKeyRevoke = "api_key.revoke",
        PolicyUpdate = "policy.update",
        OidcProviderCreate = "oidc_provider.create",
        OidcProviderDelete = "oidc_provider.delete",
        WebhookCreate = "webhook.create",
        WebhookUpdate = "webhook.update",
        WebhookDelete = "webhook.delete",
        WebhookPing = "webhook.ping",
        WebhookRedeliver = "webhook.redeliver",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_has_its_own_string() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
    }
}
