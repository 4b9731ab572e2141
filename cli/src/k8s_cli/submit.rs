//! `kiln submit APP.yaml`: server-side apply of the SparkApplication, then
//! following its status (a watch on the one object) until it ends: a
//! progress bar on a terminal, one plain line per change otherwise.
//! COMPLETED exits 0; FAILED (and SUBMISSION_FAILED with no retry left)
//! exits 1 with the status' error message.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_operator::controller::state::retry_after_submission_failure;
use kiln_operator::{ApplicationStateType, SparkApplication};
use kube::api::{Patch, PatchParams, ValidationDirective};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;

use super::show::state_name;
use super::{manifest, Ctx, K8sError, KubeArgs, FIELD_MANAGER};
use crate::CliError;

/// Arguments of `kiln submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The SparkApplication manifest (the file `kiln run` reads; kubeflow's
    /// sparkoperator.k8s.io/v1beta2 is accepted too), or a PySpark script
    /// (`.py`) submitted as a `type: Python` application.
    pub manifest: PathBuf,
    /// Arguments of a `.py` script.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub script_args: Vec<String>,
    /// Name of the application made from a `.py` script (default: the file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Executors of the application made from a `.py` script.
    #[arg(long, default_value_t = 2)]
    pub executors: u32,
    /// Settings (`spec.conf`) of the application made from a `.py` script,
    /// as KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
    /// Return once the application is created instead of following it.
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `kiln submit`.
pub async fn submit(args: SubmitArgs) -> Result<(), CliError> {
    let origin = args.manifest.display().to_string();
    let script = args.manifest.extension().is_some_and(|e| e == "py");
    if !script && (!args.script_args.is_empty() || args.name.is_some() || !args.conf.is_empty()) {
        return Err(K8sError::Usage(format!(
            "script arguments, --name and --conf are for a .py script, not the manifest {origin}"
        ))
        .into());
    }
    let prepared = if script {
        let mut conf = serde_json::Map::new();
        for kv in &args.conf {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| K8sError::Usage(format!("--conf `{kv}`: expected KEY=VALUE")))?;
            conf.insert(k.trim().to_string(), v.trim().into());
        }
        let mut p = manifest::from_script(
            &args.manifest,
            args.name.as_deref(),
            &args.script_args,
            args.executors,
        )?;
        if !conf.is_empty() {
            p.object["spec"]["conf"] = serde_json::Value::Object(conf);
        }
        p
    } else {
        manifest::load(&args.manifest)?
    };
    if let (Some(flag), Some(own)) = (&args.kube.namespace, &prepared.namespace) {
        if flag != own {
            return Err(K8sError::Usage(format!(
                "{origin} is for namespace \"{own}\" but --namespace says \"{flag}\""
            ))
            .into());
        }
    }
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    let ctx = Ctx::connect(&args.kube, prepared.namespace.as_deref()).await?;
    let name = prepared.name;
    let mut object = prepared.object;
    object["metadata"]["namespace"] = ctx.namespace.clone().into();

    let api = ctx.apps();
    let before = api.get_opt(&name).await.map_err(|e| ctx.error(e, None))?;
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    // Typos in field names are refused, as `kubectl apply` does.
    params.field_validation = Some(ValidationDirective::Strict);
    let applied = api
        .patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| match e {
            // 422: the schema refused a value; 400, or 500 "failed to create
            // typed patch object": a field the schema does not declare.
            kube::Error::Api(s)
                if s.code == 422
                    || s.code == 400
                    || s.message.starts_with("failed to create typed patch object") =>
            {
                K8sError::Manifest {
                    path: origin.clone(),
                    message: s.message,
                }
            }
            other => ctx.error(other, None),
        })?;
    let verb = match &before {
        None => "created",
        Some(b) if b.metadata.generation == applied.metadata.generation => "unchanged",
        Some(_) => "configured",
    };
    println!(
        "sparkapplication \"{name}\" {verb} in namespace \"{}\"",
        ctx.namespace
    );
    if args.detach {
        return Ok(());
    }
    if object_is_connect(&applied) {
        eprintln!(
            "a Connect application serves until it is deleted or suspended; `kiln status {name}` prints its sc:// address"
        );
        return Ok(());
    }
    follow(&ctx, &name, applied.metadata.generation).await?;
    Ok(())
}

