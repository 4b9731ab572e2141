//! The HTTP server of the UI: pages, `/api/v1`, Kiln's own JSON, live
//! updates over Server-Sent Events, `/metrics`, and the embedded assets.
//!
//! Every path is served both at the root and below `spark.ui.proxyBase`,
//! and every link the pages write starts with that base: the UI works
//! behind a proxy that strips the prefix, one that keeps it, and
//! `kubectl port-forward` alike. The live driver serves its application at
//! the root; `kiln history` lists applications at the root and serves each
//! below `history/<appId>/`, with the same page code.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::Stream;
use serde_json::Value;

use crate::api;
use crate::apps::Apps;
use crate::graph::SkewRule;
use crate::pages::{Page, Pages};
use crate::prometheus::DriverMetrics;
use crate::status::AppStatus;

/// What the server serves.
#[derive(Debug, Clone)]
pub struct UiState {
    /// The applications.
    pub apps: Apps,
    /// `spark.ui.proxyBase` without a trailing slash ("" for none).
    pub root: String,
    /// When operators are flagged as skewed.
    pub rule: SkewRule,
    /// The driver's Prometheus metrics (live only).
    pub metrics: Option<Arc<DriverMetrics>>,
    /// The page templates.
    pub pages: Arc<Pages>,
}

/// The router serving `state` (every path; see the module docs).
pub fn router(state: UiState) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(state))
}

/// Normalizes `spark.ui.proxyBase`: a leading slash, no trailing one.
pub fn normalize_base(base: &str) -> String {
    let b = base.trim().trim_end_matches('/');
    if b.is_empty() {
        String::new()
    } else if b.starts_with('/') {
        b.to_string()
    } else {
        format!("/{b}")
    }
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("not found: {what}\n")).into_response()
}

