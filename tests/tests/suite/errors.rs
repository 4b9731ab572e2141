//! Bad input gets one clear `error:` line and a non-zero exit: never a panic,
//! a hang, or result rows on stdout.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use kiln_tests::{run_kiln, run_kiln_env, write_manifest};

fn assert_clean_failure(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout should be empty, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"));
    for n in needles {
        assert!(line.contains(n), "error line `{line}` should mention `{n}`");
    }
}

fn run_sql(dir: &Path, name: &str, sql: &str) -> Output {
    let m = write_manifest(dir, name, sql, 1, 1, "");
    run_kiln(&["run", m.to_str().expect("utf8")], Duration::from_secs(60))
}

#[test]
fn sql_syntax_error_names_line_and_column() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = run_sql(d.path(), "syntax", "SELECT 1;\nSELEC 2 FROM x;");
    assert_clean_failure(&out, 2, &["SQL syntax error", "Line: 2", "Column: 1"]);
}

#[test]
fn unknown_table() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = run_sql(d.path(), "no-table", "SELECT * FROM no_such_table;");
    assert_clean_failure(&out, 2, &["no_such_table", "statement 1"]);
}

#[test]
fn unknown_column() {
    let d = tempfile::tempdir().expect("tempdir");
    let csv = d.path().join("t.csv");
    std::fs::write(&csv, "a,b\n1,2\n").expect("write csv");
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');\nSELECT no_such_column FROM t;",
        csv.display()
    );
    let out = run_sql(d.path(), "no-column", &sql);
    assert_clean_failure(&out, 2, &["no_such_column", "statement 2"]);
}

#[test]
fn missing_input_path() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = run_sql(
        d.path(),
        "missing-path",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/nonexistent/kiln/data/';\nSELECT * FROM t;",
    );
    assert_clean_failure(&out, 2, &["/nonexistent/kiln/data"]);
}

#[test]
fn unreadable_input_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let f = d.path().join("bad.parquet");
    std::fs::write(&f, b"this is not parquet").expect("write");
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}';\nSELECT * FROM t;",
        f.display()
    );
    let out = run_sql(d.path(), "bad-file", &sql);
    assert_clean_failure(&out, 2, &["bad.parquet"]);
}

#[test]
fn manifest_not_yaml() {
    let d = tempfile::tempdir().expect("tempdir");
    let m = d.path().join("bad.yaml");
    std::fs::write(
        &m,
        "apiVersion: kiln.dev/v1alpha1\nkind: [SparkApplication\n",
    )
    .expect("write");
    let out = run_kiln(&["run", m.to_str().expect("utf8")], Duration::from_secs(30));
    assert_clean_failure(&out, 2, &["bad.yaml", "line"]);
}

#[test]
fn manifest_missing_fields_are_named() {
    let d = tempfile::tempdir().expect("tempdir");
    let m = d.path().join("nosql.yaml");
    std::fs::write(&m, "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: x\nspec:\n  executor:\n    instances: 2\n").expect("write");
    let out = run_kiln(&["run", m.to_str().expect("utf8")], Duration::from_secs(30));
    assert_clean_failure(&out, 2, &["spec.sql", "spec.mainApplicationFile"]);
    std::fs::write(&m, "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: x\nspec:\n  sql: SELECT 1\n  executor:\n    instances: zero\n").expect("write");
    let out = run_kiln(&["run", m.to_str().expect("utf8")], Duration::from_secs(30));
    assert_clean_failure(&out, 2, &["spec.executor.instances"]);
    let out = run_kiln(&["run", "/nonexistent/app.yaml"], Duration::from_secs(30));
    assert_clean_failure(&out, 2, &["/nonexistent/app.yaml"]);
}

#[test]
fn executor_that_cannot_start() {
    let d = tempfile::tempdir().expect("tempdir");
    let m = write_manifest(d.path(), "no-executor", "SELECT 1;", 2, 1, "");
    let out = run_kiln_env(
        &["run", m.to_str().expect("utf8")],
        &[("KILN_EXECUTOR_PROGRAM", "/bin/false")],
        Duration::from_secs(60),
    );
    assert_clean_failure(&out, 1, &["executor", "exited before registering"]);
}

#[test]
fn bad_master() {
    let d = tempfile::tempdir().expect("tempdir");
    let m = write_manifest(d.path(), "bad-master", "SELECT 1;", 1, 1, "");
    let out = run_kiln(
        &["run", m.to_str().expect("utf8"), "--master", "yarn"],
        Duration::from_secs(30),
    );
    assert_clean_failure(&out, 2, &["--master", "yarn"]);
}
