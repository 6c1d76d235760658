//! The Lambda functions' metrics: CloudWatch Embedded Metric Format. The recorder adds up
//! what an invocation emits; `flush` prints it to stdout as EMF JSON lines, which the Lambda
//! log stream turns into CloudWatch metrics (namespace `Trove`, labels as dimensions) with no
//! API call on the request path.
//!
//! One line per distinct label set (EMF gives a line's dimensions one value each): counters
//! as the increase since the last flush, gauges as their last value, histograms as the
//! values recorded (at most 100 per line, as EMF allows).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "Trove";

/// EMF's limit on the values of one metric in one line.
const MAX_VALUES: usize = 100;

type Labels = Vec<(String, String)>;

#[derive(Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// The gauge's f64 bits; `None` until first set.
#[derive(Default)]
struct GaugeCell(Mutex<Option<f64>>);

impl GaugeCell {
    fn update(&self, f: impl FnOnce(f64) -> f64) {
        let mut value = lock(&self.0);
        *value = Some(f(value.unwrap_or(0.0)));
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

#[derive(Default)]
struct HistogramCell(Mutex<Vec<f64>>);

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        lock(&self.0).push(value);
    }
}

#[derive(Default)]
struct Series {
    counters: HashMap<String, Arc<CounterCell>>,
    gauges: HashMap<String, Arc<GaugeCell>>,
    histograms: HashMap<String, Arc<HistogramCell>>,
}

/// The recorder: every series by label set, then by name.
#[derive(Default)]
pub struct Emf {
    series: Mutex<BTreeMap<Labels, Series>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain numbers, whole after every update: a panic while holding one loses nothing.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn labels(key: &Key) -> Labels {
    let mut labels: Labels = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    labels
}

/// CloudWatch's unit, from the metric's name suffix (the naming convention every metric
/// here follows).
fn unit(name: &str) -> &'static str {
    if name.ends_with("_seconds") {
        "Seconds"
    } else if name.ends_with("_total") {
        "Count"
    } else if name.ends_with("_bytes") {
        "Bytes"
    } else {
        "None"
    }
}

impl Emf {
    pub fn new() -> Self {
        Self::default()
    }

    /// The EMF documents of everything recorded since the last call, stamped with
    /// `timestamp_ms` (milliseconds since the epoch); resets counters and histograms.
    pub fn drain(&self, timestamp_ms: i64) -> Vec<Value> {
        let series = lock(&self.series);
        let mut documents = Vec::new();
        for (labels, s) in series.iter() {
            let mut values: Vec<(&str, Value)> = Vec::new();
            for (name, c) in &s.counters {
                let n = c.0.swap(0, Ordering::Relaxed);
                if n > 0 {
                    values.push((name, json!(n)));
                }
            }
            for (name, g) in &s.gauges {
                if let Some(v) = *lock(&g.0) {
                    values.push((name, json!(v)));
                }
            }
            let mut samples: Vec<(&str, Vec<f64>)> = s
                .histograms
                .iter()
                .map(|(name, h)| (name.as_str(), std::mem::take(&mut *lock(&h.0))))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            // Counters and gauges go in the first line; histograms' values spill over into
            // further lines a hundred at a time.
            loop {
                for (name, v) in &mut samples {
                    let rest = v.split_off(v.len().min(MAX_VALUES));
                    let chunk = std::mem::replace(v, rest);
                    if !chunk.is_empty() {
                        values.push((name, json!(chunk)));
                    }
                }
                if values.is_empty() {
                    break;
                }
                values.sort_by(|a, b| a.0.cmp(b.0));
                documents.push(document(labels, &values, timestamp_ms));
                values.clear();
            }
        }
        documents
    }
}

fn document(labels: &Labels, values: &[(&str, Value)], timestamp_ms: i64) -> Value {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": unit(name)}))
        .collect();
    let dimensions: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics,
            }],
        }),
    );
    for (k, v) in labels {
        doc.insert(k.clone(), Value::String(v.clone()));
    }
    for (name, value) in values {
        doc.insert((*name).to_owned(), value.clone());
    }
    Value::Object(doc)
}

impl Recorder for Emf {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut series = lock(&self.series);
        let cell = series
            .entry(labels(key))
            .or_default()
            .counters
            .entry(key.name().to_owned())
            .or_default();
        Counter::from_arc(Arc::clone(cell))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut series = lock(&self.series);
        let cell = series
            .entry(labels(key))
            .or_default()
            .gauges
            .entry(key.name().to_owned())
            .or_default();
        Gauge::from_arc(Arc::clone(cell))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut series = lock(&self.series);
        let cell = series
            .entry(labels(key))
            .or_default()
            .histograms
            .entry(key.name().to_owned())
            .or_default();
        Histogram::from_arc(Arc::clone(cell))
    }
}

