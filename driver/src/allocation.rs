//! Dynamic allocation's view of the executors: which ones run tasks, which
//! hold shuffle output a running job still reads, how long the others have
//! been idle, and which are being released.
//!
//! The schedulers of running jobs publish what they use ([`ExecutorActivity::publish`],
//! on every pass of their loop) and claim an executor before each launch
//! ([`ExecutorActivity::claim`]); the allocation loop of a driver in a pod
//! (`kiln driver` under `spec.dynamicAllocation`) releases executors that
//! have been idle for `spark.dynamicAllocation.executorIdleTimeout` and hold
//! nothing still needed ([`ExecutorActivity::drain`]). Claim and drain take
//! the same lock, so an executor is never released while a task is being
//! launched on it, and a draining one gets no new task.
//!
//! [`AllocationConf`] reads Spark's `spark.dynamicAllocation.*` settings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_core::{KilnError, Result};

/// `spark.dynamicAllocation.enabled`.
pub const ENABLED: &str = "spark.dynamicAllocation.enabled";
/// `spark.dynamicAllocation.minExecutors`.
pub const MIN_EXECUTORS: &str = "spark.dynamicAllocation.minExecutors";
/// `spark.dynamicAllocation.maxExecutors`.
pub const MAX_EXECUTORS: &str = "spark.dynamicAllocation.maxExecutors";
/// `spark.dynamicAllocation.executorIdleTimeout` (Spark's default: 60s).
pub const IDLE_TIMEOUT: &str = "spark.dynamicAllocation.executorIdleTimeout";

/// Dynamic allocation's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationConf {
    /// Fewest executors kept.
    pub min_executors: u32,
    /// Most executors asked for; jobs are planned for this many.
    pub max_executors: u32,
    /// How long an executor with nothing to do is kept.
    pub idle_timeout: Duration,
}

impl AllocationConf {
    /// The settings when `spark.dynamicAllocation.enabled` is true, else `None`.
    pub fn from_conf(conf: &BTreeMap<String, String>) -> Result<Option<Self>> {
        let bad = |key: &str, message: String| KilnError::Config {
            key: key.to_string(),
            message,
        };
        match conf.get(ENABLED).map(|v| v.trim().to_ascii_lowercase()) {
            None => return Ok(None),
            Some(v) if v == "false" => return Ok(None),
            Some(v) if v == "true" => {}
            Some(v) => return Err(bad(ENABLED, format!("expected true or false, found `{v}`"))),
        }
        let count = |key: &str, default: Option<u32>| -> Result<u32> {
            match conf.get(key) {
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad(key, format!("expected a whole number, found `{v}`"))),
                None => default.ok_or_else(|| bad(key, "required with dynamic allocation".into())),
            }
        };
        let min_executors = count(MIN_EXECUTORS, Some(0))?;
        let max_executors = count(MAX_EXECUTORS, None)?;
        if max_executors == 0 || min_executors > max_executors {
            return Err(bad(
                MAX_EXECUTORS,
                format!("must be at least 1 and at least {MIN_EXECUTORS} ({min_executors}), found {max_executors}"),
            ));
        }
        let idle_timeout = match conf.get(IDLE_TIMEOUT) {
            Some(v) => kiln_core::config::parse_duration(v).map_err(|m| bad(IDLE_TIMEOUT, m))?,
            None => Duration::from_secs(60),
        };
        Ok(Some(AllocationConf {
            min_executors,
            max_executors,
            idle_timeout,
        }))
    }

    /// Executors wanted for `demand` tasks on executors of `cores` slots
    /// (Spark's rule: enough slots for every running and waiting task),
    /// between min and max.
    pub fn target(&self, demand: u64, cores: u32) -> u32 {
        let wanted = demand.div_ceil(u64::from(cores.max(1)));
        (wanted.min(u64::from(self.max_executors)) as u32).max(self.min_executors)
    }
}

/// What the executors are doing, shared by the schedulers and the
/// allocation loop. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct ExecutorActivity {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per running job: executors running its tasks and executors holding
    /// shuffle output it still reads.
    jobs: HashMap<u32, (HashSet<String>, HashSet<String>)>,
    /// When each executor was last busy or needed (or first seen).
    last_used: HashMap<String, Instant>,
    /// Executors being released: no new tasks.
    draining: HashSet<String>,
}

impl Inner {
    fn in_use(&self, id: &str) -> bool {
        self.jobs
            .values()
            .any(|(busy, holders)| busy.contains(id) || holders.contains(id))
    }
}

