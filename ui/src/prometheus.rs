//! Prometheus metrics (OpenMetrics text, `prometheus-client`): the driver's,
//! counted from its event stream (jobs, stages and tasks by state, task
//! time, shuffle bytes local and remote, spill, rows, executors), and the
//! executor's own (slots busy, task time, shuffle bytes served, memory used
//! against its limit, spill), served on its metrics port.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use kiln_core::events::{Event, TaskEndReason};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A `state` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// `succeeded`, `failed`, `killed`.
    pub state: String,
}

/// A `source` label of shuffle reads.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// `local` or `remote`.
    pub source: String,
}

/// A `direction` label of rows.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `read` or `written`.
    pub direction: String,
}

/// The driver's metrics.
#[derive(Debug)]
pub struct DriverMetrics {
    registry: Registry,
    jobs: Family<StateLabel, Counter>,
    jobs_running: Gauge,
    stages: Family<StateLabel, Counter>,
    stages_running: Gauge,
    tasks: Family<StateLabel, Counter>,
    tasks_running: Gauge,
    task_time: Counter<f64, AtomicU64>,
    shuffle_read: Family<SourceLabel, Counter>,
    shuffle_written: Counter,
    spills: Counter,
    spilled: Counter,
    rows: Family<DirectionLabel, Counter>,
    executors: Gauge,
    executors_removed: Counter,
    dropped: Counter,
    lock: Mutex<()>,
}

fn state(s: &str) -> StateLabel {
    StateLabel {
        state: s.to_string(),
    }
}

impl Default for DriverMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl DriverMetrics {
    /// Metrics at zero, registered under `kiln_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kiln");
        let m = DriverMetrics {
            jobs: Family::default(),
            jobs_running: Gauge::default(),
            stages: Family::default(),
            stages_running: Gauge::default(),
            tasks: Family::default(),
            tasks_running: Gauge::default(),
            task_time: Counter::default(),
            shuffle_read: Family::default(),
            shuffle_written: Counter::default(),
            spills: Counter::default(),
            spilled: Counter::default(),
            rows: Family::default(),
            executors: Gauge::default(),
            executors_removed: Counter::default(),
            dropped: Counter::default(),
            registry: Registry::default(),
            lock: Mutex::new(()),
        };
        registry.register("jobs", "Jobs ended, by outcome", m.jobs.clone());
        registry.register("jobs_running", "Jobs running", m.jobs_running.clone());
        registry.register(
            "stages",
            "Stage attempts ended, by outcome",
            m.stages.clone(),
        );
        registry.register(
            "stages_running",
            "Stage attempts running",
            m.stages_running.clone(),
        );
        registry.register("tasks", "Task attempts ended, by outcome", m.tasks.clone());
        registry.register(
            "tasks_running",
            "Task attempts running",
            m.tasks_running.clone(),
        );
        registry.register(
            "task_run_time_seconds",
            "Time tasks ran on executors",
            m.task_time.clone(),
        );
        registry.register(
            "shuffle_read_bytes",
            "Shuffle bytes read, from the reader's own disk (local) or fetched (remote)",
            m.shuffle_read.clone(),
        );
        registry.register(
            "shuffle_written_bytes",
            "Shuffle bytes written",
            m.shuffle_written.clone(),
        );
        registry.register(
            "spills",
            "Spill files written by operators",
            m.spills.clone(),
        );
        registry.register(
            "spilled_bytes",
            "Bytes spilled by operators",
            m.spilled.clone(),
        );
        registry.register("task_rows", "Rows tasks read and wrote", m.rows.clone());
        registry.register("executors", "Executors registered", m.executors.clone());
        registry.register(
            "executors_removed",
            "Executors that left",
            m.executors_removed.clone(),
        );
        registry.register(
            "ui_events_dropped",
            "Progress events the metrics consumer dropped while behind",
            m.dropped.clone(),
        );
        DriverMetrics { registry, ..m }
    }

    /// Counts one event.
    pub fn apply(&self, e: &Event) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::JobStart { .. } => {
                self.jobs_running.inc();
            }
            Event::JobEnd { error, .. } => {
                self.jobs_running.dec();
                let s = if error.is_some() {
                    "failed"
                } else {
                    "succeeded"
                };
                self.jobs.get_or_create(&state(s)).inc();
            }
            Event::StageSubmitted { .. } => {
                self.stages_running.inc();
            }
            Event::StageCompleted { failure, .. } => {
                self.stages_running.dec();
                let s = if failure.is_some() {
                    "failed"
                } else {
                    "succeeded"
                };
                self.stages.get_or_create(&state(s)).inc();
            }
            Event::TaskStart { .. } => {
                self.tasks_running.inc();
            }
            Event::TaskEnd {
                reason, metrics, ..
            } => {
                self.tasks_running.dec();
                let s = match reason {
                    TaskEndReason::Success => "succeeded",
                    TaskEndReason::Killed(_) => "killed",
                    _ => "failed",
                };
                self.tasks.get_or_create(&state(s)).inc();
                self.task_time.inc_by(metrics.run_time_ms as f64 / 1e3);
                self.read(metrics.shuffle_local_bytes, metrics.shuffle_remote_bytes);
                self.shuffle_written.inc_by(metrics.shuffle_write_bytes);
                self.spills.inc_by(metrics.spill_count);
                self.spilled.inc_by(metrics.spilled_bytes);
                let dir = |d: &str| DirectionLabel {
                    direction: d.to_string(),
                };
                self.rows
                    .get_or_create(&dir("read"))
                    .inc_by(metrics.input_rows);
                self.rows
                    .get_or_create(&dir("written"))
                    .inc_by(metrics.output_rows);
            }
            Event::DriverAccumUpdates {
                shuffle_local_bytes,
                shuffle_remote_bytes,
                ..
            } => self.read(*shuffle_local_bytes, *shuffle_remote_bytes),
            Event::ExecutorAdded { .. } => {
                self.executors.inc();
            }
            Event::ExecutorRemoved { .. } => {
                self.executors.dec();
                self.executors_removed.inc();
            }
            _ => {}
        }
    }

    fn read(&self, local: u64, remote: u64) {
        let src = |s: &str| SourceLabel {
            source: s.to_string(),
        };
        self.shuffle_read.get_or_create(&src("local")).inc_by(local);
        self.shuffle_read
            .get_or_create(&src("remote"))
            .inc_by(remote);
    }

    /// Records that the consumer had to drop `n` progress events in all.
    pub fn set_dropped(&self, n: u64) {
        let now = self.dropped.get();
        if n > now {
            self.dropped.inc_by(n - now);
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        text(&self.registry)
    }
}

