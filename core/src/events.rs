//! The driver's event stream: what happens to an application (its jobs,
//! stages, tasks, executors, SQL executions and their plans), in Spark's
//! listener vocabulary, and the bus that hands it to its consumers (the live
//! UI's store, the event log writer, the Prometheus counters; see `kiln-ui`).
//!
//! The bus never blocks the scheduler: every consumer has its own queue.
//! When a queue holds more than its capacity, progress events
//! ([`Event::is_droppable`]: executor metric updates) are dropped and
//! counted; every other event (a task, stage, job or application ending
//! among them) is always delivered, so a slow consumer costs memory for a
//! while, never a lost ending.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Milliseconds since the Unix epoch (Spark's timestamps).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One thing that happened to the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The application started.
    ApplicationStart {
        /// Application id.
        app_id: String,
        /// Application (manifest) name.
        app_name: String,
        /// Start time (ms).
        time: u64,
        /// The user the driver runs as.
        user: String,
    },
    /// The application's settings, secrets already redacted.
    Environment {
        /// `spark.*`, `kiln.*` and the other settings of the application.
        properties: BTreeMap<String, String>,
        /// Facts about the driver process (Kiln version, OS, cores).
        system: BTreeMap<String, String>,
    },
    /// An executor registered.
    ExecutorAdded {
        /// Executor id.
        executor_id: String,
        /// Host it runs on.
        host: String,
        /// Task slots.
        cores: u32,
        /// Memory limit of its pool, when known.
        memory_bytes: Option<u64>,
        /// When it registered (ms).
        time: u64,
        /// Links to its log (name -> URL).
        log_urls: BTreeMap<String, String>,
        /// Its Prometheus endpoint (`/metrics`), when it serves one.
        metrics_url: Option<String>,
    },
    /// An executor left (lost, or stopped at the end).
    ExecutorRemoved {
        /// Executor id.
        executor_id: String,
        /// When (ms).
        time: u64,
        /// Why: "stopped", a lost heartbeat, an exit code, OOMKilled.
        reason: String,
    },
    /// What an executor reported with its heartbeat (progress: may be dropped).
    ExecutorMetrics {
        /// Executor id.
        executor_id: String,
        /// When (ms).
        time: u64,
        /// Highest resident set size so far.
        peak_rss_bytes: u64,
    },
    /// A query or write started: one SQL execution, run as one or more jobs.
    SqlStart {
        /// Execution id (Spark's `spark.sql.execution.id`).
        execution_id: u64,
        /// The statement, short.
        description: String,
        /// The statement in full.
        details: String,
        /// The physical plan as text.
        physical_plan: String,
        /// The plan tree with its metrics' accumulator ids.
        plan: PlanNode,
        /// When (ms).
        time: u64,
    },
    /// Metric values measured on the driver itself (its final step).
    DriverAccumUpdates {
        /// Execution the metrics belong to.
        execution_id: u64,
        /// Accumulator id -> value.
        updates: Vec<(u64, u64)>,
        /// Shuffle bytes the driver read from its own disk (local mode).
        shuffle_local_bytes: u64,
        /// Shuffle bytes the driver fetched from executors.
        shuffle_remote_bytes: u64,
    },
    /// A SQL execution ended.
    SqlEnd {
        /// Execution id.
        execution_id: u64,
        /// When (ms).
        time: u64,
        /// Why it failed, when it did.
        error: Option<String>,
    },
    /// A job was submitted with its stages.
    JobStart {
        /// Job id.
        job_id: u32,
        /// The SQL execution it belongs to.
        execution_id: Option<u64>,
        /// When (ms).
        time: u64,
        /// Its stages (every one, whether or not it will run).
        stages: Vec<StageInfo>,
        /// What the job is for (its statement).
        description: String,
    },
    /// A stage attempt launched its first task.
    StageSubmitted {
        /// The stage.
        stage: StageInfo,
        /// Job it belongs to.
        job_id: u32,
        /// When (ms).
        time: u64,
    },
    /// A task attempt was launched.
    TaskStart {
        /// The task.
        task: TaskInfo,
    },
    /// A task attempt ended.
    TaskEnd {
        /// The task, with its finish time and outcome.
        task: TaskInfo,
        /// How it ended.
        reason: TaskEndReason,
        /// What it measured.
        metrics: TaskMetrics,
        /// Per-operator metric values of this task (accumulator id, value).
        accumulables: Vec<(u64, u64)>,
    },
    /// A stage attempt ended (all tasks done, or failed).
    StageCompleted {
        /// The stage.
        stage: StageInfo,
        /// When it was submitted (ms).
        submission_time: u64,
        /// When it ended (ms).
        completion_time: u64,
        /// Why it failed, when it did.
        failure: Option<String>,
    },
    /// A job ended.
    JobEnd {
        /// Job id.
        job_id: u32,
        /// When (ms).
        time: u64,
        /// Why it failed, when it did.
        error: Option<String>,
    },
    /// The application ended.
    ApplicationEnd {
        /// When (ms).
        time: u64,
        /// Why it failed, when it did.
        error: Option<String>,
    },
}

