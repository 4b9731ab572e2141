//! `kiln logs NAME [--executor N] [-f]`: the log of an application's driver
//! pod (or of executor N), found by the labels the operator puts on its
//! pods, streamed through the API server like `kubectl logs`. When the pod
//! is gone, the log the run archived next to its event log is read from the
//! history server (`status.historyURL`, or `--history-url`); without one,
//! the last lines the operator kept in `status.driverLogTail`.

use futures::io::AllowStdIo;
use k8s_openapi::api::core::v1::Pod;
use kiln_operator::controller::names::{
    app_label, container as container_name, LABEL_APP, LABEL_EXECUTOR_ID, LABEL_ROLE, LABEL_RUN,
    ROLE_DRIVER, ROLE_EXECUTOR,
};
use kiln_operator::SparkApplication;
use kube::api::{ListParams, LogParams};
use kube::{Api, ResourceExt};

use super::show::state_name;
use super::{Ctx, K8sError, KubeArgs};
use crate::CliError;

/// Arguments of `kiln logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The application.
    pub name: String,
    /// Show executor N's log (its executor id: 1, 2, ...) instead of the driver's.
    #[arg(long, value_name = "N")]
    pub executor: Option<u32>,
    /// Keep streaming new lines until the container ends.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// The history server to read archived logs from once the pods are gone
    /// (default: the run's `status.historyURL`), e.g. a port-forward to the
    /// chart's history Service: `http://localhost:18080/<its base path>`.
    #[arg(long, value_name = "URL")]
    pub history_url: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `kiln logs`.
pub async fn logs(args: LogsArgs) -> Result<(), CliError> {
    let ctx = Ctx::connect(&args.kube, None).await?;
    let app = ctx.get_app(&args.name).await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let role = if args.executor.is_some() {
        ROLE_EXECUTOR
    } else {
        ROLE_DRIVER
    };
    let found = pods
        .list(&ListParams::default().labels(&selector(&args.name, role, args.executor)))
        .await
        .map_err(|e| ctx.error(e, None))?
        .items;
    let preferred = match args.executor {
        None => app
            .status
            .as_ref()
            .and_then(|s| s.driver_info.as_ref())
            .and_then(|d| d.pod_name.clone()),
        Some(_) => None,
    };
    let candidates: Vec<Pod> = found.into_iter().filter(|p| belongs(p, &app)).collect();
    match pick(candidates, preferred.as_deref()) {
        Some(pod) => stream(&ctx, &pods, &pod, role, &args).await?,
        None => {
            if !archived(&app, &args).await? {
                gone(&app, args.executor)?
            }
        }
    }
    Ok(())
}

/// The label selector of the pods asked for (the operator's labels; its
/// application label is the name, cut and hashed beyond 63 characters).
pub fn selector(app: &str, role: &str, executor: Option<u32>) -> String {
    let mut s = format!("{LABEL_ROLE}={role},{LABEL_APP}={}", app_label(app));
    if let Some(id) = executor {
        s.push_str(&format!(",{LABEL_EXECUTOR_ID}={id}"));
    }
    s
}

/// Whether `pod` is this application's and not a deleted namesake's:
/// owned by it, or (a pod made by hand, without owner) just labelled.
fn belongs(pod: &Pod, app: &SparkApplication) -> bool {
    let owners = pod.owner_references();
    let uid = app.metadata.uid.as_deref().unwrap_or_default();
    owners.is_empty() || owners.iter().any(|o| o.uid == uid)
}

/// The pod to read: the one the status names, else the newest run's.
fn pick(mut pods: Vec<Pod>, preferred: Option<&str>) -> Option<Pod> {
    if let Some(name) = preferred {
        if let Some(i) = pods.iter().position(|p| p.name_any() == name) {
            return Some(pods.swap_remove(i));
        }
    }
    pods.into_iter().max_by_key(|p| {
        let run = p
            .labels()
            .get(LABEL_RUN)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0);
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or(0);
        (run, created)
    })
}

