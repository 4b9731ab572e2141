//! The operator's Prometheus metrics and health endpoints: `/metrics` in the
//! text exposition format (applications by state, reconcile counts, errors
//! and durations, submission latency), `/healthz` (the process serves) and
//! `/readyz` (it reconciles: leader with its controllers started, or a
//! standby waiting for the lease). A few lines of HTTP/1.1 over tokio keep
//! this free of a web framework.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::application::ApplicationStateType;

/// Upper bounds (seconds) of the histogram buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, name: &str, out: &mut String) {
        for (i, b) in BUCKETS.iter().enumerate() {
            out.push_str(&format!("{name}_bucket{{le=\"{b}\"}} {}\n", self.counts[i]));
        }
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {}\n", self.count));
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {}\n",
            self.sum, self.count
        ));
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// `namespace/name` -> state, for the gauge.
    states: BTreeMap<String, ApplicationStateType>,
    reconciles: u64,
    errors: u64,
    reconcile_seconds: Histogram,
    submission_seconds: Histogram,
    transitions: BTreeMap<&'static str, u64>,
}

/// The operator's metrics, shared by the controllers and the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    ready: AtomicBool,
    leader: AtomicBool,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One reconcile took `d`; `ok` unless it returned an error.
    pub fn reconciled(&self, d: Duration, ok: bool) {
        let mut i = self.lock();
        i.reconciles += 1;
        if !ok {
            i.errors += 1;
        }
        i.reconcile_seconds.observe(d.as_secs_f64());
    }

    /// An application is in `state` now.
    pub fn set_state(&self, key: String, state: ApplicationStateType) {
        self.lock().states.insert(key, state);
    }

    /// An application is gone.
    pub fn forget(&self, key: &str) {
        self.lock().states.remove(key);
    }

    /// A transition into `to` happened.
    pub fn transition(&self, to: ApplicationStateType) {
        *self.lock().transitions.entry(to.as_str()).or_default() += 1;
    }

    /// The first driver pod of an application was created `d` after the
    /// application itself.
    pub fn submitted(&self, d: Duration) {
        self.lock().submission_seconds.observe(d.as_secs_f64());
    }

    /// Marks the operator ready (or not) for `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Records whether this instance holds the lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let i = self.lock();
        let mut out = String::new();
        out.push_str("# HELP kiln_operator_applications Applications by state.\n");
        out.push_str("# TYPE kiln_operator_applications gauge\n");
        let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
        for s in i.states.values() {
            *by_state.entry(s.as_str()).or_default() += 1;
        }
        for (s, n) in by_state {
            out.push_str(&format!(
                "kiln_operator_applications{{state=\"{s}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP kiln_operator_transitions_total State transitions, by new state.\n");
        out.push_str("# TYPE kiln_operator_transitions_total counter\n");
        for (s, n) in &i.transitions {
            out.push_str(&format!(
                "kiln_operator_transitions_total{{state=\"{s}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP kiln_operator_reconciles_total Reconciles run.\n");
        out.push_str("# TYPE kiln_operator_reconciles_total counter\n");
        out.push_str(&format!(
            "kiln_operator_reconciles_total {}\n",
            i.reconciles
        ));
        out.push_str("# HELP kiln_operator_reconcile_errors_total Reconciles that failed.\n");
        out.push_str("# TYPE kiln_operator_reconcile_errors_total counter\n");
        out.push_str(&format!(
            "kiln_operator_reconcile_errors_total {}\n",
            i.errors
        ));
        out.push_str("# HELP kiln_operator_reconcile_duration_seconds Time per reconcile.\n");
        out.push_str("# TYPE kiln_operator_reconcile_duration_seconds histogram\n");
        i.reconcile_seconds
            .render("kiln_operator_reconcile_duration_seconds", &mut out);
        out.push_str("# HELP kiln_operator_submission_latency_seconds From application creation to its driver pod created.\n");
        out.push_str("# TYPE kiln_operator_submission_latency_seconds histogram\n");
        i.submission_seconds
            .render("kiln_operator_submission_latency_seconds", &mut out);
        out.push_str("# HELP kiln_operator_leader 1 when this instance holds the lease.\n");
        out.push_str("# TYPE kiln_operator_leader gauge\n");
        out.push_str(&format!(
            "kiln_operator_leader {}\n",
            u8::from(self.leader.load(Ordering::Relaxed))
        ));
        out
    }
}

/// Serves `/metrics` (when `metrics`) and/or `/healthz`, `/readyz` on `addr`
/// until the task is dropped. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (mut sock, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    warn!("metrics listener: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                // Read the request head (a GET has no body worth reading).
                while n < buf.len() {
                    match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf[n..]))
                        .await
                    {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = respond(path, &metrics);
                debug!(path, status, "http");
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok((bound, task))
}

fn respond(path: &str, metrics: &Metrics) -> (&'static str, String) {
    match path.split('?').next().unwrap_or(path) {
        "/metrics" => ("200 OK", metrics.render()),
        "/healthz" => ("200 OK", "ok\n".into()),
        "/readyz" => {
            if metrics.ready.load(Ordering::Relaxed) {
                ("200 OK", "ok\n".into())
            } else {
                ("503 Service Unavailable", "not ready\n".into())
            }
        }
        _ => ("404 Not Found", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = m.render();
        assert!(
            text.contains("kiln_operator_applications{state=\"RUNNING\"} 2\n"),
            "{text}"
        );
        assert!(!text.contains("COMPLETED"), "{text}");
        assert!(text.contains("kiln_operator_reconciles_total 2\n"));
        assert!(text.contains("kiln_operator_reconcile_errors_total 1\n"));
        assert!(text.contains("kiln_operator_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("kiln_operator_reconcile_duration_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("kiln_operator_submission_latency_seconds_count 1\n"));
    }

    #[test]
    fn readiness_follows_the_flag() {
        let m = Metrics::default();
        assert_eq!(respond("/readyz", &m).0, "503 Service Unavailable");
        m.set_ready(true);
        assert_eq!(respond("/readyz", &m).0, "200 OK");
        assert_eq!(respond("/healthz", &m).0, "200 OK");
        assert_eq!(respond("/nope", &m).0, "404 Not Found");
    }
}
