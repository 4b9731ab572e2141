//! The application state machine as pure functions: what the controller
//! should do next given the current state and what it observed, and how the
//! status changes on each transition. No API calls here, so every rule is
//! unit-tested; `reconcile.rs` performs the steps.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::application::{
    ApplicationStateType as S, RestartPolicy, RestartPolicyType, SparkApplicationStatus,
};

/// How long to look again while waiting for pods to go away.
pub const CLEANUP_POLL: Duration = Duration::from_secs(1);
/// Longest time between two looks at an application that runs (pod watch
/// events normally come first; this bounds a missed event).
pub const RUNNING_POLL: Duration = Duration::from_secs(30);

/// What the controller sees of the current run's driver pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverObs {
    /// No driver pod for the current run.
    Absent,
    /// Created, not running yet (IP if it has one already).
    Pending,
    /// Its container runs.
    Running,
    /// Exited 0.
    Succeeded,
    /// Exited non-zero or was killed; the reason as the node reported it.
    Failed(String),
    /// Being deleted (by someone else: the operator deletes only in clean-up states).
    Terminating,
}

/// Everything a decision depends on.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Now.
    pub now: Timestamp,
    /// `spec.suspend`.
    pub suspend: bool,
    /// `metadata.generation` differs from `status.observedGeneration`.
    pub spec_changed: bool,
    /// The current run's driver pod.
    pub driver: DriverObs,
    /// Pods of this application (any run) that still exist.
    pub pods_left: usize,
    /// `spec.restartPolicy`.
    pub restart: RestartPolicy,
    /// `spec.timeToLiveSeconds`.
    pub ttl_seconds: Option<i64>,
}

/// The next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to do; look again after this long (`None`: on the next event).
    Stay(Option<Duration>),
    /// Move to a state; the message becomes `errorMessage` where it applies.
    To(S, Option<String>),
    /// Create the application's objects and the driver pod of a run.
    /// `new_run`: a new execution attempt (else a retry of a failed submission).
    Submit {
        /// Whether this starts a new execution attempt.
        new_run: bool,
    },
    /// Delete every pod of the application and look again soon.
    DeletePods,
    /// Delete executor pods (the driver pod is kept for its logs), then move to the state.
    FinishRun(S),
    /// `timeToLiveSeconds` passed: delete the application.
    DeleteApplication,
}

/// The step for an application in `state`.
pub fn decide(state: S, st: &SparkApplicationStatus, o: &Observation) -> Step {
    match state {
        S::New => {
            if o.suspend {
                Step::To(S::Suspended, None)
            } else {
                Step::Submit { new_run: true }
            }
        }
        S::Submitted | S::Running | S::Unknown => {
            if o.suspend {
                return Step::To(S::Suspending, None);
            }
            if o.spec_changed {
                return Step::To(S::Invalidating, None);
            }
            match &o.driver {
                DriverObs::Absent => Step::To(
                    S::Failing,
                    Some("the driver pod disappeared (deleted or evicted)".into()),
                ),
                DriverObs::Terminating => Step::To(
                    S::Failing,
                    Some("the driver pod was deleted while the application ran".into()),
                ),
                DriverObs::Pending if state == S::Submitted => Step::Stay(Some(RUNNING_POLL)),
                DriverObs::Pending => Step::To(S::Submitted, None),
                DriverObs::Running if state == S::Running => Step::Stay(Some(RUNNING_POLL)),
                DriverObs::Running => Step::To(S::Running, None),
                DriverObs::Succeeded => Step::To(S::Succeeding, None),
                DriverObs::Failed(m) => Step::To(S::Failing, Some(m.clone())),
            }
        }
        S::Succeeding => {
            if o.restart.type_ == RestartPolicyType::Always {
                Step::FinishRun(S::PendingRerun)
            } else {
                Step::FinishRun(S::Completed)
            }
        }
        S::Failing => match retry_after_failure(&o.restart, st.execution_attempts) {
            None => Step::FinishRun(S::Failed),
            Some(wait) => {
                let since = elapsed_since(st.termination_time.as_ref(), o.now);
                if since >= wait {
                    Step::FinishRun(S::PendingRerun)
                } else {
                    Step::Stay(Some(wait - since))
                }
            }
        },
        S::Completed | S::Failed => {
            if o.spec_changed && !o.suspend {
                return Step::To(S::Invalidating, None);
            }
            match o.ttl_seconds {
                Some(ttl) => {
                    let ttl = Duration::from_secs(ttl.max(0) as u64);
                    let since = elapsed_since(st.termination_time.as_ref(), o.now);
                    if since >= ttl {
                        Step::DeleteApplication
                    } else {
                        Step::Stay(Some(ttl - since))
                    }
                }
                None => Step::Stay(None),
            }
        }
        S::SubmissionFailed => {
            if o.suspend {
                return Step::To(S::Suspending, None);
            }
            match retry_after_submission_failure(&o.restart, st.submission_attempts) {
                None => Step::To(S::Failed, None),
                Some(wait) => {
                    let since = elapsed_since(st.last_submission_attempt_time.as_ref(), o.now);
                    if since >= wait {
                        Step::Submit { new_run: false }
                    } else {
                        Step::Stay(Some(wait - since))
                    }
                }
            }
        }
        S::PendingRerun | S::Resuming => {
            if o.suspend {
                Step::To(S::Suspending, None)
            } else if o.pods_left > 0 {
                Step::DeletePods
            } else {
                Step::Submit { new_run: true }
            }
        }
        S::Invalidating => {
            if o.pods_left > 0 {
                Step::DeletePods
            } else {
                Step::To(S::PendingRerun, None)
            }
        }
        S::Suspending => {
            if o.pods_left > 0 {
                Step::DeletePods
            } else {
                Step::To(S::Suspended, None)
            }
        }
        S::Suspended => {
            if o.suspend {
                Step::Stay(None)
            } else {
                Step::To(S::Resuming, None)
            }
        }
    }
}