/// The OpenMetrics text of `registry` (empty if it cannot be encoded).
fn text(registry: &Registry) -> String {
    let mut out = String::new();
    if encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// What reads an executor's memory pool: (bytes reserved, its limit; 0
/// when unlimited), asked at each scrape.
pub type MemoryProbe = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

/// An executor's own metrics, served on its metrics port: task slots and
/// how many are busy, task attempts by outcome and their run time, shuffle
/// bytes written and served to other executors, memory reserved against its
/// limit, spills.
pub struct ExecutorMetrics {
    registry: Registry,
    slots: Gauge,
    slots_busy: Gauge,
    tasks: Family<StateLabel, Counter>,
    task_time: Counter<f64, AtomicU64>,
    shuffle_written: Counter,
    shuffle_served: Counter,
    memory_used: Gauge,
    memory_limit: Gauge,
    peak_rss: Gauge,
    spills: Counter,
    spilled: Counter,
    memory: std::sync::OnceLock<MemoryProbe>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for ExecutorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorMetrics").finish_non_exhaustive()
    }
}

/// How one task attempt ended, as an executor counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskOutcome {
    /// It succeeded.
    pub succeeded: bool,
    /// Its run time (ms).
    pub run_time_ms: u64,
    /// Shuffle bytes it wrote.
    pub shuffle_write_bytes: u64,
    /// Spill files its operators wrote.
    pub spill_count: u64,
    /// Bytes they spilled.
    pub spilled_bytes: u64,
}

