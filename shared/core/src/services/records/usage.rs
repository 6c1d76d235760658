//! Usage counters: per tenant, repository, package and day (UTC), how often files were
//! downloaded and uploads accepted or refused. One atomic `add` per event, best effort: a
//! count that cannot be written is logged and never fails the request or pipeline step it
//! describes. The daily report reads them back.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::keys;
use crate::domain::names::{PackageName, RepoName, TenantName};
use crate::ports::Item;
use crate::ports::table::TTL_ATTR;
use crate::services::Context;
use crate::services::records::reports::format_date as day;

pub const DOWNLOADS: &str = "downloads";
pub const DOWNLOAD_BYTES: &str = "download_bytes";
pub const UPLOADS_ACCEPTED: &str = "uploads_accepted";
pub const UPLOADS_REJECTED: &str = "uploads_rejected";

/// How long a day's counters stay: a report can be rebuilt for any day of the past year
/// (`--date`), after which DynamoDB's TTL drops the items rather than keeping them for ever.
pub const RETENTION_DAYS: i64 = 400;

/// One package's counters for one day, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageUsage {
    pub package: PackageName,
    #[serde(default)]
    pub downloads: u64,
    #[serde(default)]
    pub download_bytes: u64,
    #[serde(default)]
    pub uploads_accepted: u64,
    #[serde(default)]
    pub uploads_rejected: u64,
}

/// Counts `counters` for the package today (UTC), logging instead of failing.
pub async fn count(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    package: &PackageName,
    counters: &[(&str, i64)],
) {
    let now = ctx.clock.now().to_offset(time::UtcOffset::UTC);
    let shard = rand::random::<u8>();
    let key = keys::usage(tenant, repo, &day(now.date()), package, shard);
    let mut attrs = Item::new();
    attrs.insert("package".into(), package.as_str().into());
    attrs.insert(TTL_ATTR.into(), expires_at(now.date()).into());
    if let Err(e) = ctx.table.add(&key, counters, attrs).await {
        tracing::warn!(error = %e, %tenant, repository = %repo, "usage not counted");
    }
}

/// Every package's counters in one repository on one day, its shards summed, by package
/// name.
pub async fn of_day(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    date: Date,
) -> Result<Vec<PackageUsage>, crate::services::Error> {
    let mut shards = Vec::new();
    for partition in keys::usage_partitions(tenant, repo, &day(date)) {
        let query = crate::ports::Query::new(partition);
        for item in crate::ports::table::query_all(ctx.table.as_ref(), query).await? {
            shards.push(crate::domain::model::from_item(item)?);
        }
    }
    Ok(summed(shards))
}

/// One `PackageUsage` per package: the sum of its shards, in package order.
fn summed(shards: Vec<PackageUsage>) -> Vec<PackageUsage> {
    let mut by_package: std::collections::BTreeMap<String, PackageUsage> = Default::default();
    for shard in shards {
        match by_package.entry(shard.package.as_str().to_owned()) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(shard);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let total = slot.get_mut();
                total.downloads += shard.downloads;
                total.download_bytes += shard.download_bytes;
                total.uploads_accepted += shard.uploads_accepted;
                total.uploads_rejected += shard.uploads_rejected;
            }
        }
    }
    by_package.into_values().collect()
}

/// Unix seconds at which a day's counters may go: the end of that day plus the retention.
fn expires_at(date: Date) -> i64 {
    let end_of_day = date.midnight().assume_utc() + time::Duration::days(1);
    (end_of_day + time::Duration::days(RETENTION_DAYS)).unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(package: &str, downloads: u64, bytes: u64) -> PackageUsage {
        PackageUsage {
            package: PackageName::parse(package).expect("package"),
            downloads,
            download_bytes: bytes,
            uploads_accepted: 0,
            uploads_rejected: downloads % 2,
        }
    }

    #[test]
    fn a_packages_shards_add_up_and_packages_stay_apart() {
        let totals = summed(vec![
            usage("gadget", 3, 30),
            usage("widget", 1, 10),
            usage("gadget", 2, 20),
            usage("gadget", 5, 50),
        ]);
        assert_eq!(
            totals,
            vec![
                PackageUsage {
                    uploads_rejected: 2,
                    ..usage("gadget", 10, 100)
                },
                usage("widget", 1, 10),
            ]
        );
    }

    #[test]
    fn counters_expire_a_retention_after_their_day_ends() {
        let date = Date::from_calendar_date(2026, time::Month::November, 23).expect("date");
        let ends = date.next_day().expect("date").midnight().assume_utc();
        assert_eq!(
            expires_at(date),
            ends.unix_timestamp() + RETENTION_DAYS * 86_400
        );
    }
}
