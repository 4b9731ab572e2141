//! The operator's Prometheus metrics and health endpoints: `/metrics`
//! (applications by state, reconcile counts, errors and durations, submission
//! latency, leadership, requests to the API server), `/healthz` (the process serves) and `/readyz` (it
//! reconciles: leader with its controllers started, or a standby waiting for
//! the lease). `prometheus-client` keeps the metrics and writes the
//! OpenMetrics text format; axum serves the three paths.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::warn;

use super::api_calls::ApiCalls;
use super::outcomes::Outcomes;
use crate::application::ApplicationStateType;

/// Upper bounds (seconds) of the histogram buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The one label of the per-state metrics.
type StateLabel = [(&'static str, &'static str); 1];

/// The operator's metrics, shared by the controllers and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `namespace/name` -> state; the gauge is recomputed from it on each
    /// scrape, so a forgotten application leaves no series behind.
    states: Mutex<BTreeMap<String, ApplicationStateType>>,
    applications: Family<StateLabel, Gauge>,
    transitions: Family<StateLabel, Counter>,
    reconciles: Counter,
    errors: Counter,
    reconcile_seconds: Histogram,
    submission_seconds: Histogram,
    leader: Gauge,
    ready: AtomicBool,
    /// Job outcomes under kubeflow's names.
    pub outcomes: Outcomes,
    /// Requests to the API server (counted by the client's layer).
    pub api_calls: ApiCalls,
}

impl Default for Metrics {
    fn default() -> Self {
        // Kubeflow's names at the root, the operator's own below its prefix.
        let mut root = Registry::default();
        let outcomes = Outcomes::register(&mut root);
        let registry = root.sub_registry_with_prefix("kiln_operator");
        let applications = Family::<StateLabel, Gauge>::default();
        let transitions = Family::<StateLabel, Counter>::default();
        let reconciles = Counter::default();
        let errors = Counter::default();
        let reconcile_seconds = Histogram::new(BUCKETS);
        let submission_seconds = Histogram::new(BUCKETS);
        let leader = Gauge::default();
        let api_calls = ApiCalls::default();
        api_calls.register(registry);
        registry.register(
            "applications",
            "Applications by state",
            applications.clone(),
        );
        registry.register(
            "transitions",
            "State transitions, by new state",
            transitions.clone(),
        );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register("reconcile_errors", "Reconciles that failed", errors.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Time per reconcile",
            reconcile_seconds.clone(),
        );
        registry.register(
            "submission_latency_seconds",
            "From application creation to its driver pod created",
            submission_seconds.clone(),
        );
        registry.register(
            "leader",
            "1 when this instance holds the lease",
            leader.clone(),
        );
        Metrics {
            registry: root,
            states: Mutex::default(),
            applications,
            transitions,
            reconciles,
            errors,
            reconcile_seconds,
            submission_seconds,
            leader,
            ready: AtomicBool::new(false),
            outcomes,
            api_calls,
        }
    }
}

