//! The one place table keys and blob keys are built. Names are validated (no `#`; a `/`
//! only inside an npm scoped package name, which no blob key holds), so each key is
//! unambiguous and tenant-prefixed.

use std::fmt;

use crate::domain::canonical::Canonical;
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::table::Key;

/// A sparse index partition that every tenant writes to, cut into [`INDEX_SHARDS`]
/// partitions (`NAME#0` to `NAME#f`): one DynamoDB partition takes about 1,000 writes a
/// second, and an index that falls behind throttles writes to the table itself, for every
/// tenant at once. A writer puts an item in the shard its id picks; readers walk every shard,
/// and the unsharded name as well (items written before the index was cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardedIndex(&'static str);

/// Shards of each [`ShardedIndex`].
pub const INDEX_SHARDS: u8 = 16;

impl ShardedIndex {
    /// The partition of the item of `id`: the first hex digit of the id's SHA-256, so ids
    /// with a common prefix or a time order still spread evenly, and always to the same one.
    pub fn shard_of(self, id: &str) -> String {
        shard(self.0, hash_nibble(id))
    }

    /// Every partition a reader walks, the unsharded one first.
    pub fn partitions(self) -> impl Iterator<Item = String> {
        with_shards(self.0, INDEX_SHARDS).into_iter()
    }
}

/// The first hex digit of `id`'s SHA-256 (0 to 15): ids with a common prefix or a time order
/// still spread evenly over shards, and always to the same one.
fn hash_nibble(id: &str) -> u8 {
    use sha2::Digest as _;
    sha2::Sha256::digest(id.as_bytes())[0] >> 4
}

/// Shard `n` of the partition `base`: `base#<n in hex>`.
fn shard(base: &str, n: u8) -> String {
    format!("{base}#{n:x}")
}

/// What a reader of a sharded partition walks: `base` itself (what was written before it
/// was cut), then its `count` shards.
fn with_shards(base: &str, count: u8) -> Vec<String> {
    std::iter::once(base.to_owned())
        .chain((0..count).map(|n| shard(base, n)))
        .collect()
}

/// Items that are open uploads (secondary index, sparse).
pub const OPEN_UPLOADS: ShardedIndex = ShardedIndex("OPEN_UPLOADS");
/// Content blobs cleanup may collect: no file references them, or their collection has
/// begun (secondary index, sparse).
pub const COLLECTABLE_BLOBS: ShardedIndex = ShardedIndex("COLLECTABLE_BLOBS");
/// Partition of running local workflow executions (secondary index, sparse).
pub const RUNNING_EXECUTIONS: &str = "RUNNING_EXECUTIONS";

pub fn tenant(t: &TenantName) -> Key {
    Key::new(format!("TENANT#{t}"), "TENANT")
}

/// Partition of all tenants (for platform-wide jobs).
pub fn tenants_partition() -> &'static str {
    "TENANTS"
}

pub fn tenant_listing(t: &TenantName) -> Key {
    Key::new(tenants_partition(), format!("T#{t}"))
}

pub fn api_key(hash_hex: &str) -> Key {
    Key::new(format!("APIKEY#{hash_hex}"), "APIKEY")
}

pub fn repos_partition(t: &TenantName) -> String {
    format!("T#{t}#REPOS")
}

pub fn repo(t: &TenantName, r: &RepoName) -> Key {
    Key::new(repos_partition(t), format!("R#{r}"))
}

pub fn packages_partition(t: &TenantName, r: &RepoName) -> String {
    format!("T#{t}#R#{r}#PKGS")
}

pub const PACKAGE_SK_PREFIX: &str = "P#";

pub fn package(t: &TenantName, r: &RepoName, p: &PackageName) -> Key {
    Key::new(packages_partition(t, r), format!("{PACKAGE_SK_PREFIX}{p}"))
}

