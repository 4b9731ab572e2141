//! The web UI, `/api/v1`, `/metrics`, the event log and `kiln history`,
//! through real HTTP against a real `kiln run` (two executor processes) of
//! a TPC-H join, served under a non-root `spark.ui.proxyBase`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kiln_tests::{kiln_bin, read_summary, tpch_ddl, tpch_query, tpch_sf01, write_manifest};
use serde_json::Value;

const BASE: &str = "/proxy/kiln-ui-test";

/// A `kiln` process whose stderr lines arrive on a channel.
pub(crate) struct Kiln {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Kiln {
    pub(crate) fn start(args: &[&str]) -> Kiln {
        let mut child =
            kiln_tests::spawn_piped(Command::new(kiln_bin()).args(args), false, "spawn kiln");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Kiln {
            child,
            lines: rx,
            seen: vec![],
        }
    }

    /// The first stderr line that starts with `prefix` (a hang guard, not a
    /// timed assertion: the process is killed after 5 minutes).
    pub(crate) fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        panic!(
            "no `{prefix}` line from kiln; stderr:\n{}",
            self.seen.join("\n")
        );
    }

    /// SIGTERM, then waits for the exit (kills after a minute).
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("kiln did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kiln {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://host:port/path` -> (`host:port`, `/path`).
pub(crate) fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// GET over HTTP/1.1 (one connection per request): status and body.
pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub(crate) fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Reads Server-Sent Events from `path` until `n` `update` events arrived
/// (or the stream ended); returns their data.
fn sse_updates(addr: &str, path: &str, n: usize) -> Vec<u64> {
    let mut s = TcpStream::connect(addr).expect("connect SSE");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("send");
    let mut got = vec![];
    let mut event = String::new();
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            if event == "update" {
                if let Ok(v) = d.trim().parse() {
                    got.push(v);
                }
            }
            if event == "end" || got.len() >= n {
                break;
            }
        }
    }
    got
}

/// The `href`s and `src`s of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = vec![];
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(j) = rest.find('"') {
                out.push(rest[..j].replace("&#x2f;", "/").replace("&amp;", "&"));
                rest = &rest[j..];
            }
        }
    }
    out
}

/// Fetches every page reachable from `start` (same server, below BASE):
/// each must answer 200 and link only below BASE. Returns the pages' paths.
fn crawl(addr: &str, start: &str) -> Vec<String> {
    let mut todo = vec![start.to_string()];
    let mut seen: Vec<String> = vec![];
    while let Some(p) = todo.pop() {
        if seen.contains(&p) || seen.len() > 200 {
            continue;
        }
        let (status, body) = get(addr, &p);
        assert_eq!(status, 200, "broken link {p}: {body}");
        seen.push(p.clone());
        if p.ends_with(".css") || p.ends_with(".js") {
            continue;
        }
        for l in links(&body) {
            if l.starts_with('#') {
                continue;
            }
            assert!(
                l.starts_with(&format!("{BASE}/")),
                "link {l} on {p} is not below the proxy base {BASE}"
            );
            let l = l.split('#').next().unwrap_or_default().to_string();
            if !seen.contains(&l) {
                todo.push(l);
            }
        }
    }
    seen
}

/// Prometheus samples by name and labels, parsed by `prometheus-parse`.
pub(crate) fn prometheus(text: &str) -> Vec<prometheus_parse::Sample> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines)
        .expect("Prometheus text parses")
        .samples
}

fn sample(samples: &[prometheus_parse::Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    let s = samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name} is not a number"),
    }
}

fn fields(v: &Value, keys: &[&str]) -> Vec<Value> {
    keys.iter().map(|k| v[*k].clone()).collect()
}