fn json(v: Value) -> Response {
    // Not axum's `Json`: its feature turns on serde_json's `raw_value`,
    // which rebuilds Arrow and DataFusion in a second variant.
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn handle(
    State(ui): State<Arc<UiState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let full = uri.path();
    let path =
        if !ui.root.is_empty() && (full == ui.root || full.starts_with(&format!("{}/", ui.root))) {
            &full[ui.root.len()..]
        } else {
            full
        };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let fragment = headers.contains_key("x-kiln-fragment");
    match segs.as_slice() {
        ["static", name] => asset(name),
        ["metrics"] => match &ui.metrics {
            Some(m) => (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                m.encode(),
            )
                .into_response(),
            None => not_found("/metrics (served by drivers)"),
        },
        ["events"] => match &ui.apps {
            Apps::Live(live) => sse(live.updates.clone()).into_response(),
            Apps::History(_) => not_found("/events (live drivers only)"),
        },
        ["api", "v1", "applications"] => json(Value::Array(
            all_apps(&ui)
                .await
                .iter()
                .map(|a| api::application(a))
                .collect(),
        )),
        ["api", "v1", "applications", id, rest @ ..] => match app(&ui, id).await {
            Some(a) => rest_api(&ui, &a, rest, &query),
            None => not_found(&format!("application {id}")),
        },
        ["api", "kiln", "v1", "applications", id, "sql", n, "graph"] => {
            match (app(&ui, id).await, n.parse::<u64>()) {
                (Some(a), Ok(n)) => match a.executions.get(&n) {
                    Some(x) => json(
                        serde_json::to_value(crate::graph::plan_graph(&x.plan, &a, ui.rule))
                            .unwrap_or_default(),
                    ),
                    None => not_found(&format!("SQL execution {n}")),
                },
                _ => not_found(&format!("application {id}")),
            }
        }
        _ => match &ui.apps {
            Apps::Live(live) => {
                let a = live.snapshot();
                app_page(
                    &ui,
                    &a,
                    &ui.root,
                    &segs,
                    fragment,
                    true,
                    live.log_dir.as_deref(),
                )
                .await
            }
            Apps::History(h) => match segs.as_slice() {
                [] => {
                    let list = match h.all().await {
                        Ok(l) => l,
                        Err(e) => {
                            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                                .into_response()
                        }
                    };
                    ui.pages.render(
                        Page::History {
                            list: &list,
                            query: &query,
                        },
                        &ui.root,
                        &ui.root,
                        fragment,
                    )
                }
                ["history", id, rest @ ..] => match app(&ui, id).await {
                    Some(a) => {
                        let app_root = format!("{}/history/{}", ui.root, id);
                        app_page(&ui, &a, &app_root, rest, fragment, false, None).await
                    }
                    None => not_found(&format!("application {id}")),
                },
                _ => not_found(path),
            },
        },
    }
}

async fn all_apps(ui: &UiState) -> Vec<Arc<AppStatus>> {
    match &ui.apps {
        Apps::Live(l) => vec![Arc::new(l.snapshot())],
        Apps::History(h) => h
            .all()
            .await
            .map(|l| l.into_iter().map(|(_, s)| s).collect())
            .unwrap_or_default(),
    }
}

async fn app(ui: &UiState, id: &str) -> Option<Arc<AppStatus>> {
    match &ui.apps {
        Apps::Live(l) => {
            let s = l.snapshot();
            (s.app_id == id).then(|| Arc::new(s))
        }
        Apps::History(h) => h.get(id).await.ok().flatten().map(|(_, s)| s),
    }
}

fn rest_api(ui: &UiState, a: &AppStatus, rest: &[&str], q: &HashMap<String, String>) -> Response {
    let num = |s: &str| s.parse::<u32>().ok();
    match rest {
        [] => json(api::application(a)),
        ["jobs"] => json(api::jobs(a)),
        ["jobs", id] => match num(id).and_then(|id| a.jobs.get(&id)) {
            Some(j) => json(api::job(a, j)),
            None => not_found(&format!("job {id}")),
        },
        ["stages"] => json(api::stages(a)),
        ["stages", id] => {
            let attempts: Vec<Value> = num(id)
                .map(|id| {
                    a.stage_attempts(id)
                        .into_iter()
                        .map(|s| api::stage(s, true))
                        .collect()
                })
                .unwrap_or_default();
            if attempts.is_empty() {
                not_found(&format!("stage {id}"))
            } else {
                json(Value::Array(attempts))
            }
        }
        ["stages", id, attempt, more @ ..] => {
            let Some(s) = num(id).zip(num(attempt)).and_then(|k| a.stages.get(&k)) else {
                return not_found(&format!("stage {id} attempt {attempt}"));
            };
            match more {
                [] => json(api::stage(s, true)),
                ["taskSummary"] => {
                    let quantiles: Vec<f64> = match q.get("quantiles") {
                        Some(l) => match l.split(',').map(|x| x.trim().parse::<f64>()).collect() {
                            Ok(v) => v,
                            Err(_) => {
                                return (
                                    StatusCode::BAD_REQUEST,
                                    format!("quantiles: `{l}` is not a list of numbers\n"),
                                )
                                    .into_response()
                            }
                        },
                        None => api::DEFAULT_QUANTILES.to_vec(),
                    };
                    json(api::task_summary(s, &quantiles))
                }
                ["taskList"] => {
                    let offset = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let length = q.get("length").and_then(|v| v.parse().ok()).unwrap_or(20);
                    let sort = q.get("sortBy").map(String::as_str).unwrap_or("ID");
                    json(api::task_list(s, offset, length, sort))
                }
                _ => not_found("stage resource"),
            }
        }
        ["executors"] => json(api::executors(a, false)),
        ["allexecutors"] => json(api::executors(a, true)),
        ["sql"] => json(api::sqls(
            a,
            q.get("details").is_none_or(|d| d != "false"),
            ui.rule,
        )),
        ["sql", id] => match id.parse().ok().and_then(|id| {
            api::sql(
                a,
                id,
                q.get("details").is_none_or(|d| d != "false"),
                ui.rule,
            )
        }) {
            Some(v) => json(v),
            None => not_found(&format!("SQL execution {id}")),
        },
        ["environment"] => json(api::environment(a)),
        _ => not_found("REST resource"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn app_page(
    ui: &UiState,
    a: &AppStatus,
    app_root: &str,
    segs: &[&str],
    fragment: bool,
    live: bool,
    log_dir: Option<&std::path::Path>,
) -> Response {
    let p = &ui.pages;
    let num = |s: &str| s.parse::<u64>().ok();
    let page = match segs {
        [] => Page::Overview { app: a, live },
        ["sql", id] => match num(id).and_then(|id| a.executions.get(&id)) {
            Some(x) => Page::Sql {
                app: a,
                sql: x,
                rule: ui.rule,
                live,
            },
            None => return not_found(&format!("SQL execution {id}")),
        },
        ["stages", id, attempt] => {
            match num(id)
                .zip(num(attempt))
                .and_then(|(s, t)| a.stages.get(&(s as u32, t as u32)))
            {
                Some(s) => Page::Stage {
                    app: a,
                    stage: s,
                    live,
                },
                None => return not_found(&format!("stage {id} attempt {attempt}")),
            }
        }
        ["executors"] => Page::Executors { app: a, live },
        ["environment"] => Page::Environment { app: a, live },
        // The log as plain text (what `kiln logs` reads once pods are gone).
        ["logs", name, "raw"] => {
            return match log_text(ui, a, name, log_dir).await {
                Some(t) => {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response()
                }
                None => not_found(&format!("log {name}")),
            };
        }
        ["logs", name] => {
            let text = log_text(ui, a, name, log_dir).await;
            match text {
                Some(t) => Page::Log {
                    app: a,
                    name,
                    text: String::from_utf8_lossy(&t).into_owned(),
                    live,
                },
                None => return not_found(&format!("log {name}")),
            }
        }
        _ => return not_found(&segs.join("/")),
    };
    p.render(page, &ui.root, app_root, fragment)
}

/// Log `name` of application `a`: from the live driver's folder, or as
/// archived next to its event log.
async fn log_text(
    ui: &UiState,
    a: &AppStatus,
    name: &str,
    log_dir: Option<&std::path::Path>,
) -> Option<Vec<u8>> {
    if !safe_name(name) {
        return None;
    }
    match (&ui.apps, log_dir) {
        (Apps::Live(_), Some(dir)) => tokio::fs::read(dir.join(name)).await.ok(),
        (Apps::History(h), _) => {
            let (entry, _) = h.get(&a.app_id).await.ok().flatten()?;
            h.folder
                .read(&format!("{}/logs/{name}", entry.dir))
                .await
                .ok()
        }
        _ => None,
    }
}

/// A log name without path separators (`executor-1.log`).
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

/// One `update` event per change of the store, at most every 300 ms.
fn sse(
    mut updates: tokio::sync::watch::Receiver<u64>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = async_stream_like(move |tx| async move {
        loop {
            let v = *updates.borrow_and_update();
            if tx
                .send(SseEvent::default().event("update").data(v.to_string()))
                .await
                .is_err()
            {
                return;
            }
            if updates.changed().await.is_err() {
                // Not empty: browsers drop an event whose data is empty.
                let _ = tx
                    .send(SseEvent::default().event("end").data("ended"))
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A stream fed by a task through a channel.
fn async_stream_like<F, Fut>(f: F) -> impl Stream<Item = Result<SseEvent, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<SseEvent>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}

fn asset(name: &str) -> Response {
    let (body, kind): (&'static str, &str) = match name {
        "kiln.css" => (
            include_str!("../assets/kiln.css"),
            "text/css; charset=utf-8",
        ),
        "kiln.js" => (
            include_str!("../assets/kiln.js"),
            "text/javascript; charset=utf-8",
        ),
        // The page icon: without one, browsers ask for `/favicon.ico`, which
        // is outside the proxy base.
        "kiln.svg" => (include_str!("../assets/kiln.svg"), "image/svg+xml"),
        _ => return not_found(name),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header(header::CACHE_CONTROL, "max-age=3600")
        .body(Body::from(body))
        .unwrap_or_else(|_| not_found(name))
}
