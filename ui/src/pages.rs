//! The HTML pages: an application's overview, a SQL execution with its plan
//! graph, a stage, the executors, the environment and the logs, and the
//! application list of `kiln history`. Each page is a view model built here
//! from an [`AppStatus`] and a template (embedded, rendered by minijinja).
//! A request with the `X-Kiln-Fragment` header gets only the page's `main`
//! block: what the pages' script swaps in on a live update.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde_json::{json, Value};

use crate::eventlog::reader::LogEntry;
use crate::graph::{plan_graph, SkewRule, NODE_HEIGHT, NODE_WIDTH};
use crate::status::{quantile, AppStatus, SqlState, StageState, Status, TaskCounts};

/// The templates.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

/// One page to render.
pub enum Page<'a> {
    /// The application overview.
    Overview {
        /// The application.
        app: &'a AppStatus,
        /// Whether it is the live driver's.
        live: bool,
    },
    /// A SQL execution and its plan graph.
    Sql {
        /// The application.
        app: &'a AppStatus,
        /// The execution.
        sql: &'a SqlState,
        /// The skew rule.
        rule: SkewRule,
        /// Live.
        live: bool,
    },
    /// A stage attempt.
    Stage {
        /// The application.
        app: &'a AppStatus,
        /// The stage attempt.
        stage: &'a StageState,
        /// Live.
        live: bool,
    },
    /// Executors.
    Executors {
        /// The application.
        app: &'a AppStatus,
        /// Live.
        live: bool,
    },
    /// Settings.
    Environment {
        /// The application.
        app: &'a AppStatus,
        /// Live.
        live: bool,
    },
    /// A log file.
    Log {
        /// The application.
        app: &'a AppStatus,
        /// Its name.
        name: &'a str,
        /// Its text.
        text: String,
        /// Live.
        live: bool,
    },
    /// The application list of `kiln history`.
    History {
        /// Logs and their applications.
        list: &'a [(LogEntry, Arc<AppStatus>)],
        /// Search parameters (`q`, `state`).
        query: &'a HashMap<String, String>,
    },
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("sql.html", include_str!("../templates/sql.html")),
    ("stage.html", include_str!("../templates/stage.html")),
    (
        "executors.html",
        include_str!("../templates/executors.html"),
    ),
    (
        "environment.html",
        include_str!("../templates/environment.html"),
    ),
    ("log.html", include_str!("../templates/log.html")),
    ("history.html", include_str!("../templates/history.html")),
];

impl Pages {
    /// Loads the embedded templates.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)?;
        }
        env.add_filter("bytes", |v: u64| human_bytes(v));
        env.add_filter("ms", |v: u64| human_ms(v));
        env.add_filter("count", |v: u64| human_count(v));
        Ok(Pages { env })
    }

    /// Renders `page` (only its `main` block when `fragment`); `root` is
    /// the site's base, `app_root` the application's.
    pub fn render(&self, page: Page<'_>, root: &str, app_root: &str, fragment: bool) -> Response {
        let (template, ctx) = match view(page) {
            Ok(v) => v,
            Err(e) => return (StatusCode::NOT_FOUND, e).into_response(),
        };
        let mut ctx = ctx;
        ctx["root"] = json!(root);
        ctx["app_root"] = json!(app_root);
        let result = self.env.get_template(template).and_then(|t| {
            if fragment {
                // The full page is rendered too (a few kB); only the block is sent.
                t.render_captured(&ctx)?
                    .with_state_mut(|state| state.render_block("main"))
            } else {
                t.render(&ctx)
            }
        });
        match result {
            Ok(html) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
            }
            Err(e) => {
                tracing::warn!("page {template}: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("page {template}: {e}"),
                )
                    .into_response()
            }
        }
    }
}

fn app_state(a: &AppStatus) -> &'static str {
    match (a.end_time, &a.error) {
        (None, _) => "RUNNING",
        (Some(_), None) => "COMPLETED",
        (Some(_), Some(_)) => "FAILED",
    }
}

fn now_or_end(a: &AppStatus) -> u64 {
    a.end_time.unwrap_or_else(kiln_core::events::now_ms)
}