/// The wait before the next run after a failed one, or `None` when no retry
/// is left. `attempts` runs were made so far. Kubeflow's rule: `OnFailure`
/// retries `onFailureRetries` times (none when unset), `Always` without limit
/// unless `onFailureRetries` is set; the interval doubles per attempt.
pub fn retry_after_failure(policy: &RestartPolicy, attempts: i32) -> Option<Duration> {
    let limit = match policy.type_ {
        RestartPolicyType::Never => return None,
        RestartPolicyType::OnFailure => policy.on_failure_retries.unwrap_or(0),
        RestartPolicyType::Always => policy.on_failure_retries.unwrap_or(i32::MAX),
    };
    if attempts > limit {
        return None;
    }
    Some(backoff(policy.on_failure_retry_interval, attempts))
}

/// The wait before re-submitting after `attempts` failed submissions of the
/// current run, or `None` when no retry is left.
pub fn retry_after_submission_failure(policy: &RestartPolicy, attempts: i32) -> Option<Duration> {
    let limit = match policy.type_ {
        RestartPolicyType::Never => return None,
        RestartPolicyType::OnFailure => policy.on_submission_failure_retries.unwrap_or(0),
        RestartPolicyType::Always => policy.on_submission_failure_retries.unwrap_or(i32::MAX),
    };
    if attempts > limit {
        return None;
    }
    Some(backoff(
        policy.on_submission_failure_retry_interval,
        attempts,
    ))
}

/// `interval * 2^(attempt-1)` seconds, capped at one hour.
pub fn backoff(interval_seconds: i64, attempt: i32) -> Duration {
    let base = interval_seconds.max(1) as u64;
    let doublings = (attempt.max(1) - 1).min(12) as u32;
    Duration::from_secs(base.saturating_mul(1 << doublings).min(3600))
}

/// Time passed since `t`, at least. Times in the status are stored with
/// whole seconds (the API's `Time` format), so up to a second may be lost
/// from `t`; subtracting it makes every wait at least as long as asked.
fn elapsed_since(t: Option<&Time>, now: Timestamp) -> Duration {
    match t {
        Some(t) => {
            let d = now.duration_since(t.0);
            Duration::try_from(d)
                .unwrap_or(Duration::ZERO)
                .saturating_sub(Duration::from_secs(1))
        }
        // No reference time: treat as long ago so nothing waits forever.
        None => Duration::MAX,
    }
}