impl Event {
    /// Progress events a consumer that falls behind may lose.
    pub fn is_droppable(&self) -> bool {
        matches!(self, Event::ExecutorMetrics { .. })
    }
}

/// A stage as listeners see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    /// Stage id (unique in the application).
    pub stage_id: u32,
    /// Attempt (0, then 1 after a fetch failure made it start over).
    pub attempt: u32,
    /// A short name (its root operator).
    pub name: String,
    /// Tasks (partitions).
    pub num_tasks: u32,
    /// Stages it reads.
    pub parent_ids: Vec<u32>,
    /// Its plan, as text.
    pub details: String,
}

/// One task attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Unique over the application (Spark's task id).
    pub task_id: u64,
    /// Stage.
    pub stage_id: u32,
    /// Stage attempt it ran under.
    pub stage_attempt: u32,
    /// Partition (Spark's task index).
    pub index: u32,
    /// Attempt of this partition, from 0.
    pub attempt: u32,
    /// Executor it ran on.
    pub executor_id: String,
    /// That executor's host.
    pub host: String,
    /// Launch time (ms).
    pub launch_time: u64,
    /// End time (ms), 0 while it runs.
    pub finish_time: u64,
}

/// How a task attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskEndReason {
    /// It succeeded.
    Success,
    /// It failed with this error (retried, or the job failed).
    Failed(String),
    /// It could not read a parent's map output.
    FetchFailed {
        /// The stage whose output was lost.
        stage_id: u32,
        /// Its map partition.
        map: u32,
        /// The executor that should have served it.
        executor_id: String,
        /// The message.
        message: String,
    },
    /// Its executor was lost (or the attempt no longer counts).
    ExecutorLost(String),
    /// The driver stopped it (its job ended).
    Killed(String),
}

/// What a task measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Wall time on the executor (ms).
    pub run_time_ms: u64,
    /// Rows read from shuffle inputs.
    pub input_rows: u64,
    /// Rows written (shuffle blocks or files).
    pub output_rows: u64,
    /// Bytes written as shuffle blocks.
    pub shuffle_write_bytes: u64,
    /// Shuffle bytes read from the executor's own disk.
    pub shuffle_local_bytes: u64,
    /// Shuffle bytes fetched from other executors.
    pub shuffle_remote_bytes: u64,
    /// Spill files written.
    pub spill_count: u64,
    /// Bytes spilled.
    pub spilled_bytes: u64,
    /// Executor's peak resident set size when the task ended.
    pub peak_rss_bytes: u64,
}