fn manifest(dir: &Path, events: &Path) -> std::path::PathBuf {
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(3));
    let conf = format!(
        "  conf:\n    spark.ui.port: \"0\"\n    spark.ui.proxyBase: {BASE}\n    \
         kiln.ui.retainAfterEnd: 10m\n    kiln.test.stageDelay: 300ms\n    \
         spark.eventLog.enabled: \"true\"\n    spark.eventLog.dir: {}\n    \
         spark.hadoop.fs.s3a.secret.key: hunter2-not-shown\n",
        events.display()
    );
    write_manifest(dir, "ui-q3", &sql, 2, 1, &conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_ui_rest_metrics_event_log_and_history_agree() {
    let work = tempfile::tempdir().expect("tempdir");
    let events = work.path().join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let m = manifest(work.path(), &events);
    let summary = work.path().join("summary.json");
    let mut kiln = Kiln::start(&[
        "run",
        m.to_str().expect("utf8"),
        "--summary-json",
        summary.to_str().expect("utf8"),
    ]);
    let url = kiln.wait_line("UI: ")["UI: ".len()..].trim().to_string();
    let (addr, base) = split_url(&url);
    assert_eq!(base, format!("{BASE}/"), "UI URL {url}");

    // Progress arrives over SSE while the job runs: the store's version grows.
    let updates = sse_updates(&addr, &format!("{BASE}/events"), 4);
    assert!(updates.len() >= 2, "too few SSE updates: {updates:?}");
    assert!(
        updates.windows(2).all(|w| w[0] < w[1]),
        "SSE versions do not advance: {updates:?}"
    );

    kiln.wait_line("the UI stays up");
    let apps = get_json(&addr, &format!("{BASE}/api/v1/applications"));
    let app = &apps[0];
    let app_id = app["id"].as_str().expect("app id").to_string();
    assert_eq!(app["attempts"][0]["completed"], true, "{app}");
    let api = format!("{BASE}/api/v1/applications/{app_id}");
    let jobs = get_json(&addr, &format!("{api}/jobs"));
    let stages = get_json(&addr, &format!("{api}/stages"));
    let executors = get_json(&addr, &format!("{api}/allexecutors"));
    let sqls = get_json(&addr, &format!("{api}/sql"));
    let env = get_json(&addr, &format!("{api}/environment"));
    let (_, metrics_text) = get(&addr, &format!("{BASE}/metrics"));

    // Every page answers, links only below the proxy base, and none is broken.
    let pages = crawl(&addr, &format!("{BASE}/"));
    assert!(
        pages.iter().any(|p| p.contains("/sql/")) && pages.iter().any(|p| p.contains("/stages/")),
        "overview links no query or stage page: {pages:?}"
    );
    for p in &pages {
        let (_, body) = get(&addr, p);
        assert!(!body.contains("hunter2"), "a secret shows on {p}");
    }
    assert!(
        !env.to_string().contains("hunter2"),
        "secret in /environment"
    );
    assert!(
        env["sparkProperties"]
            .as_array()
            .expect("properties")
            .iter()
            .any(|kv| kv[0] == "spark.hadoop.fs.s3a.secret.key" && kv[1] == "*********(redacted)"),
        "{env}"
    );

    // The plan graph has one node per operator of the plan Spark's SQL tab shows.
    let sql = &sqls[0];
    let graph = get_json(
        &addr,
        &format!(
            "{BASE}/api/kiln/v1/applications/{app_id}/sql/{}/graph",
            sql["id"]
        ),
    );
    let graph_nodes = graph["nodes"].as_array().expect("graph nodes").len();
    // The plan text lists each stage's operators, one per line, under a
    // `stage N:` or `driver:` heading.
    let plan_text = sql["planDescription"].as_str().expect("plan text");
    let operators = plan_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.ends_with(':'))
        .count();
    assert_eq!(graph_nodes, operators, "graph {graph}\nplan:\n{plan_text}");
    assert_eq!(
        graph_nodes,
        sql["nodes"].as_array().expect("sql nodes").len()
    );
    assert!(
        graph_nodes > 5,
        "a TPC-H q3 plan has more operators: {graph}"
    );

    // The prometheus text parses; totals equal what the job summary says.
    let samples = prometheus(&metrics_text);

    let status = kiln.terminate();
    assert!(status.success(), "kiln run failed");
    let s = read_summary(&summary);
    agrees_with_summary(&jobs, &stages, &s, "REST");
    assert_eq!(
        sample(&samples, "kiln_tasks_total", Some(("state", "succeeded"))),
        s["tasks"].as_f64().expect("tasks"),
    );
    assert_eq!(
        sample(&samples, "kiln_shuffle_written_bytes_total", None),
        s["shuffle_written_bytes"].as_f64().expect("bytes"),
    );
    let read = |src| {
        sample(
            &samples,
            "kiln_shuffle_read_bytes_total",
            Some(("source", src)),
        )
    };
    assert_eq!(
        read("local"),
        s["shuffle_local_bytes"].as_f64().expect("local")
    );
    assert_eq!(
        read("remote"),
        s["shuffle_remote_bytes"].as_f64().expect("remote")
    );
    assert_eq!(
        executors
            .as_array()
            .expect("executors")
            .iter()
            .filter(|e| e["id"] != "driver")
            .count(),
        2,
        "{executors}"
    );

    // The event log is complete (no `.inprogress`) and holds the executors' logs.
    let log_dir = events.join(format!("eventlog_v2_{app_id}"));
    let names: Vec<String> = std::fs::read_dir(&log_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", log_dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&format!("appstatus_{app_id}")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("events_1_")),
        "{names:?}"
    );

    // `kiln history` over the folder answers as the live driver did.
    let mut history = Kiln::start(&[
        "history",
        events.to_str().expect("utf8"),
        "--bind",
        "127.0.0.1:0",
        "--proxy-base",
        BASE,
    ]);
    let hurl = history.wait_line("history UI: ")["history UI: ".len()..]
        .trim()
        .to_string();
    let (haddr, _) = split_url(&hurl);
    let hapi = format!("{BASE}/api/v1/applications/{app_id}");
    let job_keys = [
        "jobId",
        "status",
        "numTasks",
        "numCompletedTasks",
        "numFailedTasks",
        "stageIds",
    ];
    let stage_keys = [
        "stageId",
        "attemptId",
        "status",
        "numTasks",
        "numCompleteTasks",
        "executorRunTime",
        "shuffleWriteBytes",
        "shuffleReadBytes",
    ];
    let hjobs = get_json(&haddr, &format!("{hapi}/jobs"));
    let hstages = get_json(&haddr, &format!("{hapi}/stages"));
    let each = |v: &Value, keys: &[&str]| -> Vec<Vec<Value>> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| fields(x, keys))
            .collect()
    };
    assert_eq!(
        each(&hjobs, &job_keys),
        each(&jobs, &job_keys),
        "jobs: history vs live"
    );
    assert_eq!(
        each(&hstages, &stage_keys),
        each(&stages, &stage_keys),
        "stages: history vs live"
    );
    let hpages = crawl(&haddr, &format!("{BASE}/history/{app_id}/"));
    assert!(hpages.iter().any(|p| p.contains("/sql/")), "{hpages:?}");
    let (_, listing) = get(&haddr, &format!("{BASE}/"));
    assert!(
        listing.contains(&app_id),
        "history lists no {app_id}: {listing}"
    );
    history.terminate();
}

