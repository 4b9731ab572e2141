//! Each executor's Prometheus `/metrics`: `kiln connect` with two executor
//! processes runs TPC-H queries from the PySpark client; the driver's
//! `/api/v1` says where each executor serves its metrics, and their text,
//! parsed by `prometheus-parse`, adds up to what the driver counted for the
//! same work (tasks, task time, shuffle bytes written, shuffle bytes served
//! = the bytes readers fetched remotely, spills). Counters only grow from one
//! query to the next.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_tests::connect::ConnectServer;
use kiln_tests::{pyspark_python, tpch_query, tpch_sf01};
use prometheus_parse::{Sample, Value as Metric};
use serde_json::Value;

use crate::ui::{free_port, get, get_json, prometheus, split_url};

/// Runs TPC-H query `q` from the PySpark client against `url`, the tables
/// read from the test's TPC-H data.
fn run_query(url: &str, q: u32) {
    let script = r#"
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
for t in ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]:
    spark.read.parquet(sys.argv[2] + "/" + t).createOrReplaceTempView(t)
rows = spark.sql(sys.argv[3]).collect()
print(len(rows))
"#;
    // A file, not `python -c`: PySpark looks for a Spark home then.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tpch.py");
    std::fs::write(&file, script).expect("write the client script");
    kiln_tests::run_ok(
        Command::new(pyspark_python("client"))
            .arg(&file)
            .arg(url)
            .arg(tpch_sf01())
            .arg(tpch_query(q).trim().trim_end_matches(';')),
        &format!("q{q} on the PySpark client"),
    );
}

fn number(s: &Sample) -> f64 {
    match s.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => v,
        _ => panic!("{} is not a number", s.metric),
    }
}

/// The sum of the samples named `name` (with `label` when given).
fn total(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(number)
        .sum()
}

/// Each executor's parsed `/metrics`, by the URL the driver lists.
fn scrape_executors(ui: &str, app: &str) -> BTreeMap<String, Vec<Sample>> {
    let executors = get_json(ui, &format!("/api/v1/applications/{app}/executors"));
    let mut out = BTreeMap::new();
    for e in executors.as_array().expect("executors") {
        if e["id"] == "driver" {
            continue;
        }
        let url = e["kilnMetricsUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("executor {} has no metrics URL: {e}", e["id"]));
        let (addr, path) = split_url(url);
        let (status, text) = get(&addr, &path);
        assert_eq!(status, 200, "{url}: {text}");
        out.insert(url.to_string(), prometheus(&text));
    }
    out
}

/// The driver's `/metrics` once no job or task is running (a hang guard:
/// 2 minutes).
fn driver_when_idle(ui: &str) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, text) = get(ui, "/metrics");
        let s = prometheus(&text);
        if total(&s, "kiln_jobs_running", None) == 0.0
            && total(&s, "kiln_tasks_running", None) == 0.0
        {
            return s;
        }
        assert!(Instant::now() < deadline, "the driver never went idle");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The executors' counters summed, and checked against the driver's.
fn executors_agree_with_driver(ui: &str, app: &str) -> BTreeMap<String, Vec<Sample>> {
    let driver = driver_when_idle(ui);
    let execs = scrape_executors(ui, app);
    assert_eq!(execs.len(), 2, "{:?}", execs.keys());
    let sum = |name: &str, label: Option<(&str, &str)>| -> f64 {
        execs.values().map(|s| total(s, name, label)).sum()
    };
    let ok = Some(("state", "succeeded"));
    let pairs = [
        ("kiln_executor_tasks_total", ok, "kiln_tasks_total", ok),
        (
            "kiln_executor_shuffle_written_bytes_total",
            None,
            "kiln_shuffle_written_bytes_total",
            None,
        ),
        (
            "kiln_executor_shuffle_served_bytes_total",
            None,
            "kiln_shuffle_read_bytes_total",
            Some(("source", "remote")),
        ),
        (
            "kiln_executor_spilled_bytes_total",
            None,
            "kiln_spilled_bytes_total",
            None,
        ),
    ];
    for (e, el, d, dl) in pairs {
        assert_eq!(sum(e, el), total(&driver, d, dl), "{e} vs the driver's {d}");
    }
    let (et, dt) = (
        sum("kiln_executor_task_run_time_seconds_total", None),
        total(&driver, "kiln_task_run_time_seconds_total", None),
    );
    assert!(
        (et - dt).abs() < 1e-6,
        "task time: executors {et}, driver {dt}"
    );
    assert!(sum("kiln_executor_tasks_total", ok) > 0.0);
    assert!(sum("kiln_executor_shuffle_served_bytes_total", None) > 0.0);
    for (url, s) in &execs {
        assert_eq!(total(s, "kiln_executor_slots", None), 1.0, "{url}");
        assert_eq!(total(s, "kiln_executor_slots_busy", None), 0.0, "{url}");
        let (used, limit) = (
            total(s, "kiln_executor_memory_used_bytes", None),
            total(s, "kiln_executor_memory_limit_bytes", None),
        );
        assert_eq!(limit, 512.0 * 1024.0 * 1024.0, "{url}");
        assert!(used <= limit, "{url}: {used} of {limit}");
        assert!(
            total(s, "kiln_executor_peak_rss_bytes", None) > 0.0,
            "{url}"
        );
    }
    execs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_metrics_add_up_to_the_drivers_and_only_grow() {
    let port = free_port();
    let server = ConnectServer::start(&[
        "--executors",
        "2",
        "--executor-memory",
        "512Mi",
        "--conf",
        &format!("spark.ui.port={port}"),
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        // Both executors on this host would read each other's blocks from
        // disk; over Flight, served bytes are what readers fetched.
        "--conf",
        "spark.shuffle.readHostLocalDisk=false",
    ]);
    let ui = format!("127.0.0.1:{port}");
    let apps: Value = get_json(&ui, "/api/v1/applications");
    let app = apps[0]["id"].as_str().expect("app id").to_string();

    run_query(&server.url, 3);
    let first = executors_agree_with_driver(&ui, &app);
    run_query(&server.url, 9);
    let second = executors_agree_with_driver(&ui, &app);

    // Every counter of every executor only grew; their tasks did.
    for (url, before) in &first {
        let after = &second[url];
        for s in before
            .iter()
            .filter(|s| matches!(s.value, Metric::Counter(_)))
        {
            let now = after
                .iter()
                .find(|a| a.metric == s.metric && a.labels == s.labels)
                .unwrap_or_else(|| panic!("{url}: {} disappeared", s.metric));
            assert!(
                number(now) >= number(s),
                "{url}: {} went from {} to {}",
                s.metric,
                number(s),
                number(now)
            );
        }
    }
    let tasks = |m: &BTreeMap<String, Vec<Sample>>| -> f64 {
        m.values()
            .map(|s| total(s, "kiln_executor_tasks_total", None))
            .sum()
    };
    assert!(tasks(&second) > tasks(&first), "no task counted for q9");
    drop(server);
}
