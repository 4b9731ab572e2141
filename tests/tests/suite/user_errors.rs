//! A deterministic error in the job's own data (integer division by zero,
//! a string that is not a number cast to INT) fails the job at once: one
//! attempt, no retries, and a message that names where it happened (the
//! stage and task on an executor, or the driver's final step) and what went
//! wrong.

use std::path::Path;
use std::time::Duration;

use kiln_tests::write_manifest;

/// Writes a CSV table of `files` files with integer columns `a`, `b` (one
/// `b` is 0) and a string column `s` (one value is not a number).
fn table(dir: &Path, files: usize) -> String {
    let t = dir.join("t");
    std::fs::create_dir_all(&t).expect("table dir");
    for f in 0..files {
        let mut text = String::from("a,b,s\n");
        for i in 0..50 {
            let b = if f == 0 && i == 25 { 0 } else { 1 + i % 3 };
            let s = if f == 0 && i == 30 {
                "n/a".to_string()
            } else {
                i.to_string()
            };
            text.push_str(&format!("{},{b},{s}\n", f * 100 + i));
        }
        std::fs::write(t.join(format!("part-{f}.csv")), text).expect("csv");
    }
    format!(
        "CREATE EXTERNAL TABLE t (a INT NOT NULL, b INT NOT NULL, s VARCHAR NOT NULL) STORED AS CSV LOCATION '{}/' OPTIONS ('format.has_header' 'true');\n",
        t.display()
    )
}

/// Runs `query` over a table of `files` files on 2 executors; returns the
/// summary JSON and the `error:` line.
fn run_failing(name: &str, files: usize, query: &str) -> (serde_json::Value, String) {
    let d = tempfile::tempdir().expect("tempdir");
    let sql = format!("{}{query}", table(d.path(), files));
    let m = write_manifest(d.path(), name, &sql, 2, 1, "");
    let (out, summary) = kiln_tests::run_with_summary(&m, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert!(
        !stderr.contains("retrying"),
        "a user error must not be retried:\n{stderr}"
    );
    let json = kiln_tests::read_summary(&summary);
    assert_eq!(json["succeeded"], false, "{json}");
    assert_eq!(json["retries"], 0, "no retries expected: {json}\n{stderr}");
    assert_eq!(json["recomputed"], 0, "{json}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"))
        .to_string();
    (json, line)
}

fn assert_mentions(line: &str, needles: &[&str]) {
    for n in needles {
        assert!(line.contains(n), "error line `{line}` should mention `{n}`");
    }
}

#[test]
fn division_by_zero_in_a_task_fails_after_one_attempt() {
    // Two files: the scan has two partitions, and the division runs in the
    // map tasks on the executors.
    let (_, line) = run_failing("div-zero", 2, "SELECT a / b AS q FROM t;");
    assert_mentions(
        &line,
        &[
            "statement 2",
            "stage 1 task",
            "(attempt 1)",
            "Divide by zero",
        ],
    );
    assert!(!line.contains("attempt 2"), "{line}");
}

#[test]
fn bad_cast_in_a_task_fails_after_one_attempt() {
    let (_, line) = run_failing("bad-cast", 2, "SELECT CAST(s AS INT) AS n FROM t;");
    assert_mentions(
        &line,
        &["stage 1 task", "(attempt 1)", "Cannot cast string 'n/a'"],
    );
}

#[test]
fn division_by_zero_in_an_aggregation_names_its_stage_and_task() {
    let (_, line) = run_failing(
        "div-zero-agg",
        2,
        "SELECT b, sum(a / b) AS q FROM t GROUP BY b;",
    );
    assert_mentions(&line, &["stage", "task", "(attempt 1)", "Divide by zero"]);
}

#[test]
fn an_error_in_the_drivers_final_step_names_it() {
    // An aggregate over the whole table: merging the partial sums and the
    // projection above it run in the driver's final step, after the last
    // exchange.
    let (_, line) = run_failing(
        "div-zero-driver",
        1,
        "SELECT sum(a) / (sum(b) - sum(b)) AS q FROM t;",
    );
    assert_mentions(
        &line,
        &[
            "final step on the driver",
            "reading the output of stage",
            "Divide by zero",
        ],
    );
}

#[test]
fn a_bad_pattern_argument_in_a_task_fails_after_one_attempt() {
    // Arguments that planning accepts but a task cannot use: a regular
    // expression that does not compile (DataFusion's regexp_replace, Kiln's
    // split) and a date-time pattern with an unknown letter. Each fails the
    // same way on every executor; they used to be retried four times.
    let (_, line) = run_failing(
        "bad-regex",
        2,
        "SELECT regexp_replace(s, '(', 'x') AS r FROM t;",
    );
    assert_mentions(&line, &["stage 1 task", "(attempt 1)", "regex parse error"]);
    let (_, line) = run_failing("bad-split", 2, "SELECT split(s, '[') AS r FROM t;");
    assert_mentions(&line, &["(attempt 1)", "split", "regular expression"]);
    let (_, line) = run_failing(
        "bad-pattern",
        2,
        "SELECT date_format(CAST(a AS TIMESTAMP), s) AS f FROM t;",
    );
    assert_mentions(&line, &["(attempt 1)", "date-time pattern letter"]);
}
