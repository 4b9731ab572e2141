//! The executors of a running application: how many the run wants (its
//! spec, or the driver's dynamic-allocation request), which are alive, lost
//! or released, and the pods that make up the difference.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::monitoring;
use super::names::{self, LABEL_EXECUTOR_ID, LABEL_ROLE, LABEL_RUN, ROLE_EXECUTOR};
use super::observe::{self, pod_ip};
use super::resources::{self, driver_url};
use super::writes::{create_pod, key};
use super::{Context, ControllerError};
use crate::application::{DriverInfo, ExecutorCounts, SparkApplication, SparkApplicationStatus};

/// Whether `p` is an executor pod.
pub(crate) fn is_executor(p: &Pod) -> bool {
    p.labels().get(LABEL_ROLE).map(String::as_str) == Some(ROLE_EXECUTOR)
}

/// Keeps the wanted number of executors of run `run` alive while its driver
/// runs: creates the first ones once the driver has an IP, replaces failed
/// or vanished ones (up to the operator's limit per run), and records each
/// executor's state and the ready/requested counts in `next`.
pub(crate) async fn manage_executors(
    app: &SparkApplication,
    ctx: &Context,
    api: &Api<Pod>,
    pods: &[Pod],
    driver: &Pod,
    run: i32,
    next: &mut SparkApplicationStatus,
) -> Result<(), ControllerError> {
    let Some(ip) = pod_ip(driver) else {
        return Ok(());
    };
    let url = driver_url(app, ip);
    let info = next.driver_info.get_or_insert_with(DriverInfo::default);
    info.address = Some(url.clone());
    let run_label = run.to_string();
    let execs: Vec<&Pod> = pods
        .iter()
        .filter(|p| is_executor(p) && p.labels().get(LABEL_RUN) == Some(&run_label))
        .collect();
    let id_of = |p: &Pod| -> u32 {
        p.labels()
            .get(LABEL_EXECUTOR_ID)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let max_id = execs.iter().map(|p| id_of(p)).max().unwrap_or(0);
    let failed = execs
        .iter()
        .filter(|p| observe::phase(p) == "Failed")
        .count() as u32;
    // Ids run from 1 without gaps, so ids missing from the list are pods
    // that vanished (deleted, evicted).
    let vanished = max_id.saturating_sub(execs.len() as u32);
    let lost = failed + vanished;
    // Under dynamic allocation an executor that exited 0 was released by the
    // driver (which lowered its request first); otherwise it ended with the
    // job and must not be replaced.
    let released = |p: &Pod| resources::dynamic(app) && observe::phase(p) == "Succeeded";
    let alive = execs
        .iter()
        .filter(|p| observe::phase(p) != "Failed" && !observe::terminating(p) && !released(p))
        .count() as i32;
    let wanted = resources::wanted_executors(app);
    let image = app
        .spec
        .image
        .clone()
        .unwrap_or_else(|| ctx.opts.default_image.clone());
    let mut missing = (wanted - alive).max(0) as u32;
    if max_id > 0 && lost > ctx.opts.max_executor_replacements {
        if missing > 0 {
            warn!(app = %key(app), lost, "executor replacement limit reached");
            ctx.events
                .publish(
                    app,
                    true,
                    "ExecutorReplacementLimit",
                    format!(
                        "{lost} executors of run {run} were lost; the limit of {} replacements is reached",
                        ctx.opts.max_executor_replacements
                    ),
                )
                .await;
        }
        missing = 0;
    }
    let mut new_ids = Vec::new();
    for k in 1..=missing {
        let id = max_id + k;
        let mut pod = resources::executor_pod(app, run, id, &image, &url)?;
        monitoring::annotate(app, &resources::merged_conf(app), &mut pod, false);
        create_pod(ctx, app, api, &pod).await?;
        new_ids.push(id);
    }
    if max_id > 0 && !new_ids.is_empty() {
        // New executors either replace lost ones or follow the driver's
        // dynamic-allocation request.
        let (reason, note) = if lost > 0 {
            (
                "ExecutorReplaced",
                format!(
                    "replaced {} lost executor(s) of run {run} with executor(s) {:?}",
                    new_ids.len(),
                    new_ids
                ),
            )
        } else {
            (
                "ExecutorsAdded",
                format!(
                    "added executor(s) {new_ids:?} to run {run}: the driver asked for {wanted}"
                ),
            )
        };
        info!(app = %key(app), "{note}");
        ctx.events.publish(app, false, reason, note).await;
    }
    let mut states = BTreeMap::new();
    for p in &execs {
        states.insert(p.name_any(), observe::executor_state(p));
    }
    for id in &new_ids {
        states.insert(
            names::executor_pod(&app.name_any(), run, *id),
            crate::application::ExecutorState::Pending,
        );
    }
    let ready = execs.iter().filter(|p| observe::ready(p)).count() as i32;
    next.executor_state = states;
    next.executors = Some(ExecutorCounts::new(ready, wanted));
    Ok(())
}
