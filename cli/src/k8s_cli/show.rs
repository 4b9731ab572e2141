//! `kiln status NAME` and `kiln list`: an application's status as the
//! operator and the driver wrote it, as text for people or as JSON/YAML for
//! scripts, and a table of applications like `kubectl get sparkapp`.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kiln_operator::{SparkApplication, SparkApplicationStatus};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::{Ctx, K8sError, KubeArgs};
use crate::CliError;

/// Output of `kiln status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// Labelled lines for people.
    Text,
    /// The object (metadata, spec, status) as JSON.
    Json,
    /// The object as YAML.
    Yaml,
}

/// Arguments of `kiln status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The application.
    pub name: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: StatusFormat,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Arguments of `kiln list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Applications of every namespace.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `kiln status NAME`.
pub async fn status(args: StatusArgs) -> Result<(), CliError> {
    let ctx = Ctx::connect(&args.kube, None).await?;
    let mut app = ctx.get_app(&args.name).await?;
    let text = match args.output {
        StatusFormat::Text => render_status(&app, Timestamp::now()),
        StatusFormat::Json | StatusFormat::Yaml => {
            // Bookkeeping of field owners is noise here (kubectl hides it too).
            app.metadata.managed_fields = None;
            let out = if args.output == StatusFormat::Json {
                serde_json::to_string_pretty(&app)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string())
            } else {
                serde_yaml::to_string(&app).map_err(|e| e.to_string())
            };
            out.map_err(|e| K8sError::Failed(format!("cannot print the application: {e}")))?
        }
    };
    print!("{text}");
    Ok(())
}

/// `kiln list [-A]`.
pub async fn list(args: ListArgs) -> Result<(), CliError> {
    let ctx = Ctx::connect(&args.kube, None).await?;
    let api: Api<SparkApplication> = if args.all_namespaces {
        Api::all(ctx.client.clone())
    } else {
        ctx.apps()
    };
    let mut apps = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ctx.error(e, None))?
        .items;
    if apps.is_empty() {
        if args.all_namespaces {
            eprintln!("No SparkApplications found.");
        } else {
            eprintln!(
                "No SparkApplications found in namespace \"{}\".",
                ctx.namespace
            );
        }
        return Ok(());
    }
    apps.sort_by_key(|a| (a.namespace(), a.name_any()));
    print!(
        "{}",
        render_list(&apps, args.all_namespaces, Timestamp::now())
    );
    Ok(())
}

/// The state shown for an application (`NEW` before the operator wrote any).
pub fn state_name(app: &SparkApplication) -> &'static str {
    app.status
        .as_ref()
        .map(|s| s.application_state.state.as_str())
        .unwrap_or("NEW")
}

/// The status as labelled lines.
pub fn render_status(app: &SparkApplication, now: Timestamp) -> String {
    let default = SparkApplicationStatus::default();
    let st = app.status.as_ref().unwrap_or(&default);
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<12}{value}", format!("{label}:"));
    };
    line("Name", &app.name_any());
    line("Namespace", &app.namespace().unwrap_or_default());
    line("Type", app.spec.type_.as_str());
    line("State", state_name(app));
    if app.status.is_none() {
        line(
            "",
            "(no status yet: the operator has not picked the application up)",
        );
    }
    line(
        "Attempts",
        &format!(
            "{} execution(s), {} submission(s) of the current run",
            st.execution_attempts, st.submission_attempts
        ),
    );
    line(
        "Created",
        &time_and_age(app.metadata.creation_timestamp.as_ref(), now),
    );
    line(
        "Submitted",
        &time_and_age(st.last_submission_attempt_time.as_ref(), now),
    );
    let mut finished = time_and_age(st.termination_time.as_ref(), now);
    if let (Some(start), Some(end)) = (&st.last_submission_attempt_time, &st.termination_time) {
        finished.push_str(&format!(", ran {}", span(start.0, end.0)));
    }
    line("Finished", &finished);
    if let Some(id) = &st.spark_application_id {
        line("Run id", id);
    }
    match &st.driver_info {
        Some(d) => {
            let mut parts = Vec::new();
            if let Some(p) = &d.pod_name {
                parts.push(format!("pod {p}"));
            }
            if let Some(a) = &d.address {
                parts.push(format!("address {a}"));
            }
            match (&d.web_ui_address, &d.web_ui_service_name, d.web_ui_port) {
                (Some(a), _, _) => parts.push(format!("UI {a}")),
                (None, Some(s), Some(p)) => parts.push(format!("UI {s}:{p}")),
                (None, Some(s), None) => parts.push(format!("UI service {s}")),
                _ => {}
            }
            line("Driver", &parts.join(", "));
            if let Some(sc) = &d.connect_address {
                line("Connect", sc);
            }
        }
        None => line("Driver", "-"),
    }
    if let Some(u) = &st.ui_url {
        line("UI", u);
    }
    if let Some(u) = &st.history_url {
        line("History", u);
    }
    let executors = match &st.executors {
        Some(c) => format!("{} ready of {} requested", c.ready, c.requested),
        None => format!("{} requested in the spec", app.spec.executor.instances),
    };
    line("Executors", &executors);
    for (pod, state) in &st.executor_state {
        let state = serde_json::to_value(state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(out, "  {pod:<40} {state}");
    }
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<12}{value}", format!("{label}:"));
    };
    let progress = match &st.progress {
        Some(p) => format!("{}/{} stages", p.stages_done, p.stages_total),
        None => "-".into(),
    };
    line("Progress", &progress);
    if !st.application_state.error_message.is_empty() {
        line("Error", &st.application_state.error_message);
    }
    if !st.driver_log_tail.is_empty() {
        let _ = writeln!(
            out,
            "Driver log (last {} lines, kept in the status):",
            st.driver_log_tail.len()
        );
        for l in &st.driver_log_tail {
            let _ = writeln!(out, "  {l}");
        }
    }
    out
}

/// The table of `kiln list`.
pub fn render_list(apps: &[SparkApplication], with_namespace: bool, now: Timestamp) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["NAME", "STATE", "EXECUTORS", "PROGRESS", "ATTEMPTS", "AGE"];
    if with_namespace {
        header.insert(0, "NAMESPACE");
    }
    rows.push(header.iter().map(|s| s.to_string()).collect());
    for app in apps {
        let st = app.status.as_ref();
        let mut row = vec![
            app.name_any(),
            state_name(app).to_string(),
            st.and_then(|s| s.executors.as_ref())
                .map(|c| format!("{}/{}", c.ready, c.requested))
                .unwrap_or_else(|| "-".into()),
            st.and_then(|s| s.progress.as_ref())
                .map(|p| format!("{}/{}", p.stages_done, p.stages_total))
                .unwrap_or_else(|| "-".into()),
            st.map(|s| s.execution_attempts.to_string())
                .unwrap_or_else(|| "0".into()),
            app.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| age(t.0, now))
                .unwrap_or_else(|| "-".into()),
        ];
        if with_namespace {
            row.insert(0, app.namespace().unwrap_or_default());
        }
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `2024-06-01T12:00:00Z (3m ago)`, or `-`.
fn time_and_age(t: Option<&Time>, now: Timestamp) -> String {
    match t {
        Some(t) => format!("{} ({} ago)", t.0, age(t.0, now)),
        None => "-".into(),
    }
}

/// Time since `then`, like kubectl's AGE column.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A duration between two times as `1m20s`.
pub fn span(from: Timestamp, to: Timestamp) -> String {
    let secs = to.as_second().saturating_sub(from.as_second()).max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}h{}m", secs / 3600, (secs % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(json: serde_json::Value) -> SparkApplication {
        serde_json::from_value(json).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn status_shows_state_attempts_driver_executors_progress_and_error() {
        let a = app(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "q1", "namespace": "team", "creationTimestamp": "2025-01-01T10:00:00Z"},
            "spec": {"sql": "SELECT 1", "executor": {"instances": 2}},
            "status": {
                "applicationState": {"state": "FAILED", "errorMessage": "table t not found"},
                "executionAttempts": 3, "submissionAttempts": 1,
                "lastSubmissionAttemptTime": "2025-01-01T10:01:00Z",
                "terminationTime": "2025-01-01T10:02:30Z",
                "driverInfo": {"podName": "q1-3-driver", "address": "http://127.1.0.5:7078", "webUIServiceName": "q1-ui-svc", "webUIPort": 4040},
                "executors": {"ready": 1, "requested": 2, "summary": "1/2"},
                "executorState": {"q1-3-exec-1": "RUNNING", "q1-3-exec-2": "FAILED"},
                "progress": {"stagesDone": 2, "stagesTotal": 5, "summary": "2/5"},
                "driverLogTail": ["line one", "error: table t not found"],
                "uiURL": "http://q1-ui-svc.team.svc:4040/",
                "historyURL": "http://kiln-history.kiln-system.svc:18080/history/q1-3/"
            }
        }));
        let out = render_status(&a, ts("2025-01-01T10:05:00Z"));
        for want in [
            "Name:       q1",
            "Namespace:  team",
            "State:      FAILED",
            "3 execution(s), 1 submission(s)",
            "Submitted:  2025-01-01T10:01:00Z (4m ago)",
            "Finished:   2025-01-01T10:02:30Z (2m ago), ran 1m30s",
            "pod q1-3-driver, address http://127.1.0.5:7078, UI q1-ui-svc:4040",
            "Executors:  1 ready of 2 requested",
            "q1-3-exec-2",
            "FAILED",
            "Progress:   2/5 stages",
            "Error:      table t not found",
            "UI:         http://q1-ui-svc.team.svc:4040/",
            "History:    http://kiln-history.kiln-system.svc:18080/history/q1-3/",
            "Driver log (last 2 lines",
            "  error: table t not found",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
    }

    #[test]
    fn a_connect_application_shows_its_address() {
        let a = app(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "nb", "namespace": "team"},
            "spec": {"type": "Connect"},
            "status": {"applicationState": {"state": "RUNNING"},
                       "driverInfo": {"podName": "nb-driver", "connectAddress": "sc://nb-ui-svc.team.svc:15002"}}
        }));
        let out = render_status(&a, ts("2025-01-01T10:05:00Z"));
        assert!(out.contains("Type:       Connect"), "{out}");
        assert!(
            out.contains("Connect:    sc://nb-ui-svc.team.svc:15002"),
            "{out}"
        );
    }

    #[test]
    fn status_without_a_status_says_so() {
        let a = app(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "q1", "namespace": "default"},
            "spec": {"sql": "SELECT 1", "executor": {"instances": 3}}
        }));
        let out = render_status(&a, ts("2025-01-01T10:05:00Z"));
        assert!(out.contains("State:      NEW"), "{out}");
        assert!(out.contains("not picked the application up"), "{out}");
        assert!(out.contains("3 requested in the spec"), "{out}");
        assert!(out.contains("Progress:   -"), "{out}");
        assert!(!out.contains("Error:"), "{out}");
    }

    #[test]
    fn list_is_an_aligned_table() {
        let a = app(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "long-application-name", "namespace": "a", "creationTimestamp": "2025-01-01T09:00:00Z"},
            "spec": {"sql": "SELECT 1"},
            "status": {"applicationState": {"state": "RUNNING"}, "executionAttempts": 1,
                       "executors": {"ready": 2, "requested": 2, "summary": "2/2"},
                       "progress": {"stagesDone": 1, "stagesTotal": 4, "summary": "1/4"}}
        }));
        let b = app(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "q", "namespace": "b", "creationTimestamp": "2025-01-01T10:04:30Z"},
            "spec": {"sql": "SELECT 1"}
        }));
        let out = render_list(&[a, b], true, ts("2025-01-01T10:05:00Z"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("NAMESPACE   NAME"), "{out}");
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "a",
                "long-application-name",
                "RUNNING",
                "2/2",
                "1/4",
                "1",
                "65m"
            ]
        );
        let cols: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(cols, ["b", "q", "NEW", "-", "-", "0", "30s"]);
        // Columns line up: STATE starts at the same offset in every row.
        let at = lines[0].find("STATE").unwrap();
        assert_eq!(&lines[1][at..at + 7], "RUNNING");
        assert_eq!(&lines[2][at..at + 3], "NEW");
    }

    #[test]
    fn ages_and_spans_read_like_kubectl() {
        let t0 = ts("2025-01-01T00:00:00Z");
        assert_eq!(age(t0, ts("2025-01-01T00:00:59Z")), "59s");
        assert_eq!(age(t0, ts("2025-01-01T00:10:00Z")), "10m");
        assert_eq!(age(t0, ts("2025-01-01T02:30:00Z")), "150m");
        assert_eq!(age(t0, ts("2025-01-01T05:00:00Z")), "5h");
        assert_eq!(age(t0, ts("2025-01-04T00:00:00Z")), "3d");
        assert_eq!(span(t0, ts("2025-01-01T01:02:03Z")), "1h2m");
        assert_eq!(span(t0, ts("2025-01-01T00:02:03Z")), "2m3s");
    }
}
