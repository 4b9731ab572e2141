//! Counters of one application, printed as the summary at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use kiln_proto::TaskMetrics;

use crate::progress::{human_bytes, human_count};

/// Application-wide counters, updated by the schedulers.
#[derive(Debug, Default)]
pub struct AppMetrics {
    stages: AtomicU64,
    tasks: AtomicU64,
    retries: AtomicU64,
    recomputed: AtomicU64,
    shuffle_written: AtomicU64,
    local_read: AtomicU64,
    remote_read: AtomicU64,
    spills: AtomicU64,
    spilled_bytes: AtomicU64,
    statements: Mutex<Vec<StatementTime>>,
}

/// How long one statement took.
#[derive(Debug, Clone)]
pub struct StatementTime {
    /// Position in the job, from 1.
    pub index: usize,
    /// A short label (statement kind and start).
    pub label: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Rows produced (SELECT) or written (INSERT/COPY).
    pub rows: u64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Stages run.
    pub stages: u64,
    /// Task attempts finished.
    pub tasks: u64,
    /// Tasks retried after a failure.
    pub retries: u64,
    /// Map outputs recomputed after loss.
    pub recomputed: u64,
    /// Bytes written as shuffle blocks.
    pub shuffle_written: u64,
    /// Shuffle bytes read from local disk.
    pub local_read: u64,
    /// Shuffle bytes fetched from other executors.
    pub remote_read: u64,
    /// Spill files written by operators.
    pub spills: u64,
    /// Bytes spilled.
    pub spilled_bytes: u64,
    /// Per-statement timings.
    pub statements: Vec<StatementTime>,
}

impl AppMetrics {
    pub(crate) fn add_stage(&self) {
        self.stages.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_recomputed(&self, n: u64) {
        self.recomputed.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one finished task's metrics.
    pub fn add_task(&self, m: &TaskMetrics) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
        self.shuffle_written
            .fetch_add(m.output_bytes, Ordering::Relaxed);
        self.local_read
            .fetch_add(m.shuffle_local_bytes, Ordering::Relaxed);
        self.remote_read
            .fetch_add(m.shuffle_remote_bytes, Ordering::Relaxed);
        self.spills.fetch_add(m.spill_count, Ordering::Relaxed);
        self.spilled_bytes
            .fetch_add(m.spilled_bytes, Ordering::Relaxed);
    }

    /// Adds shuffle reads done by the driver itself.
    pub fn add_driver_reads(&self, local: u64, remote: u64) {
        self.local_read.fetch_add(local, Ordering::Relaxed);
        self.remote_read.fetch_add(remote, Ordering::Relaxed);
    }

    /// Records a finished statement.
    pub fn add_statement(&self, t: StatementTime) {
        self.statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t);
    }

    /// The counters now.
    pub fn summary(&self) -> Summary {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Summary {
            stages: g(&self.stages),
            tasks: g(&self.tasks),
            retries: g(&self.retries),
            recomputed: g(&self.recomputed),
            shuffle_written: g(&self.shuffle_written),
            local_read: g(&self.local_read),
            remote_read: g(&self.remote_read),
            spills: g(&self.spills),
            spilled_bytes: g(&self.spilled_bytes),
            statements: self
                .statements
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl Summary {
    /// The human-readable summary printed at the end of `kiln run`.
    pub fn render(&self, wall: Duration, peak_rss: &[(String, u64)]) -> String {
        let rows_out: u64 = self.statements.iter().map(|s| s.rows).sum();
        let mut s = String::new();
        s.push_str(&format!(
            "summary: {} stages, {} tasks ({} retried, {} map outputs recomputed), {} rows out, wall time {:.3}s\n",
            self.stages,
            self.tasks,
            self.retries,
            self.recomputed,
            human_count(rows_out),
            wall.as_secs_f64()
        ));
        s.push_str(&format!(
            "shuffle: {} written, {} read locally, {} fetched remotely; spills: {} ({})\n",
            human_bytes(self.shuffle_written),
            human_bytes(self.local_read),
            human_bytes(self.remote_read),
            self.spills,
            human_bytes(self.spilled_bytes)
        ));
        if !peak_rss.is_empty() {
            let list: Vec<String> = peak_rss
                .iter()
                .map(|(id, b)| format!("{id}={}", human_bytes(*b)))
                .collect();
            s.push_str(&format!("executor peak RSS: {}\n", list.join(", ")));
        }
        for st in &self.statements {
            s.push_str(&format!(
                "statement {:>2}: {:>8.3}s {:>10} rows  {}\n",
                st.index,
                st.elapsed.as_secs_f64(),
                st.rows,
                st.label
            ));
        }
        s
    }

    /// Machine-readable form (one JSON object), for benchmarks and tests.
    pub fn to_json(&self, wall: Duration) -> serde_json::Value {
        serde_json::json!({
            "wall_seconds": wall.as_secs_f64(),
            "stages": self.stages,
            "tasks": self.tasks,
            "retries": self.retries,
            "recomputed": self.recomputed,
            "shuffle_written_bytes": self.shuffle_written,
            "shuffle_local_bytes": self.local_read,
            "shuffle_remote_bytes": self.remote_read,
            "spills": self.spills,
            "spilled_bytes": self.spilled_bytes,
            "statements": self.statements.iter().map(|s| serde_json::json!({
                "index": s.index, "label": s.label, "seconds": s.elapsed.as_secs_f64(), "rows": s.rows
            })).collect::<Vec<_>>(),
        })
    }
}
