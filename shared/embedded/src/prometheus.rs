//! `trove serve`'s metrics: the Prometheus recorder, rendered at `GET /metrics` in the text
//! exposition format. No listener of its own: the route joins the server's router.
//!
//! The route asks for no credential, as scrapers expect; it shows route templates, outcomes
//! and counts, nothing of any tenant. Bind `trove serve` where only trusted scrapers reach
//! it (the default listen address is loopback).

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub use metrics_exporter_prometheus::PrometheusRecorder;

/// Latency buckets, seconds: from a cached read to a slow transaction.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A recorder rendering `*_seconds` histograms with buckets (summaries otherwise).
pub fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .build_recorder())
}

/// Installs the recorder for the whole process and keeps it tidy (histogram upkeep) from a
/// background task. Call once, inside the Tokio runtime, before serving.
pub fn install() -> Result<PrometheusHandle, String> {
    let recorder = recorder().map_err(|e| e.to_string())?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| "a metrics recorder is already installed".to_owned())?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response() }
        }),
    )
}