/// The status after moving to `to` (the state itself included).
pub fn transition(
    st: &SparkApplicationStatus,
    to: S,
    message: Option<String>,
    now: Timestamp,
) -> SparkApplicationStatus {
    let mut next = st.clone();
    let from = st.application_state.state;
    next.application_state.state = to;
    match to {
        S::Failing => {
            next.termination_time = Some(Time(now));
            next.application_state.error_message = message.unwrap_or_default();
        }
        S::Failed | S::Completed => {
            if from != S::Failing || next.termination_time.is_none() {
                next.termination_time = Some(Time(now));
            }
            if to == S::Completed {
                next.application_state.error_message.clear();
            } else if let Some(m) = message {
                next.application_state.error_message = m;
            }
            next.executors = None;
        }
        S::PendingRerun if from == S::Invalidating => {
            // A changed spec starts over: its first run is attempt 1.
            next.execution_attempts = 0;
            next.submission_attempts = 0;
        }
        _ => {
            if let Some(m) = message {
                next.application_state.error_message = m;
            }
        }
    }
    next
}

/// The status after a successful submission of run `attempt`.
pub fn submitted(
    st: &SparkApplicationStatus,
    new_run: bool,
    generation: Option<i64>,
    now: Timestamp,
) -> SparkApplicationStatus {
    let mut next = st.clone();
    next.application_state.state = S::Submitted;
    next.application_state.error_message.clear();
    if new_run {
        next.execution_attempts += 1;
        next.submission_attempts = 1;
    } else {
        next.submission_attempts += 1;
    }
    next.last_submission_attempt_time = Some(Time(now));
    next.termination_time = None;
    next.observed_generation = generation;
    next.progress = None;
    next.executor_state.clear();
    next.requested_executors = None;
    next
}

/// The status after a failed submission.
pub fn submission_failed(
    st: &SparkApplicationStatus,
    new_run: bool,
    generation: Option<i64>,
    message: String,
    now: Timestamp,
) -> SparkApplicationStatus {
    let mut next = st.clone();
    next.application_state.state = S::SubmissionFailed;
    next.application_state.error_message = message;
    next.submission_attempts = if new_run {
        1
    } else {
        next.submission_attempts + 1
    };
    next.last_submission_attempt_time = Some(Time(now));
    next.observed_generation = generation;
    next
}

