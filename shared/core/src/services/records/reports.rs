//! A tenant's daily reports, as the report job recorded them, with short-lived links to
//! their files. The job (`crate::jobs::report`) writes; these routes only read.

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::keys::{self, BlobKey};
use crate::domain::model::from_item;
use crate::domain::names::TenantName;
use crate::ports::Query;
use crate::services::access::caller::Caller;
use crate::services::pagination::{self, PageOf, PageParams};
use crate::services::records::figures::Figures;
use crate::services::{Context, Error};

/// A report as recorded under `T#<tenant>#REPORTS` / `R#<date>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// `YYYY-MM-DD` (UTC): the day the usage figures count.
    pub date: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub files: Vec<ReportFile>,
    pub summary: ReportTotals,
}

/// One file of a report, stored under `reports/<tenant>/<date>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// The tenant's figures, summed over its repositories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTotals {
    pub repositories: u64,
    #[serde(flatten)]
    pub figures: Figures,
    pub stale_grants: u64,
    pub stale_api_keys: u64,
}

impl ToSchema for ReportTotals {}

impl PartialSchema for ReportTotals {
    /// One flat object with the counters' properties inline, as the JSON is (a derived
    /// schema would describe the flattened counters as an `allOf`).
    fn schema() -> RefOr<Schema> {
        let count = || u64::schema();
        let mut object = ObjectBuilder::new()
            .description(Some("The tenant's figures, summed over its repositories."))
            .property("repositories", count())
            .required("repositories");
        if let RefOr::T(Schema::Object(figures)) = Figures::schema() {
            for name in Figures::NAMES {
                if let Some(property) = figures.properties.get(name) {
                    object = object.property(name, property.clone()).required(name);
                }
            }
        }
        object
            .property("stale_grants", count())
            .required("stale_grants")
            .property("stale_api_keys", count())
            .required("stale_api_keys")
            .into()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportFileView {
    #[schema(example = "report.csv")]
    pub name: String,
    #[schema(example = "text/csv")]
    pub content_type: String,
    pub size: u64,
    /// A presigned GET of the file, valid until `expires_at`.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    #[schema(example = "2026-03-10")]
    pub date: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub files: Vec<ReportFileView>,
    pub summary: ReportTotals,
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

/// `YYYY-MM-DD`, the form dates take in keys, paths and answers.
pub fn format_date(date: Date) -> String {
    date.format(DATE).unwrap_or_else(|_| date.to_string())
}

/// Parses a `YYYY-MM-DD` date from a client; anything else is `Invalid`.
pub fn parse_date(text: &str) -> Result<Date, Error> {
    Date::parse(text, DATE)
        .ok()
        .filter(|d| format_date(*d) == text)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "invalid date {}: use YYYY-MM-DD",
                crate::domain::echo::echo(text)
            ))
        })
}

/// The caller's tenant's reports, newest first.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    page: &PageParams,
) -> Result<PageOf<ReportView>, Error> {
    let query = Query::new(keys::reports_partition(&caller.tenant))
        .begins_with(keys::REPORT_SK_PREFIX)
        .descending()
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let records = pagination::fetch::<ReportRecord>(ctx.table.as_ref(), &query).await?;
    let mut items = Vec::with_capacity(records.items.len());
    for record in records.items {
        items.push(view(ctx, &caller.tenant, record).await?);
    }
    Ok(PageOf {
        items,
        next_cursor: records.next_cursor,
    })
}

pub async fn get(ctx: &Context, caller: &Caller, date: &str) -> Result<ReportView, Error> {
    let date = format_date(parse_date(date)?);
    let item = ctx
        .table
        .get(&keys::report(&caller.tenant, &date))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no report for {date}")))?;
    view(ctx, &caller.tenant, from_item(item)?).await
}

async fn view(
    ctx: &Context,
    tenant: &TenantName,
    record: ReportRecord,
) -> Result<ReportView, Error> {
    let mut files = Vec::with_capacity(record.files.len());
    for file in record.files {
        let link = ctx
            .blobs
            .presign_get(
                &BlobKey::report(tenant, &record.date, &file.name),
                ctx.settings.report_url_ttl,
                Some(&file.name),
            )
            .await?;
        files.push(ReportFileView {
            name: file.name,
            content_type: file.content_type,
            size: file.size,
            url: link.url,
            expires_at: link.expires_at,
        });
    }
    Ok(ReportView {
        date: record.date,
        generated_at: record.generated_at,
        files,
        summary: record.summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict() {
        let d = parse_date("2026-03-10").expect("valid");
        assert_eq!(format_date(d), "2026-03-10");
        for bad in [
            "",
            "2026-3-10",
            "2026-02-30",
            "20260310",
            "2026-03-10T00:00",
            "../x",
            "+2026-03-10",
        ] {
            assert!(matches!(parse_date(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }
}
