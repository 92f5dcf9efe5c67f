//! The metrics of one app, in its own registry (so that apps in one
//! process, as in tests, never mix their figures).
//!
//! Counters and histograms are updated as things happen; the gauges of
//! things the database or other processes hold (the pool, the task queue,
//! the open sockets) are set by the `/metrics` handler just before it
//! encodes, so a scrape always reads the present.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Adds metrics of the app's own to its registry (`App::metrics`).
pub(crate) type Registration = Arc<dyn Fn(&mut Registry) + Send + Sync>;

/// The labels of a request: its method, its route template (never the raw
/// path, which would make a series per id) and its status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    method: String,
    route: String,
}

/// A state of the database pool's connections: `in_use` or `idle`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PoolLabels {
    pub(crate) state: &'static str,
}

/// The tasks of one kind in one status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TaskLabels {
    pub(crate) kind: String,
    pub(crate) status: String,
}

/// The tasks of one kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub(crate) kind: String,
}

/// A cache and whether a lookup found its entry (`hit`) or not (`miss`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLabels {
    pub(crate) cache: &'static str,
    pub(crate) result: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms, doubling, to about 8 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The metrics of one app.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    /// The pool's connections, by state.
    pub(crate) pool: Family<PoolLabels, Gauge>,
    /// Tasks queued, running and failed, by kind.
    pub(crate) tasks: Family<TaskLabels, Gauge>,
    /// Seconds since the oldest due task of each kind could have started.
    pub(crate) oldest_queued: Family<KindLabels, Gauge<f64, AtomicU64>>,
    /// Open `/ws` sockets in this process.
    pub(crate) sockets: Gauge,
    /// Notifications written by this process.
    pub(crate) notifications_sent: Counter,
    /// Cache lookups, by cache and result.
    pub(crate) cache_lookups: Family<CacheLabels, Counter>,
    /// Held by the scrape that sets the gauges and encodes.
    pub(crate) scraping: tokio::sync::Mutex<()>,
}

impl Metrics {
    /// The framework's metrics, then those `own` registers.
    pub(crate) fn new(own: &[Registration]) -> Metrics {
        let metrics = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            pool: Family::default(),
            tasks: Family::default(),
            oldest_queued: Family::default(),
            sockets: Gauge::default(),
            notifications_sent: Counter::default(),
            cache_lookups: Family::default(),
            scraping: tokio::sync::Mutex::new(()),
        };
        let mut registry = Registry::default();
        let framework = registry.sub_registry_with_prefix("fastsaas");
        framework.register("http_requests", "HTTP requests answered", metrics.requests.clone());
        framework.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response's head",
            metrics.latency.clone(),
        );
        framework.register("db_connections", "Connections of the database pool, by state", metrics.pool.clone());
        framework.register("tasks", "Tasks queued, running and failed, by kind", metrics.tasks.clone());
        framework.register(
            "tasks_oldest_queued_age_seconds",
            "How long the oldest due task of each kind has waited for a worker",
            metrics.oldest_queued.clone(),
        );
        framework.register("websocket_connections", "Open /ws sockets in this process", metrics.sockets.clone());
        framework.register(
            "notifications_sent",
            "Notifications written for their recipients by this process",
            metrics.notifications_sent.clone(),
        );
        framework.register("cache_lookups", "Cache lookups, by cache and result", metrics.cache_lookups.clone());
        for register in own {
            register(&mut registry);
        }
        Metrics { registry, ..metrics }
    }

    /// Counts a request answered with `status` after `seconds`.
    pub(crate) fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.latency.get_or_create(&RouteLabels { method: method.clone(), route: route.clone() }).observe(seconds);
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// Every metric, in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