fn header_of(a: &AppStatus, live: bool) -> Value {
    // An ended application's page has nothing to follow: its script would
    // get the stream's `end` at once and reload the page again and again.
    let live = live && a.end_time.is_none();
    json!({
        "id": a.app_id, "name": a.app_name, "user": a.user, "state": app_state(a),
        "duration_ms": now_or_end(a).saturating_sub(a.start_time),
        "started": crate::api::spark_date(a.start_time), "error": a.error, "live": live,
    })
}

fn sql_row(a: &AppStatus, x: &SqlState) -> Value {
    let mut c = TaskCounts::default();
    let mut total = 0u32;
    for j in x.job_ids.iter().filter_map(|j| a.jobs.get(j)) {
        let jc = TaskCounts::of(a.job_tasks(j));
        c.completed_indices += jc.completed_indices;
        c.failed += jc.failed;
        c.active += jc.active;
        total += j.num_tasks;
    }
    let status = match (x.completed, &x.error) {
        (None, _) => "RUNNING",
        (Some(_), None) => "COMPLETED",
        (Some(_), Some(_)) => "FAILED",
    };
    json!({
        "id": x.execution_id, "description": x.description, "status": status, "error": x.error,
        "duration_ms": x.completed.unwrap_or_else(kiln_core::events::now_ms).saturating_sub(x.submitted),
        "done": c.completed_indices, "total": total, "running": c.active, "failed": c.failed,
        "percent": (c.completed_indices * 100).checked_div(total).unwrap_or(100),
        "jobs": x.job_ids,
    })
}

fn view(page: Page<'_>) -> Result<(&'static str, Value), String> {
    Ok(match page {
        Page::Overview { app, live } => {
            let mut queries: Vec<Value> =
                app.executions.values().map(|x| sql_row(app, x)).collect();
            // Failures first, then the newest.
            queries.sort_by_key(|q| {
                (
                    q["status"] != "FAILED",
                    std::cmp::Reverse(q["id"].as_u64().unwrap_or(0)),
                )
            });
            let done: u64 = queries.iter().filter_map(|q| q["done"].as_u64()).sum();
            let total: u64 = queries.iter().filter_map(|q| q["total"].as_u64()).sum();
            let failed_stages: Vec<Value> = app
                .stages
                .values()
                .filter(|s| s.status == Status::Failed)
                .map(|s| json!({"id": s.info.stage_id, "attempt": s.info.attempt, "failure": s.failure}))
                .collect();
            (
                "overview.html",
                json!({
                    "app": header_of(app, live), "queries": queries, "done": done, "total": total,
                    "failed_stages": failed_stages, "page": "overview",
                    "executors": app.executors.values().filter(|e| e.removed.is_none()).count(),
                }),
            )
        }
        Page::Sql {
            app,
            sql,
            rule,
            live,
        } => {
            let g = plan_graph(&sql.plan, app, rule);
            let nodes: Vec<Value> = g
                .nodes
                .iter()
                .map(|n| {
                    let metric = |name: &str| n.metrics.iter().find(|m| m.name == name);
                    json!({
                        "id": n.id, "name": n.name, "description": n.description, "stage": n.stage_id,
                        "x": n.x, "y": n.y, "skew": n.skew,
                        "rows": metric("number of output rows").map(|m| m.total).unwrap_or(0),
                        "time_ns": metric("time").map(|m| m.total).unwrap_or(0),
                        "spill": metric("spill size").map(|m| m.total).unwrap_or(0),
                        "metrics": n.metrics,
                    })
                })
                .collect();
            let edges: Vec<Value> = g
                .edges
                .iter()
                .filter_map(|e| {
                    let (from, to) = (g.nodes.get(e.from)?, g.nodes.get(e.to)?);
                    Some(json!({
                        "x1": from.x + NODE_WIDTH / 2, "y1": from.y,
                        "x2": to.x + NODE_WIDTH / 2, "y2": to.y + NODE_HEIGHT,
                    }))
                })
                .collect();
            let stages: Vec<Value> = sql
                .job_ids
                .iter()
                .filter_map(|j| app.jobs.get(j))
                .flat_map(|j| j.stage_ids.iter())
                .flat_map(|s| app.stage_attempts(*s))
                .map(stage_row)
                .collect();
            (
                "sql.html",
                json!({
                    "app": header_of(app, live), "sql": sql_row(app, sql), "details": sql.details,
                    "plan_text": sql.physical_plan, "graph": {"width": g.width, "height": g.height,
                    "clusters": g.clusters, "nodes": nodes, "edges": edges},
                    "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT, "stages": stages,
                    "skewed": g.nodes.iter().filter(|n| n.skew).count(), "page": "sql",
                }),
            )
        }
        Page::Stage { app, stage, live } => ("stage.html", stage_view(app, stage, live)),
        Page::Executors { app, live } => {
            let execs: Vec<Value> = app
                .executors
                .values()
                .map(|e| {
                    json!({
                        "id": e.id, "host": e.host, "cores": e.cores, "memory": e.memory_bytes,
                        "peak_rss": e.peak_rss_bytes, "active": e.active_tasks, "completed": e.completed_tasks,
                        "failed": e.failed_tasks, "task_time_ms": e.task_time_ms,
                        "shuffle_read": e.shuffle_read_bytes, "shuffle_write": e.shuffle_write_bytes,
                        "spilled": e.spilled_bytes, "removed": e.removed.is_some(),
                        "reason": e.removed_reason, "logs": e.log_urls,
                        "metrics": e.metrics_url,
                    })
                })
                .collect();
            (
                "executors.html",
                json!({"app": header_of(app, live), "executors": execs, "page": "executors"}),
            )
        }
        Page::Environment { app, live } => (
            "environment.html",
            json!({
                "app": header_of(app, live), "properties": app.properties, "system": app.system,
                "page": "environment",
            }),
        ),
        Page::Log {
            app,
            name,
            text,
            live,
        } => (
            "log.html",
            json!({
                "app": header_of(app, live), "name": name, "text": text, "page": "logs",
            }),
        ),
        Page::History { list, query } => {
            let q = query.get("q").map(|s| s.to_lowercase()).unwrap_or_default();
            let state = query.get("state").cloned().unwrap_or_default();
            let rows: Vec<Value> = list
                .iter()
                .filter(|(_, a)| {
                    q.is_empty()
                        || a.app_name.to_lowercase().contains(&q)
                        || a.app_id.to_lowercase().contains(&q)
                })
                .filter(|(_, a)| state.is_empty() || app_state(a).eq_ignore_ascii_case(&state))
                .map(|(e, a)| {
                    json!({
                        "id": a.app_id, "name": a.app_name, "state": app_state(a), "completed": e.completed,
                        "started": crate::api::spark_date(a.start_time), "user": a.user,
                        "duration_ms": now_or_end(a).saturating_sub(a.start_time),
                        "jobs": a.jobs.len(), "failed_jobs": a.jobs.values().filter(|j| j.status == Status::Failed).count(),
                    })
                })
                .collect();
            (
                "history.html",
                json!({"apps": rows, "q": q, "state": state, "page": "history"}),
            )
        }
    })
}