/// One operator of a SQL execution's plan (Spark's `SparkPlanInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanNode {
    /// Operator name (`HashJoinExec`).
    pub name: String,
    /// Its one-line description.
    pub description: String,
    /// The stage whose tasks run it; `None` for the driver's final step.
    pub stage_id: Option<u32>,
    /// Its metrics.
    pub metrics: Vec<PlanMetric>,
    /// Its inputs.
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    /// This node and every node below it, parents first.
    pub fn walk(&self) -> Vec<&PlanNode> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let node = out[i];
            out.extend(node.children.iter());
            i += 1;
        }
        out
    }
}

/// One metric of a plan operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanMetric {
    /// Spark's display name ("number of output rows").
    pub name: String,
    /// The accumulator id tasks report its values under.
    pub accumulator_id: u64,
    /// Spark's metric type: `sum`, `size`, `nsTiming`.
    pub metric_type: String,
}

/// Hands every posted event to every subscriber. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EventBus {
    subscribers: Arc<Mutex<Vec<Arc<Queue>>>>,
}

/// The default number of events a subscriber may fall behind before
/// progress events are dropped.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Queue {
    events: Mutex<VecDeque<Event>>,
    ready: Notify,
    capacity: usize,
    dropped: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
}

impl EventBus {
    /// A bus without subscribers (posting costs nothing then).
    pub fn new() -> Self {
        EventBus::default()
    }

    /// A new consumer that receives every event posted from now on.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let q = Arc::new(Queue {
            events: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        lock(&self.subscribers).push(q.clone());
        Subscription { queue: q }
    }

    /// Whether anyone listens (callers may skip building an event).
    pub fn has_subscribers(&self) -> bool {
        !lock(&self.subscribers).is_empty()
    }

    /// Posts `event` to every subscriber.
    pub fn post(&self, event: Event) {
        let subs = lock(&self.subscribers).clone();
        for q in subs {
            {
                let mut events = lock(&q.events);
                if event.is_droppable() && events.len() >= q.capacity {
                    q.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                events.push_back(event.clone());
            }
            q.ready.notify_one();
        }
    }

    /// Tells every subscriber no more events come (after what is queued).
    pub fn close(&self) {
        for q in lock(&self.subscribers).drain(..) {
            q.closed.store(true, Ordering::SeqCst);
            q.ready.notify_one();
        }
    }
}

/// One consumer's end of the bus.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<Queue>,
}

impl Subscription {
    /// The next event; `None` once the bus is closed and the queue is empty.
    pub async fn next(&self) -> Option<Event> {
        loop {
            let notified = self.queue.ready.notified();
            if let Some(e) = lock(&self.queue.events).pop_front() {
                return Some(e);
            }
            if self.queue.closed.load(Ordering::SeqCst) {
                return None;
            }
            notified.await;
        }
    }

    /// Progress events dropped because this consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is one push or pop: a panic elsewhere
    // cannot leave them half done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(id: &str) -> Event {
        Event::ExecutorMetrics {
            executor_id: id.into(),
            time: 1,
            peak_rss_bytes: 1,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_progress_but_keeps_endings() {
        let bus = EventBus::new();
        let sub = bus.subscribe(2);
        for i in 0..5 {
            bus.post(metrics(&i.to_string()));
        }
        let end = Event::JobEnd {
            job_id: 1,
            time: 2,
            error: None,
        };
        bus.post(end.clone());
        bus.close();
        let mut got = vec![];
        while let Some(e) = sub.next().await {
            got.push(e);
        }
        assert_eq!(got.len(), 3, "two progress events and the ending: {got:?}");
        assert_eq!(got.last(), Some(&end));
        assert_eq!(sub.dropped(), 3);
    }

    #[test]
    fn plan_walk_visits_parents_first() {
        let leaf = PlanNode {
            name: "leaf".into(),
            ..Default::default()
        };
        let root = PlanNode {
            name: "root".into(),
            children: vec![leaf.clone(), leaf],
            ..Default::default()
        };
        let names: Vec<_> = root.walk().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["root", "leaf", "leaf"]);
    }
}
