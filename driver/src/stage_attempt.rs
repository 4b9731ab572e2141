//! Stage attempts: how often a stage had to start over because the map
//! output it reads was lost.
//!
//! When a task cannot fetch a parent's map output, the stage attempt it
//! belongs to has failed: the lost output is recomputed and the stage runs
//! again as a new attempt. Every other task of the failed attempt that
//! reports the same loss is a stale report and does not count, so one lost
//! executor costs one attempt however many reducers read from it (Spark's
//! `DAGScheduler` rule). A job fails when one stage fails
//! `spark.stage.maxConsecutiveAttempts` attempts in a row.

use std::collections::HashMap;

/// What a fetch failure meant for its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailureVerdict {
    /// The first report of the stage's current attempt: it failed, and the
    /// stage goes on as attempt `next`.
    AttemptFailed {
        /// The new attempt number.
        next: u32,
    },
    /// A report from an attempt that already failed; nothing changes.
    Stale,
    /// The stage failed this many attempts in a row: the job gives up.
    TooManyAttempts(u32),
}

/// Attempt numbers and consecutive failures of the stages of one job.
#[derive(Debug)]
pub struct StageAttempts {
    current: HashMap<u32, u32>,
    consecutive_failures: HashMap<u32, u32>,
    max_consecutive: u32,
}

impl StageAttempts {
    /// Stage attempts that give up after `max_consecutive` failed attempts.
    pub fn new(max_consecutive: u32) -> Self {
        StageAttempts {
            current: HashMap::new(),
            consecutive_failures: HashMap::new(),
            max_consecutive: max_consecutive.max(1),
        }
    }

    /// The running attempt of `stage` (0 for the first).
    pub fn current(&self, stage: u32) -> u32 {
        self.current.get(&stage).copied().unwrap_or(0)
    }

    /// A task of `stage`, launched under `stage_attempt`, could not fetch
    /// its input.
    pub fn fetch_failed(&mut self, stage: u32, stage_attempt: u32) -> FetchFailureVerdict {
        let current = self.current(stage);
        if stage_attempt < current {
            return FetchFailureVerdict::Stale;
        }
        let failures = self.consecutive_failures.entry(stage).or_default();
        *failures += 1;
        if *failures >= self.max_consecutive {
            return FetchFailureVerdict::TooManyAttempts(*failures);
        }
        self.current.insert(stage, current + 1);
        FetchFailureVerdict::AttemptFailed { next: current + 1 }
    }

    /// `stage` completed: its failures are no longer consecutive.
    pub fn completed(&mut self, stage: u32) {
        self.consecutive_failures.remove(&stage);
    }

    /// The limit on consecutive failed attempts.
    pub fn max_consecutive(&self) -> u32 {
        self.max_consecutive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_reports_from_one_attempt_count_once() {
        let mut s = StageAttempts::new(4);
        assert_eq!(
            s.fetch_failed(2, 0),
            FetchFailureVerdict::AttemptFailed { next: 1 }
        );
        for _ in 0..47 {
            assert_eq!(s.fetch_failed(2, 0), FetchFailureVerdict::Stale);
        }
        assert_eq!(s.current(2), 1);
        assert_eq!(s.current(3), 0, "other stages are not affected");
    }

    #[test]
    fn the_job_gives_up_after_max_consecutive_failed_attempts() {
        let mut s = StageAttempts::new(4);
        for attempt in 0..3 {
            assert_eq!(
                s.fetch_failed(2, attempt),
                FetchFailureVerdict::AttemptFailed { next: attempt + 1 }
            );
        }
        assert_eq!(
            s.fetch_failed(2, 3),
            FetchFailureVerdict::TooManyAttempts(4)
        );
    }

    #[test]
    fn a_completed_stage_starts_counting_again() {
        let mut s = StageAttempts::new(2);
        assert_eq!(
            s.fetch_failed(2, 0),
            FetchFailureVerdict::AttemptFailed { next: 1 }
        );
        s.completed(2);
        assert_eq!(
            s.fetch_failed(2, 1),
            FetchFailureVerdict::AttemptFailed { next: 2 }
        );
        assert_eq!(
            s.fetch_failed(2, 2),
            FetchFailureVerdict::TooManyAttempts(2)
        );
    }
}
