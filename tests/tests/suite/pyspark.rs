//! PySpark programs run unchanged on Kiln through Spark Connect and are
//! checked against Spark itself: each script in `tests/pyspark/` runs on
//! classic PySpark (Spark in a local JVM) and on Kiln with the pinned
//! pyspark-client, through `kiln run job.py` (a driver serving Spark
//! Connect and two executor processes) and, for the course-style script,
//! also against a long-running `kiln connect`; the outputs must be equal,
//! section by section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kiln_tests::pyspark::{
    assert_same_sections, client_python, on_client, on_spark, script, ConnectServer,
};
use kiln_tests::run_kiln;

/// `kiln run --python <client> --executors 2 --conf <conf> <script> <args>`.
fn kiln_run_python(conf: &str, script: &Path, args: &[&str], limit: Duration) -> Output {
    let python = client_python().to_string_lossy().into_owned();
    let script = script.to_string_lossy().into_owned();
    let mut all = vec![
        "run",
        "--python",
        &python,
        "--executors",
        "2",
        "--conf",
        conf,
        &script,
    ];
    all.extend_from_slice(args);
    run_kiln(&all, limit)
}

/// The script's output on Kiln (`kiln run job.py`, two executor processes).
fn on_kiln_run(script: &Path, out_dir: &Path) -> String {
    let dir = out_dir.to_string_lossy().into_owned();
    let warehouse = format!(
        "spark.sql.warehouse.dir={}",
        out_dir.join("spark-warehouse").display()
    );
    let out = kiln_run_python(&warehouse, script, &[&dir], Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the script failed on Kiln:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check_script(name: &str) {
    let script = script(name);
    let dirs = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let spark = on_spark(&script, &[&dirs.0.path().to_string_lossy()], dirs.0.path());
    let kiln = on_kiln_run(&script, dirs.1.path());
    assert_same_sections(&spark, &kiln);
}

#[test]
fn dataframe_basics_give_sparks_answers() {
    check_script("dataframe_basics.py");
}

#[test]
fn dataframe_relations_give_sparks_answers() {
    check_script("dataframe_relations.py");
}

#[test]
fn tables_written_by_dataframes_and_the_catalog_give_sparks_answers() {
    // saveAsTable in every save mode, insertInto, partitioned and CSV
    // tables, and spark.catalog's lists of tables, views and columns.
    check_script("tables.py");
}

#[test]
fn everyday_spark_sql_gives_sparks_answers() {
    check_script("spark_sql_everyday.py");
}

#[test]
fn json_csv_and_xml_functions_give_sparks_answers() {
    check_script("documents.py");
}

#[test]
fn lambdas_generators_and_nested_values_give_sparks_answers() {
    check_script("lambdas_generators.py");
}

#[test]
fn python_udfs_give_sparks_answers_on_the_executors() {
    // Every kind of Python UDF; the script itself asserts, on Kiln, that
    // the UDFs ran in workers of both executor processes.
    check_script("python_udfs.py");
}

#[test]
fn python_udf_faults_fail_one_attempt_or_the_job_as_spark_does() {
    let script = script("python_udf_faults.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = on_kiln_run(&script, dir.path());
    for check in [
        "ok os._exit(1) on the first call in each worker",
        "ok a worker killed with SIGKILL mid-task",
        "ok ValueError: PythonException with the message, no retry",
        "ok a UDF that runs forever stops when the job is interrupted",
    ] {
        assert!(out.contains(check), "missing `{check}` in:\n{out}");
    }
}

/// A Python of another minor version than the client's, if this machine
/// has one (`python3.N` on PATH, or under pyenv).
fn other_python() -> Option<PathBuf> {
    let client = Command::new(client_python())
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .ok()?;
    let minor: u32 = String::from_utf8_lossy(&client.stdout)
        .trim()
        .parse()
        .ok()?;
    let mut candidates: Vec<PathBuf> = (8..=14)
        .filter(|m| *m != minor)
        .map(|m| PathBuf::from(format!("python3.{m}")))
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        let root = PathBuf::from(home).join(".pyenv/versions");
        if let Ok(dirs) = std::fs::read_dir(root) {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if name.starts_with("3.") && !name.starts_with(&format!("3.{minor}.")) {
                    candidates.push(d.path().join("bin/python3"));
                }
            }
        }
    }
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import sys; sys.exit(sys.version_info[0] != 3)"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn a_worker_python_of_another_version_is_one_clear_error() {
    let Some(other) = other_python() else {
        panic!(
            "this test needs a Python 3 of another minor version than the client's \
             (python3.N on PATH or under ~/.pyenv/versions)"
        );
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("mismatch.py");
    std::fs::write(
        &script,
        "from pyspark.sql import SparkSession\n\
         from pyspark.sql.functions import udf\n\
         spark = SparkSession.builder.getOrCreate()\n\
         try:\n\
         \x20   spark.range(3).select(udf(lambda x: x + 1, 'long')('id')).collect()\n\
         \x20   print('no error')\n\
         except Exception as e:\n\
         \x20   print(type(e).__name__, '[PYTHON_VERSION_MISMATCH] Python in worker has different version' in str(e))\n",
    )
    .expect("write script");
    let worker = format!("spark.pyspark.python={}", other.display());
    let out = kiln_run_python(&worker, &script, &[], Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PythonException True"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per executor: the stages it ran tasks of, and the shuffle bytes its
/// tasks read from other executors (from the executors' logs).
fn executor_work(server: &ConnectServer) -> BTreeMap<String, (Vec<u32>, u64)> {
    let mut work = BTreeMap::new();
    for (id, log) in server.executor_logs() {
        let mut stages = vec![];
        let mut remote = 0u64;
        for line in log.lines().filter(|l| l.contains(" finished (")) {
            let stage = line
                .split(" stage ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|s| s.parse::<u32>().ok());
            stages.extend(stage);
            remote += line
                .split(" bytes local + ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
        stages.sort_unstable();
        stages.dedup();
        work.insert(id, (stages, remote));
    }
    work
}

/// The course-style script (CSV with a schema, Parquet folders, dates,
/// aggregates, unions, temp views with `GROUP BY 1, 2, 3`, joins, Parquet
/// writes with coalesce and repartition) gives Spark's rows through
/// `kiln run job.py` and through `kiln connect` with two executors, whose
/// stages run on both executors and move shuffle bytes between them.
#[test]
fn course_style_script_gives_sparks_answers_on_both_executors() {
    let script = script("course_sales.py");
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let arg = |i: usize| dirs[i].path().to_string_lossy().into_owned();
    let spark = on_spark(&script, &[&arg(0)], dirs[0].path());
    let kiln_run = on_kiln_run(&script, dirs[1].path());
    assert_same_sections(&spark, &kiln_run);

    // Host-local reads off: the two executors share this host, and each is
    // to fetch the other's blocks over Flight.
    let server = ConnectServer::start(&["spark.shuffle.readHostLocalDisk=false"]);
    let kiln_connect = on_client(&script, &[&arg(2)], server.url(), dirs[2].path());
    assert_same_sections(&spark, &kiln_connect);
    let work = executor_work(&server);
    assert_eq!(work.len(), 2, "two executors: {work:?}");
    let stages: Vec<&Vec<u32>> = work.values().map(|(s, _)| s).collect();
    let shared: Vec<u32> = stages[0]
        .iter()
        .filter(|s| stages[1].contains(s))
        .copied()
        .collect();
    assert!(
        !shared.is_empty(),
        "no stage ran tasks on both executors: {work:?}"
    );
    assert!(
        work.values().all(|(_, remote)| *remote > 0),
        "each executor read shuffle blocks from the other: {work:?}"
    );
}