/// Copies the pod's log to stdout.
async fn stream(
    ctx: &Ctx,
    pods: &Api<Pod>,
    pod: &Pod,
    role: &str,
    args: &LogsArgs,
) -> Result<(), K8sError> {
    let containers: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    // The operator names the container after the role, as Spark does
    // (`spark-kubernetes-driver`); a pod with one container needs no name.
    let named = container_name(role);
    let container = if containers.iter().any(|c| c == named) {
        Some(named.to_string())
    } else if containers.len() > 1 {
        containers.first().cloned()
    } else {
        None
    };
    let params = LogParams {
        container,
        follow: args.follow,
        tail_lines: args.tail,
        ..LogParams::default()
    };
    let name = pod.name_any();
    let reader = pods
        .log_stream(&name, &params)
        .await
        .map_err(|e| match ctx.error(e, None) {
            K8sError::Api(m) => K8sError::Api(format!("cannot read the log of pod {name}: {m}")),
            other => other,
        })?;
    let mut out = AllowStdIo::new(std::io::stdout());
    match futures::io::copy_buf(reader, &mut out).await {
        Ok(_) => Ok(()),
        // `kiln logs x | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(K8sError::Failed(format!(
            "reading the log of pod {name}: {e}"
        ))),
    }
}

/// No pod: the log archived with the run's event log, printed (its last
/// `--tail` lines) when the history server has it. `Ok(false)`: there is no
/// history server to ask; an error when there is one and it does not have
/// the log.
async fn archived(app: &SparkApplication, args: &LogsArgs) -> Result<bool, K8sError> {
    let file = match args.executor {
        Some(id) => format!("executor-{id}.log"),
        None => "driver.log".to_string(),
    };
    let Some(url) = super::archive::log_url(app, args.history_url.as_deref(), &file) else {
        return Ok(false);
    };
    let text = super::archive::get(&url).await.map_err(|e| {
        K8sError::Failed(format!(
            "the pod of \"{}\" is gone and its archived log cannot be read: {e}",
            app.name_any()
        ))
    })?;
    eprintln!(
        "note: the pod of \"{}\" is gone; its log as archived at the end of the run ({url}):",
        app.name_any()
    );
    let lines: Vec<&str> = text.lines().collect();
    let keep = args
        .tail
        .map(|n| usize::try_from(n.max(0)).unwrap_or(usize::MAX))
        .unwrap_or(lines.len())
        .min(lines.len());
    for l in &lines[lines.len() - keep..] {
        println!("{l}");
    }
    Ok(true)
}

/// No pod: the driver's kept log lines, or an error saying why.
fn gone(app: &SparkApplication, executor: Option<u32>) -> Result<(), K8sError> {
    let name = app.name_any();
    let state = state_name(app);
    let hint = match state {
        "NEW" => " (the operator has not started it yet)",
        "SUBMITTED" | "PENDING_RERUN" | "RESUMING" => " (its pods are being created)",
        _ => "",
    };
    match executor {
        Some(id) => Err(K8sError::Failed(format!(
            "sparkapplication \"{name}\" has no pod for executor {id}; state {state}{hint}"
        ))),
        None => {
            let tail = app
                .status
                .as_ref()
                .map(|s| s.driver_log_tail.as_slice())
                .unwrap_or_default();
            if tail.is_empty() {
                return Err(K8sError::Failed(format!(
                    "sparkapplication \"{name}\" has no driver pod and no saved driver log; state {state}{hint}"
                )));
            }
            eprintln!(
                "note: the driver pod of \"{name}\" is gone; its last {} log lines, kept in the application's status:",
                tail.len()
            );
            for line in tail {
                println!("{line}");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, run: &str, created: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kiln.dev/run": run}, "creationTimestamp": created},
        }))
        .unwrap()
    }

    #[test]
    fn selector_names_role_executor_and_app() {
        assert_eq!(
            selector("q1", "driver", None),
            "kiln.dev/role=driver,kiln.dev/app=q1"
        );
        assert_eq!(
            selector("q1", "executor", Some(2)),
            "kiln.dev/role=executor,kiln.dev/app=q1,kiln.dev/executor-id=2"
        );
        // Long names: the operator's cut-and-hashed label value.
        let long = "a".repeat(70);
        let s = selector(&long, "driver", None);
        let value = s.rsplit('=').next().unwrap();
        assert!(value.len() <= 63 && value != long, "{s}");
    }

    #[test]
    fn the_named_pod_wins_then_the_newest_run() {
        let pods = vec![
            pod("q-1-driver", "1", "2025-01-01T00:00:00Z"),
            pod("q-3-driver", "3", "2025-01-01T00:00:01Z"),
            pod("q-2-driver", "2", "2025-01-01T00:00:02Z"),
        ];
        assert_eq!(pick(pods.clone(), None).unwrap().name_any(), "q-3-driver");
        assert_eq!(
            pick(pods.clone(), Some("q-2-driver")).unwrap().name_any(),
            "q-2-driver"
        );
        assert_eq!(pick(pods, Some("other")).unwrap().name_any(), "q-3-driver");
        assert!(pick(Vec::new(), Some("x")).is_none());
    }
}