static GLOBAL: OnceLock<Emf> = OnceLock::new();

/// Installs the EMF recorder for the whole process; call once at cold start. Fails if a
/// recorder is already installed.
pub fn install() -> Result<(), String> {
    let emf = GLOBAL.get_or_init(Emf::new);
    metrics::set_global_recorder(emf)
        .map_err(|_| "a metrics recorder is already installed".to_owned())
}

/// Prints what the invocation recorded, one EMF line each, to stdout; call at the end of
/// every invocation. Does nothing unless `install` ran.
pub fn flush() {
    let Some(emf) = GLOBAL.get() else { return };
    let now = time::OffsetDateTime::now_utc();
    let timestamp_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let documents = emf.drain(timestamp_ms);
    if documents.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for doc in documents {
        // Metrics are best effort: a closed stdout loses them, never the invocation.
        let _ = writeln!(out, "{doc}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(docs: &'a [Value], label: (&str, &str)) -> &'a Value {
        docs.iter()
            .find(|d| d[label.0] == label.1)
            .unwrap_or_else(|| panic!("no document with {label:?} in {docs:?}"))
    }

    #[test]
    fn one_line_per_label_set_with_namespace_dimensions_and_values() {
        let emf = Emf::new();
        metrics::with_local_recorder(&emf, || {
            let get = [("route", "/v1/repositories/{repo}"), ("method", "GET")];
            metrics::counter!("trove_http_requests_total", "route" => get[0].1, "method" => "GET", "status_class" => "2xx").increment(2);
            metrics::counter!("trove_http_requests_total", "route" => get[0].1, "method" => "GET", "status_class" => "2xx").increment(1);
            metrics::counter!("trove_http_requests_total", "route" => get[0].1, "method" => "GET", "status_class" => "4xx").increment(1);
            metrics::histogram!("trove_http_request_duration_seconds", &get).record(0.25);
            metrics::histogram!("trove_http_request_duration_seconds", &get).record(0.5);
            metrics::gauge!("trove_table_circuit_state").set(2.0);
        });
        let docs = emf.drain(1_700_000_000_000);
        assert_eq!(docs.len(), 4, "{docs:#?}");

        let ok = docs
            .iter()
            .find(|d| d["status_class"] == "2xx")
            .expect("2xx line");
        let directive = &ok["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(ok["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "Trove");
        assert_eq!(
            directive["Dimensions"],
            json!([["method", "route", "status_class"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "trove_http_requests_total", "Unit": "Count"}])
        );
        assert_eq!(ok["trove_http_requests_total"], 3);
        assert_eq!(ok["route"], "/v1/repositories/{repo}");
        assert_eq!(ok["method"], "GET");

        let latency = docs
            .iter()
            .find(|d| d.get("trove_http_request_duration_seconds").is_some())
            .expect("latency line");
        assert_eq!(
            latency["trove_http_request_duration_seconds"],
            json!([0.25, 0.5])
        );
        assert_eq!(
            latency["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "trove_http_request_duration_seconds", "Unit": "Seconds"}])
        );
        assert_eq!(
            latency["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["method", "route"]])
        );

        let gauge = docs
            .iter()
            .find(|d| d.get("trove_table_circuit_state").is_some())
            .expect("gauge line");
        assert_eq!(
            gauge["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(gauge["trove_table_circuit_state"], 2.0);
        assert_eq!(
            find(&docs, ("status_class", "4xx"))["trove_http_requests_total"],
            1
        );
    }

    #[test]
    fn a_flush_reports_what_happened_since_the_last_one() {
        let emf = Emf::new();
        let record = || {
            metrics::with_local_recorder(&emf, || {
                metrics::counter!("trove_pipeline_outcomes_total", "outcome" => "published")
                    .increment(1);
            })
        };
        record();
        assert_eq!(emf.drain(0)[0]["trove_pipeline_outcomes_total"], 1);
        assert!(emf.drain(0).is_empty(), "nothing new, nothing printed");
        record();
        record();
        assert_eq!(emf.drain(0)[0]["trove_pipeline_outcomes_total"], 2);
    }

    #[test]
    fn histograms_spill_over_a_hundred_values_per_line() {
        let emf = Emf::new();
        metrics::with_local_recorder(&emf, || {
            for i in 0..250 {
                metrics::histogram!("trove_webhook_delivery_seconds").record(f64::from(i));
            }
        });
        let docs = emf.drain(0);
        let sizes: Vec<usize> = docs
            .iter()
            .map(|d| {
                d["trove_webhook_delivery_seconds"]
                    .as_array()
                    .expect("values")
                    .len()
            })
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        let total: f64 = docs
            .iter()
            .flat_map(|d| {
                d["trove_webhook_delivery_seconds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| v.as_f64())
            .sum();
        assert_eq!(total, (0..250).map(f64::from).sum::<f64>());
    }
}