/// Claims a package name's canonical form (`domain::canonical`) in a repository for the
/// spelling first published, so two look-alike names cannot both be created, even at once.
/// Claims stay when the repository is deleted, as its deleted versions' markers do: a
/// repository created again under that name keeps the spelling, and with it the markers.
pub fn package_name_claim(t: &TenantName, r: &RepoName, canonical: &Canonical) -> Key {
    Key::new(format!("T#{t}#R#{r}#PKGNAME#{canonical}"), "PKGNAME")
}

pub fn versions_partition(t: &TenantName, r: &RepoName, p: &PackageName) -> String {
    format!("T#{t}#R#{r}#P#{p}#VERS")
}

pub fn version(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName) -> Key {
    Key::new(versions_partition(t, r, p), format!("V#{v}"))
}

pub fn files_partition(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName) -> String {
    format!("T#{t}#R#{r}#P#{p}#V#{v}#FILES")
}

pub fn file(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName, f: &FileName) -> Key {
    Key::new(files_partition(t, r, p, v), format!("F#{f}"))
}

pub fn upload(t: &TenantName, upload_id: &str) -> Key {
    Key::new(format!("T#{t}#UPLOAD#{upload_id}"), "UPLOAD")
}

/// How many files, across all tenants, reference the content blob (see
/// `services::catalog::blob_refs`).
pub fn blob_ref(sha256: &Sha256Hex) -> Key {
    Key::new(format!("BLOB#{sha256}"), "BLOB")
}

pub fn execution(name: &str) -> Key {
    Key::new(format!("EXEC#{name}"), "EXEC")
}

/// Partition of everything about one principal (user, service account or group): its
/// profile (`PROFILE`), its grants (`GRANT#<id>`), the groups it belongs to
/// (`MEMBEROF#<group>`) and, for a group, its members (`MEMBER#<principal>`). Resolving a
/// caller's rights is one query per principal or group on the way up.
pub fn principal_partition(t: &TenantName, principal: &str) -> String {
    format!("T#{t}#P#{principal}")
}

pub const PROFILE_SK: &str = "PROFILE";
pub const GRANT_SK_PREFIX: &str = "GRANT#";
pub const MEMBER_OF_SK_PREFIX: &str = "MEMBEROF#";
pub const MEMBER_SK_PREFIX: &str = "MEMBER#";

pub fn principal(t: &TenantName, principal: &str) -> Key {
    Key::new(principal_partition(t, principal), PROFILE_SK)
}

/// Partition listing a tenant's principals (one small item each).
pub fn principals_partition(t: &TenantName) -> String {
    format!("T#{t}#PRINCIPALS")
}

pub fn principal_listing(t: &TenantName, principal: &str) -> Key {
    Key::new(principals_partition(t), format!("P#{principal}"))
}

/// Makes a principal's name unique per tenant and kind.
pub fn principal_name(t: &TenantName, kind: &str, name: &str) -> Key {
    Key::new(format!("T#{t}#PNAME#{kind}#{name}"), "PNAME")
}

pub fn principal_grant(t: &TenantName, principal: &str, grant_id: &str) -> Key {
    Key::new(
        principal_partition(t, principal),
        format!("{GRANT_SK_PREFIX}{grant_id}"),
    )
}

pub fn member_of(t: &TenantName, member: &str, group: &str) -> Key {
    Key::new(
        principal_partition(t, member),
        format!("{MEMBER_OF_SK_PREFIX}{group}"),
    )
}

pub fn group_member(t: &TenantName, group: &str, member: &str) -> Key {
    Key::new(
        principal_partition(t, group),
        format!("{MEMBER_SK_PREFIX}{member}"),
    )
}

/// Partition listing a tenant's grants by id (for `GET`/`DELETE /v1/grants/{id}`).
pub fn grants_partition(t: &TenantName) -> String {
    format!("T#{t}#GRANTS")
}

pub fn grant(t: &TenantName, grant_id: &str) -> Key {
    Key::new(grants_partition(t), format!("G#{grant_id}"))
}

