//! The output commit protocol: `COPY` and `INSERT` write to a staging folder
//! and the driver commits on success, so a failed or killed job leaves the
//! target exactly as it was, and a re-run completes it. Overwrite and
//! append behave as Spark's save modes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use kiln_tests::fault::{is_running, run_with_kill, KillPlan};
use kiln_tests::{run_csv_with_summary, tpch_ddl, tpch_sf01, write_manifest};

/// Every file under `dir`: relative path -> (size, modification time).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).expect("under dir").to_path_buf();
                out.insert(rel, (meta.len(), meta.modified().expect("mtime")));
            }
        }
    }
    out
}

/// What staging is left beside targets in `parent`: the `.kiln-staging`
/// folder's contents (it is removed once empty), and any older-style
/// `.kiln-staging-*` folder.
fn staging_left(parent: &Path) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(parent)
        .expect("parent")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".kiln-staging"))
        .collect();
    left.extend(
        snapshot(&parent.join(".kiln-staging"))
            .into_keys()
            .map(|p| p.display().to_string()),
    );
    left
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

/// What one `kiln run` of a test application gave.
struct AppRun {
    ok: bool,
    stdout: String,
    stderr: String,
    /// The `--summary-json` document (null when the run failed).
    summary: serde_json::Value,
}

/// Runs an application (CSV rows on stdout, a summary file) and checks it
/// did not panic.
fn run_app_full(work: &Path, name: &str, sql: &str, conf: &str) -> AppRun {
    let extra = if conf.is_empty() {
        String::new()
    } else {
        format!("  conf:\n{conf}")
    };
    let manifest = write_manifest(work, name, sql, 2, 1, &extra);
    let (out, summary) = run_csv_with_summary(&manifest, &[], Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{name} panicked: {stderr}");
    let ok = out.status.success();
    AppRun {
        ok,
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
        summary: if ok {
            kiln_tests::read_summary(&summary)
        } else {
            serde_json::Value::Null
        },
    }
}

/// Runs an application; returns (success, stdout, stderr).
fn run_app(work: &Path, name: &str, sql: &str, conf: &str) -> (bool, String, String) {
    let run = run_app_full(work, name, sql, conf);
    (run.ok, run.stdout, run.stderr)
}

/// Runs an application; returns (success, summary, stderr).
fn run_app_summary(
    work: &Path,
    name: &str,
    sql: &str,
    conf: &str,
) -> (bool, serde_json::Value, String) {
    let run = run_app_full(work, name, sql, conf);
    (run.ok, run.summary, run.stderr)
}

fn count_rows(work: &Path, table_dir: &Path) -> u64 {
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/';\nSELECT count(*) AS n FROM t;",
        table_dir.display()
    );
    let (ok, stdout, stderr) = run_app(work, "count", &sql, "");
    assert!(ok, "count failed: {stderr}");
    stdout
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout}"))
}

fn copy_sql(query: &str, out: &Path) -> String {
    format!(
        "{}COPY ({query}) TO '{}/' STORED AS PARQUET;",
        tpch_ddl(tpch_sf01()),
        out.display()
    )
}

const GOOD: &str = "SELECT c_nationkey, count(*) AS n FROM customer GROUP BY c_nationkey";
/// Fails in a task at run time: a name is not a number.
const BAD: &str = "SELECT c_nationkey, CAST(c_name AS INT) AS n FROM customer";

#[test]
fn copy_overwrites_the_target_and_marks_success() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("stale.parquet"), b"old data").expect("stale file");
    let (ok, _, stderr) = run_app(work.path(), "copy", &copy_sql(GOOD, &out), "");
    assert!(ok, "{stderr}");
    let files = snapshot(&out);
    assert!(
        !files.contains_key(Path::new("stale.parquet")),
        "overwrite kept old files: {files:?}"
    );
    assert!(
        files.contains_key(Path::new("_SUCCESS")),
        "no _SUCCESS: {files:?}"
    );
    assert!(!data_files(&out).is_empty());
    assert!(staging_left(work.path()).is_empty());
    assert_eq!(count_rows(work.path(), &out), 25);
}

