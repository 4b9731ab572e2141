//! Job-outcome metrics under the names kubeflow's spark-operator exports
//! (`spark_application_count`, `spark_application_success_count`,
//! `spark_application_failure_count`, `..._execution_time_seconds`, ...),
//! labelled by namespace as kubeflow's are, so its users' dashboards and
//! alerts work unchanged; plus the last success of each
//! ScheduledSparkApplication.
//!
//! The counts are written as gauges that only grow: OpenMetrics counters
//! must end in `_total`, which would rename them away from kubeflow's
//! names (Prometheus' `rate()` and `increase()` work on them all the same).
//! Kubeflow's summaries are histograms here (`prometheus-client` has no
//! summary); their `_sum` and `_count` series are the same.

use k8s_openapi::jiff::Timestamp;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::application::{ApplicationStateType as S, SparkApplicationStatus};

/// Upper bounds (seconds) of the run-time and latency buckets.
const RUN_BUCKETS: [f64; 11] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0,
];

/// The `namespace` label.
pub type NsLabel = [(&'static str, String); 1];
/// The labels of a ScheduledSparkApplication's series.
type ScheduledLabel = [(&'static str, String); 2];
type Timing = Family<NsLabel, Histogram, fn() -> Histogram>;

fn run_histogram() -> Histogram {
    Histogram::new(RUN_BUCKETS)
}

/// The outcome metrics (registered without the operator's prefix).
#[derive(Debug)]
pub struct Outcomes {
    count: Family<NsLabel, Gauge>,
    submit: Family<NsLabel, Gauge>,
    failed_submission: Family<NsLabel, Gauge>,
    success: Family<NsLabel, Gauge>,
    failure: Family<NsLabel, Gauge>,
    /// Recomputed from the operator's state map on each scrape.
    pub running: Family<NsLabel, Gauge>,
    success_time: Timing,
    failure_time: Timing,
    start_latency: Timing,
    scheduled_success: Family<ScheduledLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Outcomes {
    /// The metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let timing = || Timing::new_with_constructor(run_histogram as fn() -> Histogram);
        let o = Outcomes {
            count: Family::default(),
            submit: Family::default(),
            failed_submission: Family::default(),
            success: Family::default(),
            failure: Family::default(),
            running: Family::default(),
            success_time: timing(),
            failure_time: timing(),
            start_latency: timing(),
            scheduled_success: Family::default(),
        };
        for (name, help, m) in [
            (
                "spark_application_count",
                "SparkApplications handled (first submission)",
                &o.count,
            ),
            (
                "spark_application_submit_count",
                "Runs submitted (driver pod created)",
                &o.submit,
            ),
            (
                "spark_application_failed_submission_count",
                "Runs whose pods could not be created",
                &o.failed_submission,
            ),
            (
                "spark_application_success_count",
                "Applications completed",
                &o.success,
            ),
            (
                "spark_application_failure_count",
                "Applications failed",
                &o.failure,
            ),
            (
                "spark_application_running_count",
                "Applications running now",
                &o.running,
            ),
        ] {
            registry.register(name, help, m.clone());
        }
        for (name, help, m) in [
            (
                "spark_application_success_execution_time_seconds",
                "Run time of completed applications (submission to end)",
                &o.success_time,
            ),
            (
                "spark_application_failure_execution_time_seconds",
                "Run time of failed applications (submission to end)",
                &o.failure_time,
            ),
            (
                "spark_application_start_latency_seconds",
                "From an application's creation to its driver running",
                &o.start_latency,
            ),
        ] {
            registry.register(name, help, m.clone());
        }
        registry.register(
            "spark_scheduled_application_last_success_timestamp_seconds",
            "When the last run of each ScheduledSparkApplication completed (Unix time)",
            o.scheduled_success.clone(),
        );
        o
    }

    /// An application of `namespace`, created at `created`, moved from
    /// `old` into `next`'s state; `scheduled` names the
    /// ScheduledSparkApplication that made it.
    pub fn transition(
        &self,
        namespace: &str,
        created: Option<Timestamp>,
        scheduled: Option<&str>,
        old: &SparkApplicationStatus,
        next: &SparkApplicationStatus,
        now: Timestamp,
    ) {
        let ns = [("namespace", namespace.to_string())];
        let since = |t: Option<Timestamp>| t.map(|t| now.duration_since(t).as_secs_f64().max(0.0));
        let run_time = since(next.last_submission_attempt_time.as_ref().map(|t| t.0));
        match next.application_state.state {
            S::Submitted => {
                if old.last_submission_attempt_time.is_none() {
                    self.count.get_or_create(&ns).inc();
                }
                self.submit.get_or_create(&ns).inc();
            }
            S::SubmissionFailed => {
                self.failed_submission.get_or_create(&ns).inc();
            }
            S::Running => {
                if let Some(s) = since(created) {
                    self.start_latency.get_or_create(&ns).observe(s);
                }
            }
            S::Completed => {
                self.success.get_or_create(&ns).inc();
                if let Some(s) = run_time {
                    self.success_time.get_or_create(&ns).observe(s);
                }
                if let Some(name) = scheduled {
                    self.scheduled_success
                        .get_or_create(&[
                            ("namespace", namespace.to_string()),
                            ("scheduled_app", name.to_string()),
                        ])
                        .set(now.as_millisecond() as f64 / 1000.0);
                }
            }
            S::Failed => {
                self.failure.get_or_create(&ns).inc();
                if let Some(s) = run_time {
                    self.failure_time.get_or_create(&ns).observe(s);
                }
            }
            _ => {}
        }
    }
}