/// An API key's record, found by the key's public id (the lookup prefix inside the key).
pub fn api_key_by_id(key_id: &str) -> Key {
    Key::new(format!("APIKEY#{key_id}"), "APIKEY")
}

/// Secondary-index partition listing a tenant's API keys.
pub fn api_keys_index(t: &TenantName) -> String {
    format!("T#{t}#APIKEYS")
}

/// A tenant's admin guard: a revision every change that can take admin rights away bumps
/// in its transaction, so two such changes never both pass the last-admin check.
pub fn admin_guard(t: &TenantName) -> Key {
    Key::new(format!("TENANT#{t}"), "ADMIN_GUARD")
}

/// A tenant's access policy: rate limits and IP allow / block lists.
pub fn tenant_policy(t: &TenantName) -> Key {
    Key::new(format!("TENANT#{t}"), "POLICY")
}

/// An external OIDC issuer trusted by a tenant, listed under the tenant.
pub fn oidc_providers_partition(t: &TenantName) -> String {
    format!("T#{t}#OIDC")
}

pub fn oidc_provider(t: &TenantName, provider_id: &str) -> Key {
    Key::new(oidc_providers_partition(t), format!("O#{provider_id}"))
}

/// Global lookup from a token's (issuer, audience) to the one tenant provider that accepts
/// it; the pair is hashed because issuers are URLs.
pub fn oidc_audience(issuer: &str, audience: &str) -> Key {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{issuer}\n{audience}").as_bytes());
    Key::new(format!("OIDC#{}", hex::encode(digest)), "OIDC")
}

/// Audit records of a tenant, ordered by their ULID (time first) within each of
/// [`AUDIT_SHARDS`] partitions (`T#t#AUDIT#0` to `#3`, by the record id's SHA-256): every
/// change a tenant makes writes a record, and one partition takes about 1,000 writes a
/// second. Readers merge the shards by id, and the unsharded partition written before the
/// cut with them.
pub fn audit_partition(t: &TenantName) -> String {
    format!("T#{t}#AUDIT")
}

/// Shards of a tenant's audit trail.
pub const AUDIT_SHARDS: u8 = 4;

/// Every partition of a tenant's audit trail, the unsharded one first.
pub fn audit_partitions(t: &TenantName) -> Vec<String> {
    with_shards(&audit_partition(t), AUDIT_SHARDS)
}

pub fn audit(t: &TenantName, record_id: &str) -> Key {
    Key::new(
        shard(&audit_partition(t), hash_nibble(record_id) % AUDIT_SHARDS),
        audit_sort_key(record_id),
    )
}

/// The sort key of an audit record, in every shard: its id after `A#`, so a key range is a
/// time range.
pub fn audit_sort_key(record_id: &str) -> String {
    format!("A#{record_id}")
}

/// The transactional outbox: each domain event is written with the change it announces, in
/// the same transaction, and waits here until the relay has handed it to the events bus
/// (`outbox`). [`OUTBOX_SHARDS`] partitions (`OUTBOX#0` to `#3`, by the event id's SHA-256)
/// shared by every tenant, sorted by the event's ULID, so a key range is a time range.
pub const OUTBOX_PREFIX: &str = "OUTBOX#";

/// Shards of the outbox.
pub const OUTBOX_SHARDS: u8 = 4;

const OUTBOX: &str = "OUTBOX";

/// Where the event of `event_id` waits for the relay.
pub fn outbox(event_id: &str) -> Key {
    Key::new(
        shard(OUTBOX, hash_nibble(event_id) % OUTBOX_SHARDS),
        event_id,
    )
}

/// Every partition of the outbox.
pub fn outbox_partitions() -> Vec<String> {
    (0..OUTBOX_SHARDS).map(|n| shard(OUTBOX, n)).collect()
}

