//! PySpark's own docstring examples against `kiln connect`: the five modules
//! of issue 10 (`pyspark.sql.connect.functions.builtin`,
//! `pyspark.sql.dataframe`, `pyspark.sql.column`, `pyspark.sql.connect.group`,
//! `pyspark.sql.window`) run through `tests/pyspark/doctests.py` (pytest
//! `--doctest-modules`, one item per docstring, the pinned pyspark-client)
//! against one Kiln driver with two executor processes. The test fails when
//! a module passes fewer items than `tests/pyspark/doctest-baseline.json`
//! says it did; `KILN_BLESS=1` rewrites the baseline from the run.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiln_tests::connect::ConnectServer;
use kiln_tests::{pyspark_python, repo_root, wait_output};
use serde_json::{json, Value};

/// Longest a whole doctest run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(20 * 60);

fn run_doctests(url: &str, out: &Path) {
    let python = pyspark_python("client");
    let script = repo_root().join("tests/pyspark/doctests.py");
    // Its output goes to the test's own (the runner reports as it goes).
    let child = Command::new(python)
        .arg(&script)
        .arg(url)
        .arg(out)
        .env_remove("SPARK_REMOTE")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run tests/pyspark/doctests.py");
    let status = wait_output(child, "the doctest runner", RUN_LIMIT).status;
    assert!(status.success(), "the doctest runner failed: {status}");
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The items of `report` that passed.
fn passing(report: &Value, failures: &Value) -> BTreeSet<String> {
    report["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .filter(|i| failures.get(*i).is_none())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pyspark_docstring_examples_pass_at_least_the_baseline() {
    // Python UDFs run in the client's venv (pandas, pyarrow, the pickled
    // types), as Spark's workers run the interpreter PYSPARK_PYTHON names.
    let workers = format!(
        "spark.pyspark.python={}",
        pyspark_python("client").display()
    );
    let server = ConnectServer::start(&["--executors", "2", "--conf", &workers]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("doctests.json");
    run_doctests(&server.url, &out);
    drop(server);
    let report = read_json(&out);

    let modules = report["modules"]
        .as_object()
        .expect("modules in the report");
    let causes = report["causes"].as_object().expect("causes in the report");
    eprintln!("failures by cause (most common first):");
    for (cause, n) in causes.iter().take(25) {
        eprintln!("{n:>4}  {cause}");
    }

    let baseline_path = repo_root().join("tests/pyspark/doctest-baseline.json");
    let now_passing = passing(&report, &report["failures"]);
    if std::env::var_os("KILN_BLESS").is_some() {
        let counts: serde_json::Map<String, Value> = modules
            .iter()
            .map(|(m, c)| {
                (
                    m.clone(),
                    json!({"items": c["items"], "passed": c["passed"]}),
                )
            })
            .collect();
        let baseline = json!({
            "about": "Per-module counts of PySpark docstring examples that pass on Kiln \
                      (tests/tests/suite/pyspark_doctests.rs); the test fails below them. \
                      Rewrite with KILN_BLESS=1.",
            "client": report["client"],
            "modules": counts,
            "passing": now_passing,
        });
        let text = serde_json::to_string_pretty(&baseline).expect("baseline json") + "\n";
        std::fs::write(&baseline_path, text).expect("write the baseline");
        eprintln!("wrote {}", baseline_path.display());
        return;
    }

    let baseline = read_json(&baseline_path);
    let before: BTreeSet<String> = baseline["passing"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut regressions = vec![];
    let mut improved = false;
    for (module, expected) in baseline["modules"].as_object().expect("baseline modules") {
        let want = expected["passed"].as_u64().expect("baseline passed count");
        let got = modules
            .get(module)
            .and_then(|c| c["passed"].as_u64())
            .unwrap_or(0);
        let items = modules
            .get(module)
            .and_then(|c| c["items"].as_u64())
            .unwrap_or(0);
        eprintln!("{module:<40} {got:>4} / {items:<4} passed (baseline {want})");
        if got < want {
            let lost: Vec<String> = before
                .iter()
                .filter(|i| i.starts_with(&format!("{module}.")) && !now_passing.contains(*i))
                .map(|i| {
                    let why = report["failures"][i]["cause"].as_str().unwrap_or("?");
                    format!("  {i}: {why}")
                })
                .collect();
            regressions.push(format!(
                "{module}: {got} passed, the baseline is {want}; items that passed before:\n{}",
                lost.join("\n")
            ));
        }
        improved |= got > want;
    }
    if improved && regressions.is_empty() {
        eprintln!("more items pass than the baseline says: raise it with KILN_BLESS=1");
    }
    assert!(
        regressions.is_empty(),
        "PySpark docstring examples regressed below the baseline:\n{}",
        regressions.join("\n")
    );
}