#[test]
fn copy_in_append_mode_adds_files() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let conf = "    kiln.write.mode: append\n";
    for _ in 0..2 {
        let (ok, _, stderr) = run_app(work.path(), "append", &copy_sql(GOOD, &out), conf);
        assert!(ok, "{stderr}");
    }
    assert_eq!(count_rows(work.path(), &out), 50, "two appends of 25 rows");
    let conf = "    kiln.write.mode: errorifexists\n";
    let (ok, _, stderr) = run_app(work.path(), "exists", &copy_sql(GOOD, &out), conf);
    assert!(!ok, "errorifexists wrote over existing data");
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn a_task_failing_for_good_leaves_the_target_as_it_was() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let (ok, _, stderr) = run_app(work.path(), "first", &copy_sql(GOOD, &out), "");
    assert!(ok, "{stderr}");
    let before = snapshot(&out);
    for mode in ["overwrite", "append"] {
        let conf = format!("    kiln.write.mode: {mode}\n");
        let (ok, _, stderr) = run_app(work.path(), "bad", &copy_sql(BAD, &out), &conf);
        assert!(!ok, "the failing copy succeeded");
        assert!(stderr.contains("error:"), "{stderr}");
        assert_eq!(
            snapshot(&out),
            before,
            "{mode}: the target changed after a failed job"
        );
        assert!(staging_left(work.path()).is_empty(), "staging left behind");
    }
    // A re-run completes it.
    let (ok, _, stderr) = run_app(work.path(), "rerun", &copy_sql(GOOD, &out), "");
    assert!(ok, "{stderr}");
    assert_ne!(snapshot(&out), before);
    assert_eq!(count_rows(work.path(), &out), 25);
}

#[test]
fn insert_into_appends_and_insert_overwrite_replaces() {
    let work = tempfile::tempdir().expect("tempdir");
    let table = work.path().join("t");
    std::fs::create_dir_all(&table).expect("mkdir");
    let ddl = format!(
        "{}CREATE EXTERNAL TABLE t (k BIGINT, n BIGINT) STORED AS PARQUET LOCATION '{}/';\n",
        tpch_ddl(tpch_sf01()),
        table.display()
    );
    let insert = format!("{ddl}INSERT INTO t {GOOD};");
    for _ in 0..2 {
        let (ok, _, stderr) = run_app(work.path(), "insert", &insert, "");
        assert!(ok, "{stderr}");
    }
    assert_eq!(count_rows(work.path(), &table), 50);
    let before = snapshot(&table);
    let bad =
        format!("{ddl}INSERT INTO t SELECT c_nationkey, CAST(c_name AS BIGINT) FROM customer;");
    let (ok, _, _) = run_app(work.path(), "bad-insert", &bad, "");
    assert!(!ok);
    assert_eq!(
        snapshot(&table),
        before,
        "a failed INSERT changed the table"
    );
    let overwrite = format!("{ddl}INSERT OVERWRITE t {GOOD};");
    let (ok, _, stderr) = run_app(work.path(), "overwrite", &overwrite, "");
    assert!(ok, "{stderr}");
    assert_eq!(count_rows(work.path(), &table), 25);
}

#[test]
fn a_killed_driver_leaves_the_target_as_it_was_and_no_executor_behind() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let (ok, _, stderr) = run_app(work.path(), "first", &copy_sql(GOOD, &out), "");
    assert!(ok, "{stderr}");
    let before = snapshot(&out);
    let conf = "  conf:\n    kiln.test.taskDelay: 500ms\n    kiln.executor.heartbeatTimeout: 2s\n";
    let manifest = write_manifest(work.path(), "killed", &copy_sql(GOOD, &out), 2, 1, conf);
    let run = run_with_kill(
        &manifest,
        &work.path().join("summary.json"),
        &KillPlan {
            after_line: ": done,".into(),
            delay: Duration::from_millis(100),
            victim: 0,
            driver: true,
        },
        Duration::from_secs(120),
    );
    assert!(
        run.killed_pid.is_some(),
        "the driver was not killed:\n{}",
        run.stderr
    );
    assert!(!run.success);
    assert_eq!(snapshot(&out), before, "a killed job changed the target");
    // Executors notice their driver is gone and exit.
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.executors_at_kill.iter().any(|p| is_running(*p)) {
        assert!(
            Instant::now() < deadline,
            "executors {:?} outlived their driver",
            run.executors_at_kill
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A re-run completes the write and clears the abandoned staging folder.
    let (ok, _, stderr) = run_app(work.path(), "rerun", &copy_sql(GOOD, &out), "");
    assert!(ok, "{stderr}");
    assert!(
        staging_left(work.path()).is_empty(),
        "{:?}",
        staging_left(work.path())
    );
    assert_eq!(count_rows(work.path(), &out), 25);
}

#[test]
fn copy_to_a_single_file_replaces_it_through_staging() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("result.parquet");
    std::fs::write(&file, b"old contents").expect("old file");
    let sql = format!(
        "{}COPY ({GOOD}) TO '{}' STORED AS PARQUET;",
        tpch_ddl(tpch_sf01()),
        file.display()
    );
    let (ok, _, stderr) = run_app(work.path(), "single", &sql, "");
    assert!(ok, "{stderr}");
    assert!(file.is_file(), "no output file");
    assert_ne!(std::fs::read(&file).expect("read"), b"old contents");
    assert!(staging_left(work.path()).is_empty());
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}';\nSELECT count(*) AS n FROM t;",
        file.display()
    );
    let (ok, stdout, stderr) = run_app(work.path(), "count-file", &sql, "");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().nth(1).map(str::trim), Some("25"), "{stdout}");
}