impl ExecutorMetrics {
    /// Metrics at zero for an executor with `slots` task slots, registered
    /// under `kiln_executor_`.
    pub fn new(slots: u32) -> Self {
        let mut registry = Registry::with_prefix("kiln_executor");
        let m = ExecutorMetrics {
            registry: Registry::default(),
            slots: Gauge::default(),
            slots_busy: Gauge::default(),
            tasks: Family::default(),
            task_time: Counter::default(),
            shuffle_written: Counter::default(),
            shuffle_served: Counter::default(),
            memory_used: Gauge::default(),
            memory_limit: Gauge::default(),
            peak_rss: Gauge::default(),
            spills: Counter::default(),
            spilled: Counter::default(),
            memory: std::sync::OnceLock::new(),
            lock: Mutex::new(()),
        };
        m.slots.set(i64::from(slots));
        registry.register("slots", "Task slots", m.slots.clone());
        registry.register(
            "slots_busy",
            "Task slots running a task",
            m.slots_busy.clone(),
        );
        registry.register("tasks", "Task attempts ended, by outcome", m.tasks.clone());
        registry.register(
            "task_run_time_seconds",
            "Time tasks ran here",
            m.task_time.clone(),
        );
        registry.register(
            "shuffle_written_bytes",
            "Shuffle bytes tasks wrote here",
            m.shuffle_written.clone(),
        );
        registry.register(
            "shuffle_served_bytes",
            "Shuffle block bytes sent to other executors",
            m.shuffle_served.clone(),
        );
        registry.register(
            "memory_used_bytes",
            "Bytes reserved in the memory pool",
            m.memory_used.clone(),
        );
        registry.register(
            "memory_limit_bytes",
            "Size of the memory pool (0: unlimited)",
            m.memory_limit.clone(),
        );
        registry.register(
            "peak_rss_bytes",
            "Peak resident set size of the process",
            m.peak_rss.clone(),
        );
        registry.register("spills", "Spill files operators wrote", m.spills.clone());
        registry.register(
            "spilled_bytes",
            "Bytes operators spilled",
            m.spilled.clone(),
        );
        ExecutorMetrics { registry, ..m }
    }

    /// Reads the memory pool with `probe` at each scrape (set once).
    pub fn set_memory_probe(&self, probe: MemoryProbe) {
        let _ = self.memory.set(probe);
    }

    /// A task started on a slot.
    pub fn task_started(&self) {
        self.slots_busy.inc();
    }

    /// A task ended.
    pub fn task_ended(&self, t: &TaskOutcome) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.slots_busy.dec();
        let s = if t.succeeded { "succeeded" } else { "failed" };
        self.tasks.get_or_create(&state(s)).inc();
        self.task_time.inc_by(t.run_time_ms as f64 / 1e3);
        self.shuffle_written.inc_by(t.shuffle_write_bytes);
        self.spills.inc_by(t.spill_count);
        self.spilled.inc_by(t.spilled_bytes);
    }

    /// `bytes` of shuffle blocks went out to a reader.
    pub fn served(&self, bytes: u64) {
        self.shuffle_served.inc_by(bytes);
    }

    /// The OpenMetrics text, with the memory gauges read now.
    pub fn encode(&self, peak_rss_bytes: u64) -> String {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(probe) = self.memory.get() {
            let (used, limit) = probe();
            self.memory_used.set(used.min(i64::MAX as u64) as i64);
            self.memory_limit.set(limit.min(i64::MAX as u64) as i64);
        }
        self.peak_rss
            .set(peak_rss_bytes.min(i64::MAX as u64) as i64);
        text(&self.registry)
    }
}

/// Serves `metrics` as `GET /metrics` on `listener` until `shutdown`
/// resolves; `peak_rss` reads the process's peak resident set size.
pub async fn serve_executor(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<ExecutorMetrics>,
    peak_rss: fn() -> u64,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(peak_rss()),
                    )
                }
            }),
        )
        .fallback(|| async {
            (StatusCode::NOT_FOUND, "an executor serves only /metrics").into_response()
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_encoded_as_openmetrics() {
        let m = DriverMetrics::new();
        m.apply(&Event::JobStart {
            job_id: 1,
            execution_id: None,
            time: 0,
            stages: vec![],
            description: String::new(),
        });
        m.apply(&Event::JobEnd {
            job_id: 1,
            time: 1,
            error: None,
        });
        let text = m.encode();
        assert!(
            text.contains("kiln_jobs_total{state=\"succeeded\"} 1"),
            "{text}"
        );
        assert!(text.contains("kiln_jobs_running 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn executor_counts_tasks_served_bytes_and_memory() {
        let m = ExecutorMetrics::new(4);
        m.set_memory_probe(Box::new(|| (10, 100)));
        m.task_started();
        m.task_started();
        m.task_ended(&TaskOutcome {
            succeeded: true,
            run_time_ms: 1500,
            shuffle_write_bytes: 7,
            ..Default::default()
        });
        m.served(42);
        let text = m.encode(5);
        for line in [
            "kiln_executor_slots 4",
            "kiln_executor_slots_busy 1",
            "kiln_executor_tasks_total{state=\"succeeded\"} 1",
            "kiln_executor_task_run_time_seconds_total 1.5",
            "kiln_executor_shuffle_written_bytes_total 7",
            "kiln_executor_shuffle_served_bytes_total 42",
            "kiln_executor_memory_used_bytes 10",
            "kiln_executor_memory_limit_bytes 100",
            "kiln_executor_peak_rss_bytes 5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
