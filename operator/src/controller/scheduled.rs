//! ScheduledSparkApplications: create a SparkApplication from the template
//! each time the schedule comes due, apply the concurrency policy, keep the
//! history limits, and report `lastRun`, `nextRun`, `lastRunName` and the
//! past runs in the status.
//!
//! The next run is computed from the last one (or from the creation time),
//! not stored, so a changed schedule takes effect at once and an operator
//! that was down runs a missed schedule once, not once per missed slot. A
//! run's name comes from its scheduled time, so a repeated create after a
//! restart finds the run instead of making a second one.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tracing::info;

use super::names::{self, LABEL_SCHEDULED};
use super::{cron, write_status, Context, ControllerError};
use crate::application::ApplicationStateType as S;
use crate::scheduled::{ConcurrencyPolicy, ScheduleState};
use crate::{ScheduledSparkApplication, SparkApplication};

/// The controller's reconcile function for ScheduledSparkApplications.
pub async fn reconcile(
    sched: Arc<ScheduledSparkApplication>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let started = std::time::Instant::now();
    let r = reconcile_scheduled(&sched, &ctx).await;
    ctx.metrics.reconciled(started.elapsed(), r.is_ok());
    r
}

/// Errors are retried after a short pause.
pub fn error_policy(
    sched: Arc<ScheduledSparkApplication>,
    e: &ControllerError,
    _: Arc<Context>,
) -> Action {
    super::requeue_after_error(&format!("scheduled {}", sched.name_any()), e)
}

/// What a run's state means for the schedule.
fn finished(app: &SparkApplication) -> Option<bool> {
    let s = app.status.as_ref()?.application_state.state;
    match s {
        S::Completed => Some(true),
        S::Failed => Some(false),
        _ => None,
    }
}

fn created(app: &SparkApplication) -> i64 {
    app.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(0)
}

async fn reconcile_scheduled(
    cached: &ScheduledSparkApplication,
    ctx: &Context,
) -> Result<Action, ControllerError> {
    let ns = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    let api: Api<ScheduledSparkApplication> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(sched) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    if sched.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let old = sched.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let parsed = cron::parse(&sched.spec.schedule)
        .map_err(|e| format!("schedule `{}`: {e}", sched.spec.schedule))
        .and_then(|s| cron::time_zone(&sched.spec.time_zone).map(|tz| (s, tz)));
    let (schedule, tz) = match parsed {
        Ok(p) => p,
        Err(reason) => {
            st.schedule_state = Some(ScheduleState::FailedValidation);
            st.reason = reason.clone();
            st.next_run = None;
            if old.schedule_state != Some(ScheduleState::FailedValidation) {
                ctx.events
                    .publish(&sched, true, "ScheduleInvalid", reason)
                    .await;
            }
            write_status(&api, &name, &old, &st).await?;
            return Ok(Action::await_change());
        }
    };
    st.schedule_state = Some(ScheduleState::Scheduled);
    st.reason.clear();

    let apps: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &ns);
    let uid = sched.uid().unwrap_or_default();
    let mut runs: Vec<SparkApplication> = apps
        .list(
            &ListParams::default()
                .labels(&format!("{LABEL_SCHEDULED}={}", names::app_label(&name))),
        )
        .await?
        .items
        .into_iter()
        .filter(|a| a.owner_references().iter().any(|o| o.uid == uid))
        .filter(|a| a.metadata.deletion_timestamp.is_none())
        .collect();
    runs.sort_by_key(|a| std::cmp::Reverse(created(a)));

    // History: keep the newest finished runs up to each limit.
    let mut past_ok = Vec::new();
    let mut past_failed = Vec::new();
    for run in &runs {
        let (list, limit) = match finished(run) {
            Some(true) => (&mut past_ok, sched.spec.successful_run_history_limit),
            Some(false) => (&mut past_failed, sched.spec.failed_run_history_limit),
            None => continue,
        };
        if (list.len() as i32) < limit {
            list.push(run.name_any());
        } else {
            delete_run(&apps, &run.name_any()).await?;
        }
    }
    st.past_successful_run_names = past_ok;
    st.past_failed_run_names = past_failed;

    let now = Timestamp::now().as_second();
    let anchor = old
        .last_run
        .as_ref()
        .map(|t| t.0.as_second())
        .or_else(|| {
            sched
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
        })
        .unwrap_or(now);
    let mut due = schedule.next_after(anchor, tz);
    if sched.spec.suspend {
        st.next_run = None;
        write_status(&api, &name, &old, &st).await?;
        return Ok(Action::await_change());
    }
    if let Some(at) = due.filter(|at| *at <= now) {
        let running: Vec<&SparkApplication> =
            runs.iter().filter(|r| finished(r).is_none()).collect();
        match sched.spec.concurrency_policy {
            ConcurrencyPolicy::Forbid if !running.is_empty() => {
                ctx.events
                    .publish(
                        &sched,
                        false,
                        "RunSkipped",
                        format!(
                            "concurrencyPolicy Forbid: {} still runs",
                            running[0].name_any()
                        ),
                    )
                    .await;
                info!(scheduled = %name, "run skipped: the previous one still runs");
            }
            policy => {
                if policy == ConcurrencyPolicy::Replace {
                    for r in &running {
                        delete_run(&apps, &r.name_any()).await?;
                        ctx.events
                            .publish(
                                &sched,
                                false,
                                "RunReplaced",
                                format!("concurrencyPolicy Replace: deleted {}", r.name_any()),
                            )
                            .await;
                    }
                }
                let run_name = names::dns_label(&name, &format!("-{at}"));
                create_run(&apps, &sched, &run_name).await?;
                st.last_run_name = Some(run_name.clone());
                ctx.events
                    .publish(&sched, false, "RunCreated", format!("created {run_name}"))
                    .await;
                info!(scheduled = %name, run = %run_name, "run created");
            }
        }
        // A skipped run counts as run: the next one follows the schedule.
        st.last_run = Some(Time(ts(now)));
        due = schedule.next_after(now, tz);
    }
    st.next_run = due.map(|t| Time(ts(t)));
    write_status(&api, &name, &old, &st).await?;
    Ok(match due {
        Some(t) => Action::requeue(Duration::from_secs((t - now).max(1) as u64)),
        None => Action::await_change(),
    })
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

async fn delete_run(apps: &Api<SparkApplication>, name: &str) -> Result<(), ControllerError> {
    match apps.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn create_run(
    apps: &Api<SparkApplication>,
    sched: &ScheduledSparkApplication,
    run_name: &str,
) -> Result<(), ControllerError> {
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(
        LABEL_SCHEDULED.to_string(),
        names::app_label(&sched.name_any()),
    );
    let app = SparkApplication {
        metadata: ObjectMeta {
            name: Some(run_name.to_string()),
            namespace: sched.namespace(),
            labels: Some(labels),
            owner_references: sched.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: sched.spec.template.clone(),
        status: None,
    };
    match apps.create(&PostParams::default(), &app).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