fn stage_row(s: &StageState) -> Value {
    let c = TaskCounts::of(s.tasks.values());
    let status = match s.status {
        Status::Pending => "PENDING",
        Status::Running => "ACTIVE",
        Status::Succeeded => "COMPLETE",
        Status::Failed => "FAILED",
        Status::Killed => "KILLED",
        Status::Skipped => "SKIPPED",
    };
    json!({
        "id": s.info.stage_id, "attempt": s.info.attempt, "name": s.info.name, "status": status,
        "tasks": s.info.num_tasks, "done": c.completed_indices, "failed": c.failed,
        "duration_ms": s.completed.or(s.submitted.map(|_| kiln_core::events::now_ms()))
            .unwrap_or(0).saturating_sub(s.submitted.unwrap_or(0)),
        "failure": s.failure,
    })
}

fn stage_view(app: &AppStatus, s: &StageState, live: bool) -> Value {
    let done: Vec<_> = s
        .tasks
        .values()
        .filter(|t| t.status == Status::Succeeded)
        .collect();
    let qs = [0.0, 0.25, 0.5, 0.75, 1.0];
    let row = |name: &str, kind: &str, f: &dyn Fn(&crate::status::TaskState) -> u64| {
        let mut v: Vec<u64> = done.iter().map(|t| f(t)).collect();
        v.sort_unstable();
        json!({"name": name, "kind": kind, "values": qs.iter().map(|q| quantile(&v, *q)).collect::<Vec<_>>()})
    };
    let summary = vec![
        row("Duration", "ms", &|t| {
            t.info.finish_time.saturating_sub(t.info.launch_time)
        }),
        row("Compute (executor run time)", "ms", &|t| {
            t.metrics.run_time_ms
        }),
        row("Scheduler delay", "ms", &|t| crate::api::scheduler_delay(t)),
        row("Shuffle read", "bytes", &|t| {
            t.metrics.shuffle_local_bytes + t.metrics.shuffle_remote_bytes
        }),
        row("Shuffle read (remote)", "bytes", &|t| {
            t.metrics.shuffle_remote_bytes
        }),
        row("Rows read", "count", &|t| t.metrics.input_rows),
        row("Shuffle write", "bytes", &|t| t.metrics.shuffle_write_bytes),
        row("Rows written", "count", &|t| t.metrics.output_rows),
        row("Spill", "bytes", &|t| t.metrics.spilled_bytes),
    ];
    let durations: Vec<u64> = {
        let mut v: Vec<u64> = done
            .iter()
            .map(|t| t.info.finish_time.saturating_sub(t.info.launch_time))
            .collect();
        v.sort_unstable();
        v
    };
    let median = quantile(&durations, 0.5);
    let max = durations.last().copied().unwrap_or(0);
    // Per-executor timeline: one row per executor, a bar per task.
    let start = s
        .tasks
        .values()
        .map(|t| t.info.launch_time)
        .min()
        .unwrap_or(0);
    let end = s
        .tasks
        .values()
        .map(|t| {
            if t.info.finish_time > 0 {
                t.info.finish_time
            } else {
                kiln_core::events::now_ms()
            }
        })
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let mut execs: Vec<String> = s
        .tasks
        .values()
        .map(|t| t.info.executor_id.clone())
        .collect();
    execs.sort();
    execs.dedup();
    let width = 900.0;
    let bars: Vec<Value> = s
        .tasks
        .values()
        .map(|t| {
            let fin = if t.info.finish_time > 0 {
                t.info.finish_time
            } else {
                end
            };
            let x = (t.info.launch_time - start) as f64 / (end - start) as f64 * width;
            let w = ((fin.saturating_sub(t.info.launch_time)) as f64 / (end - start) as f64
                * width)
                .max(2.0);
            let row = execs
                .iter()
                .position(|e| *e == t.info.executor_id)
                .unwrap_or(0);
            json!({"x": x as u64 + 100, "w": w as u64, "y": row * 22 + 4, "task": t.info.task_id,
                   "index": t.info.index, "status": format!("{:?}", t.status).to_lowercase()})
        })
        .collect();
    let tasks: Vec<Value> = s
        .tasks
        .values()
        .map(|t| {
            json!({
                "id": t.info.task_id, "index": t.info.index, "attempt": t.info.attempt,
                "executor": t.info.executor_id, "host": t.info.host,
                "status": format!("{:?}", t.status).to_uppercase(),
                "duration_ms": if t.info.finish_time > 0 { t.info.finish_time - t.info.launch_time } else { 0 },
                "run_ms": t.metrics.run_time_ms, "delay_ms": crate::api::scheduler_delay(t),
                "read": t.metrics.shuffle_local_bytes + t.metrics.shuffle_remote_bytes,
                "rows_in": t.metrics.input_rows, "write": t.metrics.shuffle_write_bytes,
                "rows_out": t.metrics.output_rows, "spill": t.metrics.spilled_bytes, "error": t.error,
            })
        })
        .collect();
    let sql = app.jobs.get(&s.job_id).and_then(|j| j.execution_id);
    json!({
        "app": header_of(app, live), "stage": stage_row(s), "details": s.info.details,
        "summary": summary, "quantiles": qs, "tasks": tasks, "median_ms": median, "max_ms": max,
        "skew_ratio": if median > 0 { format!("{:.1}", max as f64 / median as f64) } else { "-".into() },
        "timeline": {"executors": execs, "bars": bars, "height": execs.len() * 22 + 8, "width": width as u64 + 110,
                      "span_ms": end - start},
        "job": s.job_id, "sql": sql, "page": "stage",
    })
}

/// `1536` -> `1.5 KiB` (one formatter for the summary, the UI and the logs).
pub use kiln_values::memory::human_bytes;

/// `1500` -> `1.5 s`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1e3),
        _ => format!("{:.1} min", ms as f64 / 6e4),
    }
}

/// `1234567` -> `1.23M`.
pub use kiln_values::count::human_count;
