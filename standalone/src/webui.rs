//! The master's web UI: a page listing workers and applications, and
//! `/json` with the same in the shape of Spark's master (`workers`,
//! `activeapps`, `completedapps`, cores and memory totals).

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};

use crate::shared::{now_ms, Shared};
use crate::state::{AppInfo, AppState, MasterState, WorkerState};

/// Serves the UI on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, shared: Shared) {
    let s1 = shared.clone();
    let router = Router::new()
        .route("/json", get(move || json_page(s1.clone())))
        .route("/json/", get(move || json_page(shared.clone())))
        .route("/", get(html_page_of))
        .with_state(());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn json_page(shared: Shared) -> Response {
    let body = serde_json::to_string_pretty(&master_json(&shared.snapshot(), &shared.url))
        .unwrap_or_default();
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

// The HTML page reads the JSON document in the browser: one source of
// truth, and the server needs no templates.
async fn html_page_of() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], HTML).into_response()
}

const HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Kiln master</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head>
<body><h1 id="title">Kiln master</h1><div id="summary"></div>
<h2>Workers</h2><table id="workers"></table>
<h2>Running applications</h2><table id="active"></table>
<h2>Completed applications</h2><table id="completed"></table>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function table(id, cols, rows) {
  const t = document.getElementById(id);
  t.innerHTML = '<tr>' + cols.map(c => '<th>' + c[0] + '</th>').join('') + '</tr>' +
    rows.map(r => '<tr>' + cols.map(c => '<td>' + c[1](r) + '</td>').join('') + '</tr>').join('');
}
const ago = ms => ms ? Math.round((Date.now() - ms) / 1000) + ' s ago' : '';
const gib = b => (b / 1073741824).toFixed(1) + ' GiB';
async function load() {
  const m = await (await fetch('json')).json();
  document.getElementById('title').textContent = 'Kiln master at ' + m.url;
  document.getElementById('summary').textContent = m.aliveworkers + ' alive workers, cores ' +
    m.coresused + ' used of ' + m.cores + ', memory ' + gib(m.memoryused) + ' used of ' + gib(m.memory);
  table('workers', [['Id', w => esc(w.id)], ['Host', w => esc(w.host)], ['State', w => w.state],
    ['Cores', w => w.cores + ' (' + w.coresused + ' used, ' + w.coresfree + ' free)'],
    ['Memory', w => gib(w.memory) + ' (' + gib(w.memoryused) + ' used)'],
    ['Last heartbeat', w => ago(w.lastheartbeat)]], m.workers);
  const apps = [['Id', a => esc(a.id)], ['Name', a => esc(a.name)], ['State', a => a.state],
    ['Cores', a => a.cores + (a.coresmax ? ' (max ' + a.coresmax + ')' : '')],
    ['Executors', a => a.executors.map(e => esc(e.id + '@' + e.worker)).join(', ')],
    ['Driver', a => a.driverwebui ? '<a href="' + esc(a.driverwebui) + '">UI</a>' : esc(a.driver)],
    ['Note', a => esc(a.message)]];
  table('active', apps, m.activeapps);
  table('completed', apps, m.completedapps);
}
load(); setInterval(load, 2000);
</script></body></html>"#;

/// The master's state as Spark's master `/json` shows it (plus Kiln's
/// executor list per application).
pub fn master_json(s: &MasterState, url: &str) -> Value {
    let used = |id: &str| -> (u32, u64) {
        s.apps
            .iter()
            .filter(|a| matches!(a.state, AppState::Waiting | AppState::Running))
            .flat_map(|a| a.executors.iter().map(move |e| (a, e)))
            .filter(|(_, e)| e.worker_id == id)
            .fold((0, 0), |(c, m), (a, e)| {
                let mem = if a.executor_memory_bytes == 0 {
                    crate::state::DEFAULT_EXECUTOR_MEMORY
                } else {
                    a.executor_memory_bytes
                };
                (c + e.cores, m + mem)
            })
    };
    let workers: Vec<Value> = s
        .workers
        .values()
        .map(|w| {
            let (c, m) = used(&w.id);
            json!({
                "id": w.id, "host": w.host, "state": w.state,
                "cores": w.cores, "coresused": c, "coresfree": w.cores.saturating_sub(c),
                "memory": w.memory_bytes, "memoryused": m,
                "memoryfree": w.memory_bytes.saturating_sub(m),
                "lastheartbeat": w.last_heartbeat_ms,
            })
        })
        .collect();
    let app = |a: &AppInfo| {
        json!({
            "id": a.id, "name": a.name, "state": a.state,
            "cores": a.cores_granted(), "coresmax": a.cores_max,
            "coresperexecutor": a.executor_cores,
            "memoryperexecutor": a.executor_memory_bytes,
            "starttime": a.submitted_ms,
            "duration": if a.ended_ms > 0 { a.ended_ms } else { now_ms() }.saturating_sub(a.submitted_ms),
            "driver": a.driver_url, "driverwebui": a.driver_web_url,
            "executors": a.executors.iter().map(|e| json!({"id": e.executor_id, "worker": e.worker_id, "cores": e.cores})).collect::<Vec<_>>(),
            "message": a.message,
        })
    };
    let alive = s.workers.values().filter(|w| w.state == WorkerState::Alive);
    let (cores, memory) = alive
        .clone()
        .fold((0u32, 0u64), |(c, m), w| (c + w.cores, m + w.memory_bytes));
    let (coresused, memoryused) = alive.fold((0, 0), |(c, m), w| {
        let (uc, um) = used(&w.id);
        (c + uc, m + um)
    });
    let (active, done): (Vec<&AppInfo>, Vec<&AppInfo>) = s
        .apps
        .iter()
        .partition(|a| matches!(a.state, AppState::Waiting | AppState::Running));
    json!({
        "url": url,
        "status": "ALIVE",
        "workers": workers,
        "aliveworkers": s.workers.values().filter(|w| w.state == WorkerState::Alive).count(),
        "cores": cores, "coresused": coresused,
        "memory": memory, "memoryused": memoryused,
        "activeapps": active.into_iter().map(app).collect::<Vec<_>>(),
        "completedapps": done.into_iter().map(app).collect::<Vec<_>>(),
    })
}
