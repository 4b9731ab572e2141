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
    /// The spec, apart from `suspend` and `timeToLiveSeconds`, differs from
    /// the one the current run started from ([`spec_change`]).
    pub spec_changed: bool,
    /// The current run's driver pod.
    pub driver: DriverObs,
    /// Pods of this application (any run) that still exist.
    pub pods_left: usize,
    /// `spec.restartPolicy`.
    pub restart: RestartPolicy,
    /// `spec.timeToLiveSeconds`.
    pub ttl_seconds: Option<i64>,
    /// How long a submitted driver pod may take to start running (`None`:
    /// no limit). Past it the submission counts as failed.
    pub submission_timeout: Option<Duration>,
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
                DriverObs::Pending if state == S::Submitted => {
                    submission_deadline(st, o).unwrap_or(Step::Stay(Some(RUNNING_POLL)))
                }
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
            if o.pods_left > 0 {
                // A driver pod that never started (submission timeout):
                // gone before the retry re-creates it under the same name.
                return Step::DeletePods;
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

/// For a driver pod still pending in `SUBMITTED`: the failed submission once
/// the timeout passed, else a look again when it will have (or sooner).
/// `None` without a timeout or a submission time.
fn submission_deadline(st: &SparkApplicationStatus, o: &Observation) -> Option<Step> {
    let limit = o.submission_timeout?;
    let since = elapsed_since(Some(st.last_submission_attempt_time.as_ref()?), o.now);
    if since >= limit {
        Some(Step::To(
            S::SubmissionFailed,
            Some(format!(
                "the driver pod did not start within {} of its submission",
                seconds(limit)
            )),
        ))
    } else {
        Some(Step::Stay(Some(RUNNING_POLL.min(limit - since))))
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// How an application's spec compares with the one its current run started
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecChange {
    /// `metadata.generation` is the one the run started from.
    None,
    /// The generation moved, but only `suspend` or `timeToLiveSeconds`
    /// changed: nothing to re-run; the new generation is taken as observed.
    Lifecycle,
    /// What the job runs changed (or cannot be compared): a new run.
    Job,
}

/// Compares the spec of `generation` with the run's: `observed` is
/// `status.observedGeneration`, `run_fingerprint` the fingerprint stored
/// when the run was submitted (absent: an older operator's run, or the
/// ConfigMap is gone, so any change counts), `current` the spec's now.
pub fn spec_change(
    generation: Option<i64>,
    observed: Option<i64>,
    run_fingerprint: Option<&str>,
    current: &str,
) -> SpecChange {
    match observed {
        Some(g) if Some(g) != generation => {
            if run_fingerprint == Some(current) {
                SpecChange::Lifecycle
            } else {
                SpecChange::Job
            }
        }
        _ => SpecChange::None,
    }
}

/// A submission timeout as written in the annotation
/// `kiln.dev/submission-timeout`: a duration ([`kiln_values::duration`]:
/// `300`, `90s`, `5m`, `1h30m`); `0` means no limit.
pub fn parse_timeout(v: &str) -> Result<Option<Duration>, String> {
    let d = kiln_values::duration::parse_duration(v)?;
    Ok((!d.is_zero()).then_some(d))
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
            submission_timeout: None,
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
    fn a_driver_pod_that_never_starts_fails_the_submission_after_the_timeout() {
        let mut o = Observation {
            driver: DriverObs::Pending,
            submission_timeout: Some(Duration::from_secs(300)),
            ..obs()
        };
        let now = o.now.as_second();
        let mut st = status(S::Submitted);
        st.execution_attempts = 1;
        st.submission_attempts = 1;
        // 100 s after submission (99 s counted): look again when the
        // timeout is up, or at the usual poll, whichever is first.
        st.last_submission_attempt_time = Some(at(now - 100));
        assert_eq!(
            decide(S::Submitted, &st, &o),
            Step::Stay(Some(RUNNING_POLL))
        );
        st.last_submission_attempt_time = Some(at(now - 290));
        assert_eq!(
            decide(S::Submitted, &st, &o),
            Step::Stay(Some(Duration::from_secs(11)))
        );
        st.last_submission_attempt_time = Some(at(now - 301));
        match decide(S::Submitted, &st, &o) {
            Step::To(S::SubmissionFailed, Some(m)) => {
                assert!(m.contains("did not start within 300s"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // A running driver, or no timeout, never trips it.
        o.driver = DriverObs::Running;
        assert_eq!(decide(S::Submitted, &st, &o), Step::To(S::Running, None));
        o.driver = DriverObs::Pending;
        o.submission_timeout = None;
        assert_eq!(
            decide(S::Submitted, &st, &o),
            Step::Stay(Some(RUNNING_POLL))
        );

        // Then restartPolicy decides, after the pending pod is gone.
        let policy = RestartPolicy {
            type_: RestartPolicyType::OnFailure,
            on_submission_failure_retries: Some(1),
            on_submission_failure_retry_interval: 5,
            ..RestartPolicy::default()
        };
        let failed = transition(
            &st,
            S::SubmissionFailed,
            Some("the driver pod did not start".into()),
            o.now,
        );
        assert_eq!(failed.submission_attempts, 1);
        let with_pod = Observation {
            pods_left: 1,
            restart: policy.clone(),
            ..obs()
        };
        assert_eq!(
            decide(S::SubmissionFailed, &failed, &with_pod),
            Step::DeletePods
        );
        let gone = Observation {
            restart: policy,
            ..obs()
        };
        // The interval counts from the submission, 301 s ago: at once.
        assert_eq!(
            decide(S::SubmissionFailed, &failed, &gone),
            Step::Submit { new_run: false }
        );
        let retried = submitted(&failed, false, None, o.now);
        assert_eq!(retried.submission_attempts, 2);
        assert_eq!(retried.execution_attempts, 1, "the same run");
        let mut again = transition(&retried, S::SubmissionFailed, Some("again".into()), o.now);
        again.last_submission_attempt_time = Some(at(now - 400));
        match decide(S::SubmissionFailed, &again, &gone) {
            Step::To(S::Failed, None) => {}
            other => panic!("retries used up: {other:?}"),
        }
        let done = transition(&again, S::Failed, None, o.now);
        assert_eq!(done.application_state.error_message, "again");
        // Never: FAILED after the first timeout.
        assert_eq!(
            decide(S::SubmissionFailed, &failed, &obs()),
            Step::To(S::Failed, None)
        );
    }

    #[test]
    fn submission_timeouts_parse() {
        assert_eq!(parse_timeout("300"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(parse_timeout("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_timeout(" 5m "), Ok(Some(Duration::from_secs(300))));
        assert_eq!(parse_timeout("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_timeout("0"), Ok(None), "0: no limit");
        assert!(parse_timeout("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("-1").is_err());
    }

    #[test]
    fn suspend_does_not_rerun_a_finished_application() {
        let mut a = crate::SparkApplication::new(
            "q",
            crate::application::SparkApplicationSpec {
                sql: Some("SELECT 1".into()),
                ..Default::default()
            },
        );
        let run = super::super::resources::spec_fingerprint(&a.spec).unwrap();
        a.spec.suspend = true;
        a.spec.time_to_live_seconds = Some(60);
        let suspended = super::super::resources::spec_fingerprint(&a.spec).unwrap();
        assert_eq!(run, suspended, "suspend and ttl are not part of the job");
        a.spec.sql = Some("SELECT 2".into());
        let edited = super::super::resources::spec_fingerprint(&a.spec).unwrap();
        assert_ne!(run, edited);

        // Generation 1 ran; suspend set (2) then cleared (3): no new run.
        assert_eq!(
            spec_change(Some(1), Some(1), Some(&run), &run),
            SpecChange::None
        );
        assert_eq!(
            spec_change(Some(3), Some(1), Some(&run), &suspended),
            SpecChange::Lifecycle
        );
        assert_eq!(
            spec_change(Some(3), Some(1), Some(&run), &edited),
            SpecChange::Job
        );
        assert_eq!(
            spec_change(Some(3), Some(1), None, &run),
            SpecChange::Job,
            "no fingerprint to compare: any change counts"
        );
        assert_eq!(spec_change(Some(1), None, None, &run), SpecChange::None);

        for state in [S::Completed, S::Failed] {
            let mut st = status(state);
            st.termination_time = Some(at(1));
            // While suspended, and after it is cleared, it stays as it is.
            for suspend in [true, false] {
                let o = Observation { suspend, ..obs() };
                assert_eq!(decide(state, &st, &o), Step::Stay(None), "{state}");
            }
            // A change of the job itself still re-runs it.
            let o = Observation {
                spec_changed: true,
                ..obs()
            };
            assert_eq!(decide(state, &st, &o), Step::To(S::Invalidating, None));
        }
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
