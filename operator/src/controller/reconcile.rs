//! One reconcile of a SparkApplication: read it and its pods (from the
//! stores, as new as the operator's own writes: [`super::cache`]), let the
//! state machine ([`super::state::decide`]) pick the step, perform it,
//! write the status (as a merge patch of what changed, so the driver's
//! progress writes are never overwritten) and publish an event per
//! transition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, LogParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use super::executors::{is_executor, manage_executors};
use super::monitoring;
use super::names::{self, LABEL_RUN};
use super::observe::{self, driver_obs, engine_error};
use super::resources::{self, CONNECT_PORT, UI_PORT};
use super::state::{self, DriverObs, Observation, SpecChange, Step, CLEANUP_POLL};
use super::tls;
use super::writes::{create_once, create_pod, delete_pods, key, write};
use super::{Context, ControllerError};
use crate::application::{
    ApplicationStateType as S, ApplicationType, DriverInfo, ExecutorCounts, SparkApplication,
    SparkApplicationStatus,
};

/// The controller's reconcile function.
pub async fn reconcile(
    app: Arc<SparkApplication>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let started = Instant::now();
    let result = reconcile_app(&app, &ctx).await;
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    result
}

/// Errors are retried after a short pause.
pub fn error_policy(app: Arc<SparkApplication>, e: &ControllerError, _: Arc<Context>) -> Action {
    super::requeue_after_error(
        &format!(
            "reconcile {}/{}",
            app.namespace().unwrap_or_default(),
            app.name_any()
        ),
        e,
    )
}