#[test]
fn write_tasks_write_the_files_and_only_successful_attempts_are_committed() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    // The grouped result has 2 partitions: 2 write tasks, one file each
    // (a single writer on the driver would have written one file).
    let (ok, summary, stderr) = run_app_summary(
        work.path(),
        "tasks",
        &copy_sql(GOOD, &out),
        "    spark.sql.shuffle.partitions: \"2\"\n",
    );
    assert!(ok, "{stderr}");
    assert_eq!(data_files(&out).len(), 2, "{:?}", snapshot(&out));
    assert_eq!(summary["retries"], 0, "{summary}");
    assert_eq!(count_rows(work.path(), &out), 25);

    // Every first attempt writes its files and then fails; the retries
    // write again. Only the retries' files may reach the target.
    let (ok, summary, stderr) = run_app_summary(
        work.path(),
        "retried",
        &copy_sql(GOOD, &out),
        "    spark.sql.shuffle.partitions: \"2\"\n    kiln.test.failFirstWriteAttempt: \"true\"\n",
    );
    assert!(ok, "{stderr}");
    assert_eq!(summary["retries"], 2, "{summary}");
    assert!(stderr.contains("failing after the write"), "{stderr}");
    assert_eq!(data_files(&out).len(), 2, "{:?}", snapshot(&out));
    assert_eq!(
        count_rows(work.path(), &out),
        25,
        "rows of failed attempts were committed"
    );
    assert!(staging_left(work.path()).is_empty());
}

#[test]
fn a_sorted_result_is_written_by_one_task_as_one_file() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let query = "SELECT c_custkey, c_nationkey FROM customer ORDER BY c_nationkey, c_custkey";
    let (ok, _, stderr) = run_app_summary(work.path(), "sorted", &copy_sql(query, &out), "");
    assert!(ok, "{stderr}");
    assert_eq!(data_files(&out).len(), 1, "{:?}", snapshot(&out));
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/';\nSELECT count(*) AS n FROM t;",
        out.display()
    );
    let (ok, stdout, stderr) = run_app(work.path(), "count-sorted", &sql, "");
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.lines().nth(1).map(str::trim),
        Some("15000"),
        "{stdout}"
    );
}

#[test]
fn an_executor_killed_during_the_write_stage_leaves_exactly_one_copy() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    // Stage 1 aggregates, stage 2 writes. Every task waits 400 ms first, so
    // 200 ms after the write stage starts both write tasks are running.
    let conf = "  conf:\n    kiln.test.taskDelay: 400ms\n    spark.sql.shuffle.partitions: \"2\"\n";
    let manifest = write_manifest(
        work.path(),
        "kill-in-write",
        &copy_sql(GOOD, &out),
        3,
        1,
        conf,
    );
    let run = run_with_kill(
        &manifest,
        &work.path().join("summary.json"),
        &KillPlan {
            after_line: "stage 2: started".into(),
            delay: Duration::from_millis(200),
            victim: 0,
            driver: false,
        },
        Duration::from_secs(120),
    );
    assert!(run.success, "the job failed:\n{}", run.stderr);
    assert!(
        run.killed_pid.is_some(),
        "no executor was killed:\n{}",
        run.stderr
    );
    assert!(run.counter("retries") >= 1, "{:?}", run.summary);
    assert_eq!(data_files(&out).len(), 2, "{:?}", snapshot(&out));
    assert_eq!(
        count_rows(work.path(), &out),
        25,
        "a write was committed twice"
    );
    assert!(staging_left(work.path()).is_empty());
}

#[test]
fn an_empty_parquet_result_commits_one_empty_file_with_the_columns() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let query = "SELECT c_custkey, c_name FROM customer WHERE c_custkey < 0";
    let (ok, _, stderr) = run_app(work.path(), "empty", &copy_sql(query, &out), "");
    assert!(ok, "{stderr}");
    assert_eq!(data_files(&out).len(), 1, "{:?}", snapshot(&out));
    // A later job can read the target: no rows, but the columns are there.
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/';\nSELECT count(*) AS n, count(c_name) AS names FROM t;",
        out.display()
    );
    let (ok, stdout, stderr) = run_app(work.path(), "read-empty", &sql, "");
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.lines().nth(1).map(str::trim),
        Some("0,0"),
        "{stdout}"
    );
}

/// `SELECT ..., '<who>' AS who` over the customers, for telling apart which
/// of two jobs' output a target holds.
fn tagged(who: &str) -> String {
    format!("SELECT c_nationkey, count(*) AS n, '{who}' AS who FROM customer GROUP BY c_nationkey")
}