/// Usage counters of one repository on one day (UTC, `YYYY-MM-DD`), one item per package
/// and shard. A count lands in one of [`USAGE_SHARDS`] partitions picked at random
/// (`NAME#0` to `NAME#7`): one item takes about 1,000 writes a second, so a popular package's
/// downloads spread over as many items and partitions, and the report sums a package's
/// shards. The unsharded partition holds what was counted before the cut.
pub fn usage_partition(t: &TenantName, r: &RepoName, date: &str) -> String {
    format!("T#{t}#R#{r}#USAGE#{date}")
}

/// Shards of one repository's usage counters for a day.
pub const USAGE_SHARDS: u8 = 8;

/// Every partition of a repository's counters for a day, the unsharded one first.
pub fn usage_partitions(t: &TenantName, r: &RepoName, date: &str) -> Vec<String> {
    with_shards(&usage_partition(t, r, date), USAGE_SHARDS)
}

/// A package's counters for a day in shard `n` (taken modulo [`USAGE_SHARDS`]).
pub fn usage(t: &TenantName, r: &RepoName, date: &str, p: &PackageName, n: u8) -> Key {
    Key::new(
        shard(&usage_partition(t, r, date), n % USAGE_SHARDS),
        format!("{PACKAGE_SK_PREFIX}{p}"),
    )
}

/// A tenant's daily reports, newest last in sort order (`R#YYYY-MM-DD`).
pub fn reports_partition(t: &TenantName) -> String {
    format!("T#{t}#REPORTS")
}

pub const REPORT_SK_PREFIX: &str = "R#";

pub fn report(t: &TenantName, date: &str) -> Key {
    Key::new(reports_partition(t), format!("{REPORT_SK_PREFIX}{date}"))
}

/// A shared token bucket (rate limits), named by what it limits.
pub fn rate_bucket(bucket: &str) -> Key {
    Key::new(format!("RL#{bucket}"), "RL")
}

/// A tenant's webhooks: one query finds every subscription an event may match.
pub fn webhooks_partition(t: &TenantName) -> String {
    format!("T#{t}#WEBHOOKS")
}

pub fn webhook(t: &TenantName, webhook_id: &str) -> Key {
    Key::new(webhooks_partition(t), format!("W#{webhook_id}"))
}

/// A webhook's deliveries, ordered by their ULID (newest last; listed descending).
pub fn deliveries_partition(t: &TenantName, webhook_id: &str) -> String {
    format!("T#{t}#W#{webhook_id}#DELIVERIES")
}

pub fn delivery(t: &TenantName, webhook_id: &str, delivery_id: &str) -> Key {
    Key::new(
        deliveries_partition(t, webhook_id),
        format!("D#{delivery_id}"),
    )
}

/// Deliveries still to be attempted (secondary index, sparse), sorted by when their next
/// attempt is due within each shard; the sweeps walk it.
pub const PENDING_DELIVERIES: ShardedIndex = ShardedIndex("PENDING_DELIVERIES");

/// Sort key in [`PENDING_DELIVERIES`]: due time first (zero-padded milliseconds).
pub fn pending_delivery_sk(due_unix_ms: i64, delivery_id: &str) -> String {
    format!("{:016}#{delivery_id}", due_unix_ms.max(0))
}

/// The search index of a tenant (`services::search::index`): one partition per way in
/// (`NAME`, `REPO#<repo>`, `PUB`, `BY#<principal>`, `WORD`, `SHA`, `TAG#<tag>`,
/// `LABEL#<key>`), each item an entry of one version (of one file, under `SHA`) written in
/// the transaction that publishes or labels it, so every query starts from a key range.
pub fn search_partition(t: &TenantName, way: &str) -> String {
    format!("T#{t}#SEARCH#{way}")
}

/// Milliseconds since the epoch, counted down from the year 2286, so that an ascending
/// range query meets the newest first.
pub fn newest_first(unix_ms: i64) -> String {
    const LAST_MS: i64 = 9_999_999_999_999;
    format!("{:013}", (LAST_MS - unix_ms.clamp(0, LAST_MS)))
}

