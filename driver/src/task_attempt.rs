//! Task attempts: one launch of one task of a stage on one executor, and the
//! set of attempts now running.
//!
//! Spark's TaskSetManager keeps the same facts: which attempt of a task is
//! the live one, on which executor, so that a lost executor's attempts are
//! failed at once and a reply from an attempt that is no longer live (its
//! executor was declared lost, or a newer attempt replaced it) is recognised
//! as late instead of being taken for the task's result.

use std::collections::HashMap;

use tokio::task::AbortHandle;

/// One task: a partition of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    /// The stage.
    pub stage: u32,
    /// The partition of the stage.
    pub partition: usize,
}

/// One launch of a task.
#[derive(Debug)]
pub struct TaskAttempt {
    /// The task.
    pub key: TaskKey,
    /// Attempt number of the task, from 0.
    pub attempt: u32,
    /// Attempt of the task's stage the launch belongs to.
    pub stage_attempt: u32,
    /// Executor running it.
    pub executor_id: String,
    /// Cancels the launch RPC (the driver's side of the attempt).
    rpc: AbortHandle,
}

impl TaskAttempt {
    /// An attempt whose launch RPC `rpc` cancels.
    pub fn new(
        key: TaskKey,
        attempt: u32,
        stage_attempt: u32,
        executor_id: String,
        rpc: AbortHandle,
    ) -> Self {
        TaskAttempt {
            key,
            attempt,
            stage_attempt,
            executor_id,
            rpc,
        }
    }
}

/// The live attempt of every running task.
#[derive(Debug, Default)]
pub struct RunningTasks {
    live: HashMap<TaskKey, TaskAttempt>,
}

impl RunningTasks {
    /// Records a launched attempt as the live one of its task.
    pub fn insert(&mut self, attempt: TaskAttempt) {
        if let Some(old) = self.live.insert(attempt.key, attempt) {
            old.rpc.abort();
        }
    }

    /// Whether no task runs.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Number of running tasks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether `key` has a live attempt.
    pub fn contains(&self, key: &TaskKey) -> bool {
        self.live.contains_key(key)
    }

    /// Executor of every running attempt (one entry per busy slot).
    pub fn busy_executors(&self) -> impl Iterator<Item = &str> {
        self.live.values().map(|a| a.executor_id.as_str())
    }

    /// Ends the attempt `attempt` of `key` that replied; `None` when it is
    /// not the live attempt (a late reply, to be ignored).
    pub fn finish(&mut self, key: TaskKey, attempt: u32) -> Option<TaskAttempt> {
        match self.live.get(&key) {
            Some(a) if a.attempt == attempt => self.live.remove(&key),
            _ => None,
        }
    }

    /// Fails every attempt running on a lost executor at once (their launch
    /// RPCs are cancelled, so a hung executor cannot hold them) and returns
    /// them; their tasks are then launched again elsewhere.
    pub fn fail_executor(&mut self, executor_id: &str) -> Vec<TaskAttempt> {
        let keys: Vec<TaskKey> = self
            .live
            .values()
            .filter(|a| a.executor_id == executor_id)
            .map(|a| a.key)
            .collect();
        let mut failed: Vec<TaskAttempt> = keys
            .iter()
            .filter_map(|k| self.live.remove(k))
            .inspect(|a| a.rpc.abort())
            .collect();
        failed.sort_by_key(|a| a.key);
        failed
    }

    /// Cancels every running attempt (the job ends).
    pub fn abort_all(&mut self) {
        for (_, a) in self.live.drain() {
            a.rpc.abort();
        }
    }
}

impl Drop for RunningTasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stage: u32, partition: usize) -> TaskKey {
        TaskKey { stage, partition }
    }

    async fn attempt(k: TaskKey, n: u32, exec: &str) -> (TaskAttempt, tokio::task::JoinHandle<()>) {
        let rpc = tokio::spawn(std::future::pending::<()>());
        (
            TaskAttempt::new(k, n, 0, exec.into(), rpc.abort_handle()),
            rpc,
        )
    }

    #[tokio::test]
    async fn a_reply_from_an_attempt_that_is_not_live_is_late() {
        let mut running = RunningTasks::default();
        let (a0, _) = attempt(key(1, 0), 0, "e1").await;
        running.insert(a0);
        assert!(running.finish(key(1, 0), 1).is_none(), "unknown attempt");
        assert!(running.finish(key(1, 1), 0).is_none(), "unknown task");
        assert_eq!(running.finish(key(1, 0), 0).map(|a| a.attempt), Some(0));
        assert!(running.is_empty());
        assert!(running.finish(key(1, 0), 0).is_none(), "replied twice");
    }

    #[tokio::test]
    async fn a_lost_executor_fails_its_attempts_and_cancels_their_rpcs() {
        let mut running = RunningTasks::default();
        let (a, rpc_a) = attempt(key(1, 0), 0, "e1").await;
        let (b, rpc_b) = attempt(key(1, 1), 0, "e2").await;
        let (c, rpc_c) = attempt(key(2, 0), 3, "e1").await;
        running.insert(a);
        running.insert(b);
        running.insert(c);
        let failed = running.fail_executor("e1");
        let keys: Vec<(TaskKey, u32)> = failed.iter().map(|a| (a.key, a.attempt)).collect();
        assert_eq!(keys, vec![(key(1, 0), 0), (key(2, 0), 3)]);
        assert!(rpc_a.await.is_err_and(|e| e.is_cancelled()));
        assert!(rpc_c.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(running.len(), 1);
        assert_eq!(running.busy_executors().collect::<Vec<_>>(), vec!["e2"]);
        drop(running);
        assert!(rpc_b.await.is_err_and(|e| e.is_cancelled()));
    }
}