async fn reconcile_app(
    cached: &SparkApplication,
    ctx: &Context,
) -> Result<Action, ControllerError> {
    let ns = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    let apps: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &ns);
    // Never older than our own last status write: decisions such as "delete
    // the pods of the old run" must not be made on a stale state.
    let Some(app) = ctx.cache.application(&apps, &ns, &name).await? else {
        ctx.metrics.forget(&key(cached));
        ctx.cache.forget(&key(cached));
        return Ok(Action::await_change());
    };
    if app.metadata.deletion_timestamp.is_some() {
        ctx.metrics.forget(&key(&app));
        ctx.cache.forget(&key(&app));
        return Ok(Action::await_change());
    }
    let status = app.status.clone().unwrap_or_default();
    let state = status.application_state.state;
    ctx.metrics.set_state(key(&app), state);

    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let pods = ctx.cache.pods(&pods_api, &app).await?;
    let run = status.execution_attempts;
    let driver_name = names::driver_pod(&name);
    let run_label = run.to_string();
    // Every run's driver pod has the same name: the current run's has its label.
    let driver = pods
        .iter()
        .find(|p| p.name_any() == driver_name && p.labels().get(LABEL_RUN) == Some(&run_label));
    let change = spec_change(ctx, &app, &status).await?;
    let obs = Observation {
        now: Timestamp::now(),
        suspend: app.spec.suspend,
        spec_changed: change == SpecChange::Job,
        driver: driver_obs(driver),
        pods_left: pods.len(),
        restart: app.spec.restart_policy.clone(),
        ttl_seconds: app.spec.time_to_live_seconds,
        submission_timeout: submission_timeout(ctx, &app),
    };

    let mut next = status.clone();
    if change == SpecChange::Lifecycle {
        // Only suspend or timeToLiveSeconds changed: the run stands for
        // the new generation too (a finished application is not re-run).
        next.observed_generation = app.metadata.generation;
    }
    // While the driver runs: executors (created, replaced, counted).
    if matches!(state, S::Submitted | S::Running)
        && !obs.suspend
        && !obs.spec_changed
        && obs.driver == DriverObs::Running
    {
        if let Some(d) = driver {
            manage_executors(&app, ctx, &pods_api, &pods, d, run, &mut next).await?;
        }
    }

    let step = state::decide(state, &status, &obs);
    debug!(app = %key(&app), %state, ?step, "reconcile");
    match step {
        Step::Stay(after) => {
            write(ctx, &apps, &app, &status, &next).await?;
            Ok(after
                .map(Action::requeue)
                .unwrap_or_else(Action::await_change))
        }
        Step::To(to, message) => {
            let message = if to == S::Failing {
                let (m, tail) = driver_failure(ctx, &pods_api, driver, message).await;
                next.driver_log_tail = tail;
                Some(m)
            } else if to == S::SubmissionFailed {
                // The submission timed out: say what held the pod back.
                let why = driver.and_then(observe::waiting_reason);
                message.map(|m| match why {
                    Some(why) => format!("{m}: {why}"),
                    None => m,
                })
            } else {
                message
            };
            let detail = message.clone().unwrap_or_default();
            let next = state::transition(&next, to, message, obs.now);
            move_to(ctx, &apps, &app, &status, next, &detail).await?;
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Step::Submit { new_run } => {
            let next = submit(ctx, &app, &status, new_run, obs.now).await?;
            let detail = match next.application_state.state {
                S::Submitted => format!(
                    "run {} submitted: driver pod {}",
                    next.execution_attempts,
                    next.driver_info
                        .as_ref()
                        .and_then(|d| d.pod_name.clone())
                        .unwrap_or_default()
                ),
                _ => next.application_state.error_message.clone(),
            };
            move_to(ctx, &apps, &app, &status, next, &detail).await?;
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Step::DeletePods => {
            delete_pods(ctx, &app, &pods_api, &pods, |_| true).await?;
            write(ctx, &apps, &app, &status, &next).await?;
            Ok(Action::requeue(CLEANUP_POLL))
        }
        Step::FinishRun(to) => {
            // The driver pod stays (its log is the job's log); executors go.
            delete_pods(ctx, &app, &pods_api, &pods, is_executor).await?;
            let next = state::transition(&next, to, None, obs.now);
            move_to(ctx, &apps, &app, &status, next, "").await?;
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Step::DeleteApplication => {
            ctx.events
                .publish(
                    &app,
                    false,
                    "SparkApplicationExpired",
                    format!(
                        "timeToLiveSeconds ({}) passed since it finished: deleting it",
                        app.spec.time_to_live_seconds.unwrap_or_default()
                    ),
                )
                .await;
            info!(app = %key(&app), "time to live passed: deleting the application");
            match apps.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            ctx.metrics.forget(&key(&app));
            ctx.cache.forget(&key(&app));
            Ok(Action::await_change())
        }
    }
}

/// How the spec compares with the current run's. The job ConfigMap is read
/// only when the generation moved.
async fn spec_change(
    ctx: &Context,
    app: &SparkApplication,
    status: &SparkApplicationStatus,
) -> Result<SpecChange, ControllerError> {
    let generation = app.metadata.generation;
    if status.observed_generation.is_none() || status.observed_generation == generation {
        return Ok(SpecChange::None);
    }
    let cms: Api<ConfigMap> =
        Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default());
    let run = cms
        .get_opt(&names::config_map(&app.name_any()))
        .await?
        .and_then(|cm| {
            cm.annotations()
                .get(names::ANNOTATION_SPEC_FINGERPRINT)
                .cloned()
        });
    let current = resources::spec_fingerprint(&app.spec)?;
    Ok(state::spec_change(
        generation,
        status.observed_generation,
        run.as_deref(),
        &current,
    ))
}

/// The application's submission timeout: its annotation, else the
/// operator's. A malformed annotation is reported and the operator's used.
fn submission_timeout(ctx: &Context, app: &SparkApplication) -> Option<Duration> {
    match app.annotations().get(names::ANNOTATION_SUBMISSION_TIMEOUT) {
        None => ctx.opts.submission_timeout,
        Some(v) => state::parse_timeout(v).unwrap_or_else(|e| {
            warn!(
                app = %key(app),
                "annotation {}: {e}; using the operator's timeout",
                names::ANNOTATION_SUBMISSION_TIMEOUT
            );
            ctx.opts.submission_timeout
        }),
    }
}

/// Writes `next` over `old` (only what changed), records the transition and
/// publishes its event.
async fn move_to(
    ctx: &Context,
    apps: &Api<SparkApplication>,
    app: &SparkApplication,
    old: &SparkApplicationStatus,
    next: SparkApplicationStatus,
    detail: &str,
) -> Result<(), ControllerError> {
    let from = old.application_state.state;
    let to = next.application_state.state;
    write(ctx, apps, app, old, &next).await?;
    if from != to {
        info!(app = %key(app), %from, %to, "{detail}");
        ctx.metrics.transition(to);
        ctx.metrics.outcomes.transition(
            &app.namespace().unwrap_or_default(),
            app.metadata.creation_timestamp.as_ref().map(|t| t.0),
            app.labels().get(names::LABEL_SCHEDULED).map(String::as_str),
            old,
            &next,
            Timestamp::now(),
        );
        ctx.metrics.set_state(key(app), to);
        let driver = next
            .driver_info
            .as_ref()
            .and_then(|d| d.pod_name.as_deref());
        ctx.events
            .transition(app, driver, next.execution_attempts, from, to, detail)
            .await;
    }
    Ok(())
}

/// The reason a driver failed and the end of its log: the engine's `error:`
/// line when the log has one, else what the node reported.
async fn driver_failure(
    ctx: &Context,
    pods: &Api<Pod>,
    driver: Option<&Pod>,
    fallback: Option<String>,
) -> (String, Vec<String>) {
    let fallback = fallback.unwrap_or_else(|| "the driver failed".into());
    let Some(d) = driver else {
        return (fallback, Vec::new());
    };
    let params = LogParams {
        container: Some(names::DRIVER_CONTAINER.into()),
        tail_lines: Some(ctx.opts.driver_log_lines.max(1) as i64 + 20),
        ..LogParams::default()
    };
    match pods.logs(&d.name_any(), &params).await {
        Ok(log) => {
            let tail = observe::tail(&log, ctx.opts.driver_log_lines);
            let msg = engine_error(&log).unwrap_or(fallback);
            (msg, tail)
        }
        Err(e) => {
            warn!(pod = %d.name_any(), "cannot read the driver's log: {e}");
            (fallback, Vec::new())
        }
    }
}

/// Whether an API error means the submission itself is wrong (refused by
/// the API server: invalid pod, forbidden, missing object) rather than a
/// passing problem worth a plain retry.
fn is_permanent(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 409 && s.code != 429)
}