/// An object key in blob storage. Built only here, or parsed from a storage event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// Where a presigned upload lands: unique per upload, never a final key.
    pub fn incoming(t: &TenantName, upload_id: &UploadId) -> Self {
        Self(format!("incoming/{t}/{upload_id}"))
    }
    /// Content-addressed home of published bytes.
    pub fn content(sha256: &Sha256Hex) -> Self {
        Self(format!("blobs/sha256/{sha256}"))
    }
    /// A published file's core metadata (PEP 658), beside its bytes: the same bytes give
    /// the same metadata, and the file's blob is collected with it.
    pub fn core_metadata(sha256: &Sha256Hex) -> Self {
        Self(format!("blobs/sha256/{sha256}.metadata"))
    }
    pub fn quarantine(t: &TenantName, upload_id: &UploadId) -> Self {
        Self(format!("quarantine/{t}/{upload_id}"))
    }
    /// Prefix of every upload's landing key.
    pub const INCOMING_PREFIX: &'static str = "incoming/";
    /// Prefix of a tenant's refused uploads.
    pub fn quarantine_prefix(t: &TenantName) -> String {
        format!("quarantine/{t}/")
    }
    /// The (tenant, upload) of a `quarantine/` key.
    pub fn parse_quarantine(key: &str) -> Option<(TenantName, UploadId)> {
        let rest = key.strip_prefix("quarantine/")?;
        let (t, id) = rest.split_once('/')?;
        Some((TenantName::parse(t).ok()?, UploadId::parse(id)?))
    }
    /// A file of a tenant's daily report; `date` is `YYYY-MM-DD`, `file` a plain file name.
    pub fn report(t: &TenantName, date: &str, file: &str) -> Self {
        Self(format!("reports/{t}/{date}/{file}"))
    }
    /// A key the test suites and contract checks use freely.
    pub fn scratch(name: &str) -> Self {
        Self(format!("scratch/{name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The (tenant, upload) of an `incoming/` key, as named in a storage event.
    pub fn parse_incoming(key: &str) -> Option<(TenantName, UploadId)> {
        let rest = key.strip_prefix("incoming/")?;
        let (t, id) = rest.split_once('/')?;
        Some((TenantName::parse(t).ok()?, UploadId::parse(id)?))
    }
    /// Accepts a stored key as-is if it has a known shape (used by the local blob endpoint).
    pub fn from_stored(key: &str) -> Option<Self> {
        let ok = key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
        let known = [
            "incoming/",
            "blobs/sha256/",
            "quarantine/",
            "scratch/",
            "reports/",
        ];
        (ok && known.iter().any(|p| key.starts_with(p))).then(|| Self(key.to_owned()))
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upload id: a ULID, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UploadId(String);

impl UploadId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new().to_string().to_ascii_lowercase())
    }
    pub fn parse(s: &str) -> Option<Self> {
        ulid::Ulid::from_string(s)
            .ok()
            .map(|_| Self(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn sharded_index_items_spread_over_every_shard_and_stay_put() {
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..1600 {
            let id = format!("01jd{i:022}");
            let shard = OPEN_UPLOADS.shard_of(&id);
            assert_eq!(shard, OPEN_UPLOADS.shard_of(&id), "stable");
            *counts.entry(shard).or_insert(0) += 1;
        }
        let partitions: Vec<String> = OPEN_UPLOADS.partitions().collect();
        assert_eq!(partitions.len(), usize::from(INDEX_SHARDS) + 1);
        assert_eq!(
            partitions[0], "OPEN_UPLOADS",
            "items written before the cut"
        );
        // Every shard used, none with more than twice its share, and readers walk them all.
        assert_eq!(counts.len(), usize::from(INDEX_SHARDS));
        for (shard, n) in &counts {
            assert!(partitions.contains(shard), "{shard} is never read");
            assert!((50..=200).contains(n), "{shard}: {n} of 1600");
        }
    }
    use super::*;

    #[test]
    fn outbox_entries_spread_over_the_partitions_the_relay_reads() {
        let read = outbox_partitions();
        assert_eq!(read.len(), usize::from(OUTBOX_SHARDS));
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..400 {
            let id = format!("01JD{i:022}");
            let key = outbox(&id);
            assert_eq!(key, outbox(&id), "stable");
            assert_eq!(key.sk, id, "sorted by the event's ULID");
            assert!(key.pk.starts_with(OUTBOX_PREFIX), "{}", key.pk);
            *counts.entry(key.pk).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), usize::from(OUTBOX_SHARDS));
        for (pk, n) in &counts {
            assert!(read.contains(pk), "{pk} is never relayed");
            assert!((50..=150).contains(n), "{pk}: {n} of 400");
        }
    }

    #[test]
    fn audit_records_spread_over_the_shards_a_reader_merges_and_stay_put() {
        let t = TenantName::parse("acme").expect("valid");
        let read = audit_partitions(&t);
        assert_eq!(read.len(), usize::from(AUDIT_SHARDS) + 1);
        assert_eq!(read[0], "T#acme#AUDIT", "written before the cut");
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..400 {
            let id = format!("01jd{i:022}");
            let key = audit(&t, &id);
            assert_eq!(key, audit(&t, &id), "stable");
            assert_eq!(key.sk, format!("A#{id}"));
            assert!(read.contains(&key.pk), "{} is never read", key.pk);
            *counts.entry(key.pk).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), usize::from(AUDIT_SHARDS), "{counts:?}");
        assert!(
            counts.values().all(|n| (50..=150).contains(n)),
            "{counts:?}"
        );
    }

    #[test]
    fn usage_counts_land_in_a_shard_the_report_reads() {
        let t = TenantName::parse("acme").expect("valid");
        let r = RepoName::parse("libs").expect("valid");
        let p = PackageName::parse("gadget").expect("valid");
        let read = usage_partitions(&t, &r, "2026-03-10");
        assert_eq!(read.len(), usize::from(USAGE_SHARDS) + 1);
        assert_eq!(
            read[0], "T#acme#R#libs#USAGE#2026-03-10",
            "counted before the cut"
        );
        let written: std::collections::BTreeSet<String> = (0..=u8::MAX)
            .map(|shard| usage(&t, &r, "2026-03-10", &p, shard).pk)
            .collect();
        assert_eq!(written.len(), usize::from(USAGE_SHARDS));
        assert!(written.iter().all(|pk| read.contains(pk)), "{written:?}");
    }

    #[test]
    fn incoming_keys_round_trip() {
        let t = TenantName::parse("acme").expect("valid");
        let id = UploadId::new();
        let key = BlobKey::incoming(&t, &id);
        assert_eq!(BlobKey::parse_incoming(key.as_str()), Some((t, id)));
        assert_eq!(BlobKey::parse_incoming("incoming/acme/not-a-ulid"), None);
        assert_eq!(BlobKey::parse_incoming("blobs/sha256/abc"), None);
    }

    #[test]
    fn stored_keys_refuse_traversal() {
        assert!(BlobKey::from_stored("incoming/acme/../../etc/passwd").is_none());
        assert!(BlobKey::from_stored("/etc/passwd").is_none());
        assert!(BlobKey::from_stored("other/x").is_none());
        assert!(BlobKey::from_stored("blobs/sha256/abcd").is_some());
        let t = TenantName::parse("acme").expect("valid");
        let report = BlobKey::report(&t, "2026-03-10", "report.json");
        assert_eq!(report.as_str(), "reports/acme/2026-03-10/report.json");
        assert_eq!(BlobKey::from_stored(report.as_str()), Some(report));
    }

    #[test]
    fn keys_are_tenant_prefixed() {
        let a = TenantName::parse("a").expect("valid");
        let r = RepoName::parse("r").expect("valid");
        assert!(repo(&a, &r).pk.starts_with("T#a#"));
        assert!(packages_partition(&a, &r).starts_with("T#a#"));
    }
}