impl ExecutorActivity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update is a plain insert or remove: a poisoned lock still
        // holds consistent maps.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `job` runs tasks on `busy` and reads shuffle output held by `holders`.
    pub fn publish(&self, job: u32, busy: HashSet<String>, holders: HashSet<String>) {
        let mut inner = self.lock();
        let now = Instant::now();
        for id in busy.iter().chain(holders.iter()) {
            inner.last_used.insert(id.clone(), now);
        }
        inner.jobs.insert(job, (busy, holders));
    }

    /// Job `job` ended: what it used is free from now on.
    pub fn job_done(&self, job: u32) {
        let mut inner = self.lock();
        if let Some((busy, holders)) = inner.jobs.remove(&job) {
            let now = Instant::now();
            for id in busy.into_iter().chain(holders) {
                inner.last_used.insert(id, now);
            }
        }
    }

    /// Before launching a task on `id`: false when it is being released
    /// (launch elsewhere); otherwise it counts as used now.
    pub fn claim(&self, id: &str) -> bool {
        let mut inner = self.lock();
        if inner.draining.contains(id) {
            return false;
        }
        inner.last_used.insert(id.to_string(), Instant::now());
        true
    }

    /// Whether `id` is being released.
    pub fn is_draining(&self, id: &str) -> bool {
        self.lock().draining.contains(id)
    }

    /// Of `executors`, those unused for at least `timeout`, oldest first. An
    /// executor seen for the first time starts its idle time now.
    pub fn idle(&self, executors: &[String], timeout: Duration) -> Vec<String> {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut idle: Vec<(Instant, String)> = Vec::new();
        for id in executors {
            let since = *inner.last_used.entry(id.clone()).or_insert(now);
            if !inner.in_use(id)
                && !inner.draining.contains(id)
                && now.duration_since(since) >= timeout
            {
                idle.push((since, id.clone()));
            }
        }
        idle.sort();
        idle.into_iter().map(|(_, id)| id).collect()
    }

    /// Marks `id` as being released if it is still unused for `timeout`;
    /// true when it was marked (no task will be launched on it again).
    pub fn drain(&self, id: &str, timeout: Duration) -> bool {
        let mut inner = self.lock();
        let unused_for = inner
            .last_used
            .get(id)
            .map(|t| t.elapsed())
            .unwrap_or(Duration::ZERO);
        if inner.in_use(id) || unused_for < timeout {
            return false;
        }
        inner.draining.insert(id.to_string())
    }

    /// Forgets a released (or lost) executor.
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.draining.remove(id);
        inner.last_used.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use kiln_core::settings::from_pairs as conf;

    #[test]
    fn settings_and_targets() {
        assert_eq!(AllocationConf::from_conf(&conf(&[])).unwrap(), None);
        let c = AllocationConf::from_conf(&conf(&[
            (ENABLED, "true"),
            (MIN_EXECUTORS, "1"),
            (MAX_EXECUTORS, "4"),
            (IDLE_TIMEOUT, "5s"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.target(0, 2), 1, "never below min");
        assert_eq!(c.target(5, 2), 3, "ceil(5 / 2)");
        assert_eq!(c.target(100, 2), 4, "never above max");
        let e = AllocationConf::from_conf(&conf(&[(ENABLED, "true")])).unwrap_err();
        assert!(e.to_string().contains(MAX_EXECUTORS), "{e}");
        let e = AllocationConf::from_conf(&conf(&[(ENABLED, "yes")])).unwrap_err();
        assert!(e.to_string().contains(ENABLED), "{e}");
    }

    #[test]
    fn busy_or_needed_executors_are_never_drained() {
        let a = ExecutorActivity::default();
        let all = vec!["1".to_string(), "2".to_string(), "3".to_string()];
        assert!(a.idle(&all, Duration::ZERO).len() == 3);
        a.publish(
            7,
            HashSet::from(["1".to_string()]),
            HashSet::from(["2".to_string()]),
        );
        assert_eq!(a.idle(&all, Duration::ZERO), vec!["3".to_string()]);
        assert!(!a.drain("1", Duration::ZERO), "running a task");
        assert!(!a.drain("2", Duration::ZERO), "holds output job 7 reads");
        assert!(a.drain("3", Duration::ZERO));
        assert!(!a.claim("3"), "a draining executor gets no task");
        assert!(a.is_draining("3"));
        a.job_done(7);
        assert!(!a.drain("1", Duration::from_secs(60)), "just used");
        assert!(a.drain("1", Duration::ZERO));
        assert!(a.claim("2"));
        a.forget("3");
        assert!(!a.is_draining("3"));
    }
}