/// Creates the application's objects and the driver pod of a run.
async fn submit(
    ctx: &Context,
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    new_run: bool,
    now: Timestamp,
) -> Result<SparkApplicationStatus, ControllerError> {
    let run = state::run_number(status, new_run);
    let generation = app.metadata.generation;
    match create_run(ctx, app, run).await {
        Ok(()) => {
            let mut next = state::submitted(status, new_run, generation, now);
            let name = app.name_any();
            let svc = names::service(&name);
            let app_id = names::application_id(&name, run);
            let conf = resources::merged_conf(app);
            let ns = app.namespace().unwrap_or_default();
            next.ui_url = monitoring::ui_url(&conf, &svc, &ns, UI_PORT);
            next.history_url = ctx.opts.history.url(&conf, &app_id);
            next.spark_application_id = Some(app_id);
            next.driver_info = Some(DriverInfo {
                pod_name: Some(names::driver_pod(&name)),
                web_ui_service_name: Some(svc.clone()),
                web_ui_port: Some(UI_PORT),
                web_ui_address: Some(format!(
                    "{svc}.{}.svc:{UI_PORT}",
                    app.namespace().unwrap_or_default()
                )),
                address: None,
                connect_address: (app.spec.type_ == ApplicationType::Connect).then(|| {
                    format!(
                        "sc://{svc}.{}.svc:{CONNECT_PORT}",
                        app.namespace().unwrap_or_default()
                    )
                }),
            });
            // The last run's request (0 once it ended) is not this run's.
            next.requested_executors = None;
            let mut fresh = app.clone();
            if let Some(st) = fresh.status.as_mut() {
                st.requested_executors = None;
            }
            next.executors = Some(ExecutorCounts::new(0, resources::wanted_executors(&fresh)));
            next.driver_log_tail.clear();
            // Only the very first submission: application created -> driver pod created.
            if status.last_submission_attempt_time.is_none() {
                if let Some(created) = &app.metadata.creation_timestamp {
                    let d = now.duration_since(created.0);
                    ctx.metrics
                        .submitted(Duration::try_from(d).unwrap_or(Duration::ZERO));
                }
            }
            Ok(next)
        }
        Err(ControllerError::Kube(e)) if is_permanent(&e) => Ok(state::submission_failed(
            status,
            new_run,
            generation,
            format!(
                "cannot create the application's objects: {}",
                api_message(&e)
            ),
            now,
        )),
        Err(ControllerError::Invalid(m)) => Ok(state::submission_failed(
            status, new_run, generation, m, now,
        )),
        Err(e) => Err(e),
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

async fn create_run(
    ctx: &Context,
    app: &SparkApplication,
    run: i32,
) -> Result<(), ControllerError> {
    let ns = app.namespace().unwrap_or_default();
    let client = &ctx.client;
    let image = app
        .spec
        .image
        .clone()
        .unwrap_or_else(|| ctx.opts.default_image.clone());
    create_once(
        &Api::<ServiceAccount>::namespaced(client.clone(), &ns),
        &resources::service_account(app),
    )
    .await?;
    create_once(
        &Api::<Role>::namespaced(client.clone(), &ns),
        &resources::role(app)?,
    )
    .await?;
    create_once(
        &Api::<RoleBinding>::namespaced(client.clone(), &ns),
        &resources::role_binding(app)?,
    )
    .await?;
    // Fresh credentials for every run: the driver-executor secret, the
    // certificate, and the settings that are credentials.
    let cert = if resources::tls_enabled(app) {
        Some(tls::issue(&app.name_any(), &ns)?)
    } else {
        None
    };
    let data = resources::secret_data(app, &resources::random_secret()?, cert.as_ref())?;
    write_secret(&Api::<Secret>::namespaced(client.clone(), &ns), app, data).await?;
    // The job follows the spec, which may have changed since the last run.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let conf = resources::merged_conf(app);
    let cm = resources::config_map(app, &ctx.opts.history.job_conf(&conf))?;
    if create_once(&cms, &cm).await?.is_none() {
        let patch = serde_json::json!({
            "metadata": {"annotations": cm.metadata.annotations},
            "data": cm.data,
        });
        cms.patch(
            &names::config_map(&app.name_any()),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    create_once(
        &Api::<Service>::namespaced(client.clone(), &ns),
        &resources::service(app)?,
    )
    .await?;
    let mut pod = resources::driver_pod(app, run, &image)?;
    ctx.opts.history.mount(&conf, &mut pod);
    monitoring::annotate(app, &conf, &mut pod, true);
    create_pod(ctx, app, &Api::namespaced(client.clone(), &ns), &pod).await
}

/// Creates the application's Secret, or rewrites its keys when it exists.
/// The operator may not read Secrets (its role has no get/list/watch on
/// them), so the rewrite is a JSON patch whose first operation tests that
/// the Secret is owned by this application: a Secret of the same name made
/// by someone else is refused, never overwritten.
async fn write_secret(
    api: &Api<Secret>,
    app: &SparkApplication,
    data: BTreeMap<String, String>,
) -> Result<(), ControllerError> {
    let name = names::secret(&app.name_any());
    if create_once(api, &resources::secret(app, data.clone()))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let mut ops = vec![serde_json::json!({
        "op": "test",
        "path": "/metadata/ownerReferences/0/uid",
        "value": app.uid().unwrap_or_default(),
    })];
    // `add` of a map key replaces its value; `/data` may be absent.
    ops.push(serde_json::json!({"op": "add", "path": "/data", "value": {}}));
    for (k, v) in &data {
        use k8s_openapi::ByteString;
        let encoded = serde_json::to_value(ByteString(v.as_bytes().to_vec()))
            .map_err(|e| ControllerError::Invalid(e.to_string()))?;
        ops.push(serde_json::json!({"op": "add", "path": format!("/data/{}", k.replace('~', "~0").replace('/', "~1")), "value": encoded}));
    }
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))
        .map_err(|e| ControllerError::Invalid(format!("secret patch: {e}")))?;
    match api
        .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(()),
        // The test operation failed: not this application's Secret.
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 500 => {
            Err(ControllerError::Invalid(format!(
                "Secret {name} exists and does not belong to this application: rename the application or remove the Secret ({})",
                e.message
            )))
        }
        Err(e) => Err(e.into()),
    }
}