/// `/api/v1` jobs all succeeded, and their tasks and the complete stages
/// equal the run's `--summary-json` (`what` names the REST's server).
pub(crate) fn agrees_with_summary(jobs: &Value, stages: &Value, summary: &Value, what: &str) {
    let jobs = jobs.as_array().expect("jobs");
    assert!(
        !jobs.is_empty() && jobs.iter().all(|j| j["status"] == "SUCCEEDED"),
        "{what}: {jobs:?}"
    );
    let tasks: u64 = jobs
        .iter()
        .map(|j| j["numCompletedTasks"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        tasks,
        summary["tasks"].as_u64().expect("tasks"),
        "tasks: {what} vs summary"
    );
    let complete = stages
        .as_array()
        .expect("stages")
        .iter()
        .filter(|st| st["status"] == "COMPLETE")
        .count() as u64;
    assert_eq!(
        complete,
        summary["stages"].as_u64().expect("stages"),
        "stages: {what} vs summary"
    );
}

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A process killed when dropped (also when an assertion fails).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spark's own History Server (the oracle's jars, `spark-class`) over
/// `dir` on loopback `port`.
fn spark_history_server(dir: &Path, port: u16) -> KillOnDrop {
    let python = kiln_tests::pyspark_python("oracle");
    let out = Command::new(&python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
        .expect("find pyspark");
    let home = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let opts = format!(
        "-Dspark.history.fs.logDirectory=file://{} -Dspark.history.ui.port={port} \
         -Dspark.history.fs.update.interval=1s -Dspark.ui.bindAddress=127.0.0.1 \
         -Dspark.history.ui.bindAddress=127.0.0.1",
        dir.display()
    );
    Command::new("bash")
        .arg(format!("{home}/bin/spark-class"))
        .arg("org.apache.spark.deploy.history.HistoryServer")
        .env("SPARK_HOME", &home)
        .env("SPARK_HISTORY_OPTS", opts)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(KillOnDrop)
        .expect("start Spark's History Server")
}

/// Polls `path` until `ready` accepts the JSON (a hang guard: 3 minutes).
fn poll_json(addr: &str, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if TcpStream::connect(addr).is_ok() {
            let (status, body) = get(addr, path);
            if status == 200 {
                if let Ok(v) = serde_json::from_str::<Value>(&body) {
                    if ready(&v) {
                        return v;
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "{addr}{path} never became ready");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_history_server_replays_kiln_event_logs() {
    let work = tempfile::tempdir().expect("tempdir");
    let events = work.path().join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let ddl = tpch_ddl(tpch_sf01());
    let conf = format!(
        "  conf:\n    spark.ui.enabled: \"false\"\n    spark.eventLog.enabled: \"true\"\n    \
         spark.eventLog.dir: {}\n",
        events.display()
    );
    let runs = [
        ("shs-q3", format!("{ddl}{}", tpch_query(3)), true),
        (
            "shs-failed",
            format!("{ddl}SELECT c_mktsegment, SUM(CAST(c_name AS INT)) FROM customer GROUP BY c_mktsegment;"),
            false,
        ),
    ];
    for (name, sql, ok) in &runs {
        let m = write_manifest(work.path(), name, sql, 2, 1, &conf);
        let out = kiln_tests::run_kiln(
            &["run", m.to_str().expect("utf8")],
            Duration::from_secs(300),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), *ok, "{name}: {stderr}");
        assert!(
            !stderr.contains("UI: "),
            "spark.ui.enabled=false still served a UI: {stderr}"
        );
    }

    let mut kiln = Kiln::start(&[
        "history",
        events.to_str().expect("utf8"),
        "--bind",
        "127.0.0.1:0",
    ]);
    let url = kiln.wait_line("history UI: ")["history UI: ".len()..]
        .trim()
        .to_string();
    let (kaddr, _) = split_url(&url);
    let port = free_port();
    let shs = spark_history_server(&events, port);
    let saddr = format!("127.0.0.1:{port}");
    let sapps = poll_json(&saddr, "/api/v1/applications", |v| {
        v.as_array().is_some_and(|a| a.len() == runs.len())
    });
    let kapps = get_json(&kaddr, "/api/v1/applications");
    let ids = |v: &Value| {
        let mut ids: Vec<String> = v
            .as_array()
            .expect("apps")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&sapps),
        ids(&kapps),
        "Spark lists other applications than Kiln"
    );
    let job_keys = [
        "jobId",
        "status",
        "numTasks",
        "numCompletedTasks",
        "numFailedTasks",
        "numKilledTasks",
        "stageIds",
    ];
    let stage_keys = [
        "stageId",
        "attemptId",
        "status",
        "numTasks",
        "numCompleteTasks",
        "numFailedTasks",
    ];
    let each = |v: &Value, keys: &[&str]| -> Vec<Vec<Value>> {
        let mut rows: Vec<Vec<Value>> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|x| fields(x, keys))
            .collect();
        rows.sort_by_key(|r| r.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        rows
    };
    for app in sapps.as_array().expect("apps") {
        let id = app["id"].as_str().expect("id");
        assert_eq!(app["attempts"][0]["completed"], true, "Spark: {app}");
        let api = format!("/api/v1/applications/{id}");
        let (sjobs, kjobs) = (
            get_json(&saddr, &format!("{api}/jobs")),
            get_json(&kaddr, &format!("{api}/jobs")),
        );
        let failed = id.starts_with("shs-failed");
        let statuses: Vec<&Value> = sjobs
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| &j["status"])
            .collect();
        let want = if failed { "FAILED" } else { "SUCCEEDED" };
        assert!(
            !statuses.is_empty() && statuses.iter().all(|s| *s == want),
            "{id}: Spark says {statuses:?}"
        );
        assert_eq!(
            each(&sjobs, &job_keys),
            each(&kjobs, &job_keys),
            "{id}: jobs, Spark vs Kiln"
        );
        let (sst, kst) = (
            get_json(&saddr, &format!("{api}/stages")),
            get_json(&kaddr, &format!("{api}/stages")),
        );
        assert_eq!(
            each(&sst, &stage_keys),
            each(&kst, &stage_keys),
            "{id}: stages, Spark vs Kiln"
        );
        let sexec = get_json(&saddr, &format!("{api}/allexecutors"));
        let n = sexec
            .as_array()
            .expect("executors")
            .iter()
            .filter(|e| e["id"] != "driver")
            .count();
        assert_eq!(n, 2, "{id}: Spark's executors {sexec}");
    }
    drop(shs);
    kiln.terminate();
}