fn object_is_connect(app: &SparkApplication) -> bool {
    app.spec.type_ == kiln_operator::ApplicationType::Connect
}

/// How a followed application ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// COMPLETED.
    Completed,
    /// FAILED, or SUBMISSION_FAILED with no retry left: the message.
    Failed(String),
}

/// Whether `app` has ended, judged on a status written for `generation`
/// (the spec that was applied) or later: a finished state left from the run
/// of an older spec is not this submission's result.
pub fn outcome(app: &SparkApplication, generation: Option<i64>) -> Option<Outcome> {
    let st = app.status.as_ref()?;
    if let (Some(seen), Some(applied)) = (st.observed_generation, generation) {
        if seen < applied {
            return None;
        }
    }
    let message = || {
        let m = st.application_state.error_message.trim();
        if m.is_empty() {
            "no error message was recorded".to_string()
        } else {
            m.to_string()
        }
    };
    match st.application_state.state {
        ApplicationStateType::Completed => Some(Outcome::Completed),
        ApplicationStateType::Failed => Some(Outcome::Failed(message())),
        ApplicationStateType::SubmissionFailed
            if retry_after_submission_failure(&app.spec.restart_policy, st.submission_attempts)
                .is_none() =>
        {
            Some(Outcome::Failed(message()))
        }
        _ => None,
    }
}

/// One line about where the application is.
pub fn describe(app: &SparkApplication) -> String {
    let st = app.status.as_ref();
    let executors = st
        .and_then(|s| s.executors.as_ref())
        .map(|c| format!("{}/{}", c.ready, c.requested))
        .unwrap_or_else(|| "-".into());
    let stages = st
        .and_then(|s| s.progress.as_ref())
        .map(|p| format!("{}/{}", p.stages_done, p.stages_total))
        .unwrap_or_else(|| "-".into());
    format!(
        "{}  executors {executors}  stages {stages}",
        state_name(app)
    )
}

/// Watches the application until it ends.
async fn follow(ctx: &Ctx, name: &str, generation: Option<i64>) -> Result<(), K8sError> {
    let mut view = View::new(name);
    let mut updates = watcher::watch_object(ctx.apps(), name)
        .default_backoff()
        .boxed();
    while let Some(update) = updates.next().await {
        match update {
            Ok(Some(app)) => {
                view.show(&app);
                match outcome(&app, generation) {
                    Some(Outcome::Completed) => {
                        view.finish();
                        println!("sparkapplication \"{}\" COMPLETED", app.name_any());
                        return Ok(());
                    }
                    Some(Outcome::Failed(message)) => {
                        view.finish();
                        return Err(K8sError::Failed(format!(
                            "sparkapplication \"{name}\" {}: {message}",
                            state_name(&app)
                        )));
                    }
                    None => {}
                }
            }
            Ok(None) => {
                view.finish();
                return Err(K8sError::Failed(format!(
                    "sparkapplication \"{name}\" was deleted before it finished"
                )));
            }
            // The watcher retries with backoff; say so and keep waiting.
            Err(e) => view.warn(&format!("watch interrupted, retrying: {e}")),
        }
    }
    view.finish();
    Err(K8sError::Failed(format!(
        "stopped following sparkapplication \"{name}\" before it finished"
    )))
}

/// The progress display: a bar on a terminal, plain lines otherwise.
struct View {
    name: String,
    bar: Option<ProgressBar>,
    last: String,
}