/// The run number a submission creates: the next attempt for a new run, the
/// current one when retrying its submission.
pub fn run_number(st: &SparkApplicationStatus, new_run: bool) -> i32 {
    if new_run || st.execution_attempts == 0 {
        st.execution_attempts + 1
    } else {
        st.execution_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Observation {
        Observation {
            now: Timestamp::from_second(1_000_000).unwrap(),
            suspend: false,
            spec_changed: false,
            driver: DriverObs::Absent,
            pods_left: 0,
            restart: RestartPolicy::default(),
            ttl_seconds: None,
        }
    }

    fn status(state: S) -> SparkApplicationStatus {
        let mut s = SparkApplicationStatus::default();
        s.application_state.state = state;
        s
    }

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn on_failure(retries: i32) -> RestartPolicy {
        RestartPolicy {
            type_: RestartPolicyType::OnFailure,
            on_failure_retries: Some(retries),
            on_failure_retry_interval: 2,
            ..RestartPolicy::default()
        }
    }

    #[test]
    fn new_application_is_submitted_unless_suspended() {
        let st = status(S::New);
        assert_eq!(decide(S::New, &st, &obs()), Step::Submit { new_run: true });
        let o = Observation {
            suspend: true,
            ..obs()
        };
        assert_eq!(decide(S::New, &st, &o), Step::To(S::Suspended, None));
    }

    #[test]
    fn driver_pod_drives_submitted_and_running() {
        let st = status(S::Submitted);
        let with = |d| Observation { driver: d, ..obs() };
        assert_eq!(
            decide(S::Submitted, &st, &with(DriverObs::Pending)),
            Step::Stay(Some(RUNNING_POLL))
        );
        assert_eq!(
            decide(S::Submitted, &st, &with(DriverObs::Running)),
            Step::To(S::Running, None)
        );
        assert_eq!(
            decide(S::Running, &st, &with(DriverObs::Running)),
            Step::Stay(Some(RUNNING_POLL))
        );
        assert_eq!(
            decide(S::Running, &st, &with(DriverObs::Succeeded)),
            Step::To(S::Succeeding, None)
        );
        assert_eq!(
            decide(S::Running, &st, &with(DriverObs::Failed("boom".into()))),
            Step::To(S::Failing, Some("boom".into()))
        );
    }

    #[test]
    fn a_vanished_driver_never_leaves_the_application_stuck() {
        for state in [S::Submitted, S::Running, S::Unknown] {
            match decide(state, &status(state), &obs()) {
                Step::To(S::Failing, Some(m)) => assert!(m.contains("disappeared"), "{m}"),
                other => panic!("{state}: {other:?}"),
            }
            let o = Observation {
                driver: DriverObs::Terminating,
                ..obs()
            };
            assert!(matches!(
                decide(state, &status(state), &o),
                Step::To(S::Failing, Some(_))
            ));
        }
    }

    #[test]
    fn suspend_and_spec_change_stop_a_running_application() {
        let st = status(S::Running);
        let o = Observation {
            suspend: true,
            spec_changed: true,
            driver: DriverObs::Running,
            ..obs()
        };
        assert_eq!(decide(S::Running, &st, &o), Step::To(S::Suspending, None));
        let o = Observation {
            suspend: false,
            ..o
        };
        assert_eq!(decide(S::Running, &st, &o), Step::To(S::Invalidating, None));
    }

    #[test]
    fn clean_up_states_delete_pods_then_move_on() {
        let with_pods = Observation {
            pods_left: 2,
            ..obs()
        };
        for state in [S::Invalidating, S::Suspending, S::PendingRerun, S::Resuming] {
            assert_eq!(
                decide(state, &status(state), &with_pods),
                Step::DeletePods,
                "{state}"
            );
        }
        assert_eq!(
            decide(S::Invalidating, &status(S::Invalidating), &obs()),
            Step::To(S::PendingRerun, None)
        );
        assert_eq!(
            decide(S::Suspending, &status(S::Suspending), &obs()),
            Step::To(S::Suspended, None)
        );
        assert_eq!(
            decide(S::PendingRerun, &status(S::PendingRerun), &obs()),
            Step::Submit { new_run: true }
        );
        assert_eq!(
            decide(S::Suspended, &status(S::Suspended), &obs()),
            Step::To(S::Resuming, None)
        );
        let suspended = Observation {
            suspend: true,
            ..obs()
        };
        assert_eq!(
            decide(S::Suspended, &status(S::Suspended), &suspended),
            Step::Stay(None)
        );
    }

    #[test]
    fn success_completes_or_reruns_with_always() {
        let st = status(S::Succeeding);
        assert_eq!(
            decide(S::Succeeding, &st, &obs()),
            Step::FinishRun(S::Completed)
        );
        let o = Observation {
            restart: RestartPolicy {
                type_: RestartPolicyType::Always,
                ..RestartPolicy::default()
            },
            ..obs()
        };
        assert_eq!(
            decide(S::Succeeding, &st, &o),
            Step::FinishRun(S::PendingRerun)
        );
    }

    #[test]
    fn failure_retries_with_doubling_backoff_then_fails() {
        let o = Observation {
            restart: on_failure(2),
            ..obs()
        };
        let now = o.now.as_second();
        let mut st = status(S::Failing);
        st.execution_attempts = 1;
        st.termination_time = Some(at(now - 2));
        // Interval 2 s; 2 s on the clock count as 1 (stored times lose up
        // to a second): wait one more.
        assert_eq!(
            decide(S::Failing, &st, &o),
            Step::Stay(Some(Duration::from_secs(1)))
        );
        st.termination_time = Some(at(now - 3));
        assert_eq!(
            decide(S::Failing, &st, &o),
            Step::FinishRun(S::PendingRerun)
        );
        // Second failure: 4 s.
        st.execution_attempts = 2;
        st.termination_time = Some(at(now - 4));
        assert_eq!(
            decide(S::Failing, &st, &o),
            Step::Stay(Some(Duration::from_secs(1)))
        );
        // Third run failed: 2 retries used up.
        st.execution_attempts = 3;
        assert_eq!(decide(S::Failing, &st, &o), Step::FinishRun(S::Failed));
        // Never: no retry at all.
        st.execution_attempts = 1;
        assert_eq!(decide(S::Failing, &st, &obs()), Step::FinishRun(S::Failed));
    }

    #[test]
    fn retry_limits_follow_kubeflow() {
        let mut p = RestartPolicy {
            type_: RestartPolicyType::OnFailure,
            ..RestartPolicy::default()
        };
        assert_eq!(retry_after_failure(&p, 1), None, "unset retries: none");
        p.type_ = RestartPolicyType::Always;
        assert!(retry_after_failure(&p, 1000).is_some(), "Always: unlimited");
        p.on_failure_retries = Some(1);
        assert!(retry_after_failure(&p, 1).is_some());
        assert_eq!(retry_after_failure(&p, 2), None);
        assert_eq!(backoff(5, 1), Duration::from_secs(5));
        assert_eq!(backoff(5, 3), Duration::from_secs(20));
        assert_eq!(backoff(5, 40), Duration::from_secs(3600));
    }

    #[test]
    fn submission_failures_retry_then_fail() {
        let o = Observation {
            restart: RestartPolicy {
                type_: RestartPolicyType::OnFailure,
                on_submission_failure_retries: Some(1),
                on_submission_failure_retry_interval: 3,
                ..RestartPolicy::default()
            },
            ..obs()
        };
        let mut st = status(S::SubmissionFailed);
        st.submission_attempts = 1;
        st.last_submission_attempt_time = Some(at(o.now.as_second() - 2));
        assert_eq!(
            decide(S::SubmissionFailed, &st, &o),
            Step::Stay(Some(Duration::from_secs(2)))
        );
        st.last_submission_attempt_time = Some(at(o.now.as_second() - 4));
        assert_eq!(
            decide(S::SubmissionFailed, &st, &o),
            Step::Submit { new_run: false }
        );
        st.submission_attempts = 2;
        assert_eq!(
            decide(S::SubmissionFailed, &st, &o),
            Step::To(S::Failed, None)
        );
    }

    #[test]
    fn finished_applications_expire_after_their_ttl() {
        let mut st = status(S::Completed);
        let o = Observation {
            ttl_seconds: Some(10),
            ..obs()
        };
        st.termination_time = Some(at(o.now.as_second() - 5));
        assert_eq!(
            decide(S::Completed, &st, &o),
            Step::Stay(Some(Duration::from_secs(6)))
        );
        st.termination_time = Some(at(o.now.as_second() - 11));
        assert_eq!(decide(S::Failed, &st, &o), Step::DeleteApplication);
        assert_eq!(decide(S::Completed, &st, &obs()), Step::Stay(None));
        let changed = Observation {
            spec_changed: true,
            ..obs()
        };
        assert_eq!(
            decide(S::Completed, &st, &changed),
            Step::To(S::Invalidating, None)
        );
    }

    #[test]
    fn transitions_keep_the_status_consistent() {
        let now = Timestamp::from_second(2_000).unwrap();
        let mut st = status(S::Running);
        st.execution_attempts = 1;
        let failing = transition(&st, S::Failing, Some("division by zero".into()), now);
        assert_eq!(failing.application_state.error_message, "division by zero");
        assert_eq!(failing.termination_time, Some(Time(now)));
        let later = Timestamp::from_second(2_010).unwrap();
        let failed = transition(&failing, S::Failed, None, later);
        assert_eq!(
            failed.termination_time,
            Some(Time(now)),
            "failure time kept"
        );
        assert_eq!(failed.application_state.error_message, "division by zero");

        let rerun = submitted(&failed, true, Some(3), later);
        assert_eq!(rerun.execution_attempts, 2);
        assert_eq!(rerun.submission_attempts, 1);
        assert_eq!(rerun.termination_time, None);
        assert!(rerun.application_state.error_message.is_empty());
        assert_eq!(rerun.observed_generation, Some(3));
        assert_eq!(run_number(&failed, true), 2);

        let sf = submission_failed(&rerun, false, Some(3), "forbidden".into(), later);
        assert_eq!(sf.submission_attempts, 2);
        assert_eq!(run_number(&sf, false), 2);

        let mut inv = status(S::Invalidating);
        inv.execution_attempts = 2;
        let pr = transition(&inv, S::PendingRerun, None, later);
        assert_eq!(pr.execution_attempts, 0, "a changed spec starts over");
    }
}