/// Rows per `who` value of a Parquet folder, as `who:rows` joined by `,`.
fn who_wrote(work: &Path, table_dir: &Path) -> String {
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/';\n\
         SELECT who, count(*) AS n FROM t GROUP BY who ORDER BY who;",
        table_dir.display()
    );
    let (ok, stdout, stderr) = run_app(work, "who", &sql, "");
    assert!(ok, "reading {} failed: {stderr}", table_dir.display());
    stdout
        .lines()
        .skip(1)
        .map(|l| l.replacen(',', ":", 1))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs a slow write (`who` `slow_who` into `slow_out`, tasks delayed 2 s)
/// and, 0.7 s after it started, a fast one (`fast_who` into `fast_out`),
/// so that the fast one stages and commits while the slow one runs.
/// Returns (slow, fast) as `run_app` gives them.
fn overlapping_writes(
    work: &Path,
    (slow_who, slow_out): (&str, &Path),
    (fast_who, fast_out): (&str, &Path),
) -> ((bool, String, String), (bool, String, String)) {
    let slow_sql = copy_sql(&tagged(slow_who), slow_out);
    let fast_sql = copy_sql(&tagged(fast_who), fast_out);
    std::thread::scope(|s| {
        let slow = s.spawn(|| run_app(work, slow_who, &slow_sql, "    kiln.test.taskDelay: 2s\n"));
        std::thread::sleep(Duration::from_millis(700));
        let fast = run_app(work, fast_who, &fast_sql, "");
        (slow.join().expect("slow job"), fast)
    })
}

#[test]
fn jobs_writing_sibling_targets_at_once_keep_both_outputs() {
    // `out` and `out-daily` in one folder: the write to `out` must not take
    // `out-daily`'s staging for its own abandoned staging and delete it.
    let work = tempfile::tempdir().expect("tempdir");
    let daily = work.path().join("out-daily");
    let out = work.path().join("out");
    let (first, second) = overlapping_writes(work.path(), ("daily", &daily), ("out", &out));
    assert!(first.0, "out-daily: {}", first.2);
    assert!(second.0, "out: {}", second.2);
    assert_eq!(who_wrote(work.path(), &daily), "daily:25");
    assert_eq!(who_wrote(work.path(), &out), "out:25");
    assert!(
        staging_left(work.path()).is_empty(),
        "{:?}",
        staging_left(work.path())
    );
}

#[test]
fn two_overwrites_of_one_target_at_once_one_wins_and_the_other_fails_cleanly() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let (first, second) = overlapping_writes(work.path(), ("slow", &out), ("fast", &out));
    // The fast job commits first; the slow one finds the target changed.
    assert!(
        second.0,
        "the job that committed first failed: {}",
        second.2
    );
    assert!(!first.0, "both overwrites reported success");
    assert!(
        first
            .2
            .contains("was overwritten by another job while this one ran"),
        "{}",
        first.2
    );
    assert_eq!(who_wrote(work.path(), &out), "fast:25");
    assert!(
        staging_left(work.path()).is_empty(),
        "{:?}",
        staging_left(work.path())
    );
}

#[test]
fn a_commit_failing_halfway_keeps_the_old_data_and_no_success_marker() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let (ok, _, stderr) = run_app(work.path(), "old", &copy_sql(&tagged("old"), &out), "");
    assert!(ok, "{stderr}");
    let old_files = data_files(&out);
    assert!(!old_files.is_empty());
    // The overwrite's commit moves one of its files in, then fails.
    let conf = "    kiln.test.failCommitAfterFiles: 1\n";
    let (ok, _, stderr) = run_app(work.path(), "new", &copy_sql(&tagged("new"), &out), conf);
    assert!(
        !ok,
        "the commit did not fail (did the job write only one file?)"
    );
    assert!(stderr.contains("injected failure"), "{stderr}");
    let now = data_files(&out);
    for f in &old_files {
        assert!(
            now.contains(f),
            "old file {} lost; target now {now:?}",
            f.display()
        );
    }
    assert!(
        !out.join("_SUCCESS").exists(),
        "a half-committed target is marked _SUCCESS"
    );
    // Old and new side by side: duplicates, never a loss.
    let who = who_wrote(work.path(), &out);
    assert!(who.starts_with("new:") && who.ends_with(",old:25"), "{who}");
    assert!(
        staging_left(work.path()).is_empty(),
        "{:?}",
        staging_left(work.path())
    );
    // A re-run repairs it.
    let (ok, _, stderr) = run_app(work.path(), "rerun", &copy_sql(&tagged("new"), &out), "");
    assert!(ok, "{stderr}");
    assert_eq!(who_wrote(work.path(), &out), "new:25");
}