impl Metrics {
    fn states(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ApplicationStateType>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One reconcile took `d`; `ok` unless it returned an error.
    pub fn reconciled(&self, d: Duration, ok: bool) {
        self.reconciles.inc();
        if !ok {
            self.errors.inc();
        }
        self.reconcile_seconds.observe(d.as_secs_f64());
    }

    /// An application is in `state` now.
    pub fn set_state(&self, key: String, state: ApplicationStateType) {
        self.states().insert(key, state);
    }

    /// An application is gone.
    pub fn forget(&self, key: &str) {
        self.states().remove(key);
    }

    /// A transition into `to` happened.
    pub fn transition(&self, to: ApplicationStateType) {
        self.transitions
            .get_or_create(&[("state", to.as_str())])
            .inc();
    }

    /// The first driver pod of an application was created `d` after the
    /// application itself.
    pub fn submitted(&self, d: Duration) {
        self.submission_seconds.observe(d.as_secs_f64());
    }

    /// Marks the operator ready (or not) for `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Records whether this instance holds the lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        // Held while the gauge is rebuilt and written, so two scrapes at
        // once do not see each other's half-rebuilt family.
        let states = self.states();
        let mut by_state: BTreeMap<&'static str, i64> = BTreeMap::new();
        let mut running: BTreeMap<&str, i64> = BTreeMap::new();
        for (key, s) in states.iter() {
            *by_state.entry(s.as_str()).or_default() += 1;
            if *s == ApplicationStateType::Running {
                let ns = key.split_once('/').map(|(ns, _)| ns).unwrap_or_default();
                *running.entry(ns).or_default() += 1;
            }
        }
        self.applications.clear();
        for (s, n) in by_state {
            self.applications.get_or_create(&[("state", s)]).set(n);
        }
        self.outcomes.running.clear();
        for (ns, n) in running {
            self.outcomes
                .running
                .get_or_create(&[("namespace", ns.to_string())])
                .set(n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        if let Err(e) = encode(&mut out, &self.registry) {
            warn!("encoding the metrics: {e}");
        }
        out
    }
}

async fn metrics_page(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

async fn readyz(State(m): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    if m.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// The three paths; anything else is 404.
fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(metrics)
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until the task is
/// dropped. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!("metrics server on {bound}: {e}");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn renders_states_and_histograms() {
        let m = Metrics::default();
        m.set_state("a/x".into(), ApplicationStateType::Running);
        m.set_state("a/y".into(), ApplicationStateType::Running);
        m.set_state("b/z".into(), ApplicationStateType::Completed);
        m.forget("b/z");
        m.reconciled(Duration::from_millis(20), true);
        m.reconciled(Duration::from_millis(3), false);
        m.submitted(Duration::from_millis(400));
        m.transition(ApplicationStateType::Suspended);
        m.set_leader(true);
        let text = m.render();
        assert!(
            text.contains("kiln_operator_applications{state=\"RUNNING\"} 2\n"),
            "{text}"
        );
        assert!(!text.contains("COMPLETED"), "{text}");
        assert!(
            text.contains("kiln_operator_reconciles_total 2\n"),
            "{text}"
        );
        assert!(text.contains("kiln_operator_reconcile_errors_total 1\n"));
        assert!(text.contains("kiln_operator_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("kiln_operator_reconcile_duration_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("kiln_operator_submission_latency_seconds_count 1\n"));
        assert!(text.contains("kiln_operator_transitions_total{state=\"SUSPENDED\"} 1\n"));
        assert!(text.contains("kiln_operator_leader 1\n"), "{text}");
        assert!(
            text.contains("spark_application_running_count{namespace=\"a\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn outcomes_use_kubeflows_names() {
        use crate::application::SparkApplicationStatus;
        let m = Metrics::default();
        let at = |t: &str| -> k8s_openapi::jiff::Timestamp { t.parse().unwrap() };
        let status = |state: ApplicationStateType, submitted: Option<&str>| {
            let mut s = SparkApplicationStatus::default();
            s.application_state.state = state;
            s.last_submission_attempt_time =
                submitted.map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(t)));
            s
        };
        let o = &m.outcomes;
        let new = status(ApplicationStateType::New, None);
        let submitted = status(
            ApplicationStateType::Submitted,
            Some("2025-01-01T00:00:00Z"),
        );
        o.transition(
            "team",
            None,
            None,
            &new,
            &submitted,
            at("2025-01-01T00:00:00Z"),
        );
        let done = status(
            ApplicationStateType::Completed,
            Some("2025-01-01T00:00:00Z"),
        );
        o.transition(
            "team",
            None,
            Some("nightly"),
            &submitted,
            &done,
            at("2025-01-01T00:00:42Z"),
        );
        let failed = status(ApplicationStateType::Failed, Some("2025-01-01T00:00:00Z"));
        o.transition(
            "team",
            None,
            None,
            &submitted,
            &failed,
            at("2025-01-01T00:00:07Z"),
        );
        // A retry of the same application is another submission, not another application.
        o.transition(
            "team",
            None,
            None,
            &submitted,
            &submitted,
            at("2025-01-01T00:01:00Z"),
        );
        let text = m.render();
        for want in [
            "spark_application_count{namespace=\"team\"} 1\n",
            "spark_application_submit_count{namespace=\"team\"} 2\n",
            "spark_application_success_count{namespace=\"team\"} 1\n",
            "spark_application_failure_count{namespace=\"team\"} 1\n",
            "spark_application_success_execution_time_seconds_sum{namespace=\"team\"} 42.0\n",
            "spark_application_failure_execution_time_seconds_count{namespace=\"team\"} 1\n",
            "spark_scheduled_application_last_success_timestamp_seconds{namespace=\"team\",scheduled_app=\"nightly\"} 1735689642.0\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(
            text.ends_with("# EOF\n"),
            "one OpenMetrics document: {text}"
        );
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    /// One GET over a real socket; returns the status line and the body.
    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        (
            head.lines().next().unwrap_or("").to_string(),
            body.to_string(),
        )
    }

    #[tokio::test]
    async fn serves_metrics_and_readiness() {
        let m = Arc::new(Metrics::default());
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), m.clone())
            .await
            .unwrap();
        assert!(get(addr, "/readyz").await.0.contains("503"));
        m.set_ready(true);
        assert!(get(addr, "/readyz").await.0.contains("200"));
        assert!(get(addr, "/healthz").await.0.contains("200"));
        assert!(get(addr, "/nope").await.0.contains("404"));
        m.reconciled(Duration::from_millis(1), true);
        let (status, body) = get(addr, "/metrics").await;
        assert!(status.contains("200"), "{status}");
        assert!(
            body.contains("kiln_operator_reconciles_total 1\n"),
            "{body}"
        );
        task.abort();
    }
}