impl View {
    fn new(name: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(spinner_style());
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            name: name.to_string(),
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, app: &SparkApplication) {
        let line = describe(app);
        match &self.bar {
            Some(bar) => {
                let st = app.status.as_ref();
                let executors = st
                    .and_then(|s| s.executors.as_ref())
                    .map(|c| format!("{}/{}", c.ready, c.requested))
                    .unwrap_or_else(|| "-".into());
                bar.set_message(format!("{}  executors {executors}", state_name(app)));
                match st.and_then(|s| s.progress.as_ref()) {
                    Some(p) if p.stages_total > 0 => {
                        if bar.length() != Some(p.stages_total as u64) {
                            bar.set_style(bar_style());
                            bar.set_length(p.stages_total as u64);
                        }
                        bar.set_position(p.stages_done.max(0) as u64);
                    }
                    _ => {}
                }
            }
            None => {
                if line != self.last {
                    println!("{}: {line}", self.name);
                }
            }
        }
        self.last = line;
    }

    fn warn(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            eprintln!("{}: {}", self.name, self.last);
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} [{elapsed_precise}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} {prefix:.bold} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} stages  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(spec: serde_json::Value, status: serde_json::Value) -> SparkApplication {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "q1", "namespace": "default", "generation": 2},
            "spec": spec, "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn completed_and_failed_end_the_follow() {
        let spec = serde_json::json!({"sql": "SELECT 1"});
        let done = app(
            spec.clone(),
            serde_json::json!({"applicationState": {"state": "COMPLETED"}}),
        );
        assert_eq!(outcome(&done, Some(2)), Some(Outcome::Completed));
        let failed = app(
            spec.clone(),
            serde_json::json!({"applicationState": {"state": "FAILED", "errorMessage": "boom"}}),
        );
        assert_eq!(
            outcome(&failed, Some(2)),
            Some(Outcome::Failed("boom".into()))
        );
        let running = app(
            spec,
            serde_json::json!({"applicationState": {"state": "RUNNING"}}),
        );
        assert_eq!(outcome(&running, Some(2)), None);
    }

    #[test]
    fn a_finished_state_of_an_older_spec_is_not_the_result() {
        let old = app(
            serde_json::json!({"sql": "SELECT 1"}),
            serde_json::json!({"applicationState": {"state": "COMPLETED"}, "observedGeneration": 1}),
        );
        assert_eq!(outcome(&old, Some(2)), None);
        assert_eq!(outcome(&old, Some(1)), Some(Outcome::Completed));
    }

    #[test]
    fn submission_failure_ends_only_without_retries_left() {
        let status = serde_json::json!({"applicationState": {"state": "SUBMISSION_FAILED", "errorMessage": "quota"}, "submissionAttempts": 1});
        let never = app(serde_json::json!({"sql": "SELECT 1"}), status.clone());
        assert_eq!(outcome(&never, None), Some(Outcome::Failed("quota".into())));
        let retries = app(
            serde_json::json!({"sql": "SELECT 1", "restartPolicy": {"type": "OnFailure", "onSubmissionFailureRetries": 2}}),
            status,
        );
        assert_eq!(outcome(&retries, None), None);
        let spent = app(
            serde_json::json!({"sql": "SELECT 1", "restartPolicy": {"type": "OnFailure", "onSubmissionFailureRetries": 2}}),
            serde_json::json!({"applicationState": {"state": "SUBMISSION_FAILED"}, "submissionAttempts": 3}),
        );
        assert_eq!(
            outcome(&spent, None),
            Some(Outcome::Failed("no error message was recorded".into()))
        );
    }

    #[test]
    fn the_line_shows_state_executors_and_stages() {
        let a = app(
            serde_json::json!({"sql": "SELECT 1"}),
            serde_json::json!({"applicationState": {"state": "RUNNING"},
                "executors": {"ready": 1, "requested": 2, "summary": "1/2"},
                "progress": {"stagesDone": 3, "stagesTotal": 7, "summary": "3/7"}}),
        );
        assert_eq!(describe(&a), "RUNNING  executors 1/2  stages 3/7");
    }
}
