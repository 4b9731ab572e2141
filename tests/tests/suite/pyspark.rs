//! PySpark programs run unchanged on Kiln through Spark Connect and are
//! checked against Spark itself: each script in `tests/pyspark/` runs once
//! through `kiln run job.py` (a driver serving Spark Connect and two
//! executor processes, the pinned pyspark-client) and once on classic
//! PySpark (Spark in a local JVM); the two outputs must be equal, section
//! by section.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use kiln_tests::{pyspark_python, repo_root as repo, run_kiln};

fn client_python() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| pyspark_python("client"))
}

fn oracle_python() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| pyspark_python("oracle"))
}

/// The script's output on Spark (classic PySpark, local[2]).
fn on_spark(script: &Path, out_dir: &Path) -> String {
    let out = Command::new(oracle_python())
        .arg(script)
        .arg(out_dir)
        .env_remove("SPARK_REMOTE")
        // Spark's Python workers run the oracle's interpreter (pandas, pyarrow).
        .env("PYSPARK_PYTHON", oracle_python())
        .env("PYSPARK_SUBMIT_ARGS", "--master local[2] pyspark-shell")
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        // Spark's managed tables go to `spark-warehouse` here.
        .current_dir(out_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run the Spark oracle");
    assert!(
        out.status.success(),
        "the script failed on Spark:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The script's output on Kiln (`kiln run job.py`, two executor processes).
fn on_kiln(script: &Path, out_dir: &Path) -> String {
    let python = client_python().to_string_lossy().into_owned();
    let script = script.to_string_lossy().into_owned();
    let dir = out_dir.to_string_lossy().into_owned();
    let warehouse = format!(
        "spark.sql.warehouse.dir={}",
        out_dir.join("spark-warehouse").display()
    );
    let out = run_kiln(
        &[
            "run",
            "--python",
            &python,
            "--executors",
            "2",
            "--conf",
            &warehouse,
            &script,
            &dir,
        ],
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the script failed on Kiln:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("## ") {
            out.push((t.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

fn check_script(name: &str) {
    let script = repo().join("tests/pyspark").join(name);
    let dirs = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let spark = on_spark(&script, dirs.0.path());
    let kiln = on_kiln(&script, dirs.1.path());
    let (s, k) = (sections(&spark), sections(&kiln));
    assert!(!s.is_empty(), "the script printed no sections on Spark");
    let mut mismatches = vec![];
    for (i, (title, expected)) in s.iter().enumerate() {
        match k.get(i) {
            Some((t, actual)) if t == title && actual == expected => {}
            Some((t, actual)) => mismatches.push(format!(
                "section `{title}`:\n--- Spark\n{expected}--- Kiln (`{t}`)\n{actual}"
            )),
            None => mismatches.push(format!("section `{title}`: missing on Kiln")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} sections differ from Spark:\n\n{}",
        mismatches.len(),
        s.len(),
        mismatches.join("\n")
    );
}

#[test]
fn dataframe_basics_give_sparks_answers() {
    check_script("dataframe_basics.py");
}

#[test]
fn everyday_spark_sql_gives_sparks_answers() {
    check_script("spark_sql_everyday.py");
}

#[test]
fn python_udfs_give_sparks_answers_on_the_executors() {
    // Every kind of Python UDF; the script itself asserts, on Kiln, that
    // the UDFs ran in workers of both executor processes.
    check_script("python_udfs.py");
}

#[test]
fn python_udf_faults_fail_one_attempt_or_the_job_as_spark_does() {
    let script = repo().join("tests/pyspark/python_udf_faults.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = on_kiln(&script, dir.path());
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
    let python = client_python().to_string_lossy().into_owned();
    let worker = format!("spark.pyspark.python={}", other.display());
    let out = run_kiln(
        &[
            "run",
            "--python",
            &python,
            "--executors",
            "2",
            "--conf",
            &worker,
            &script.to_string_lossy(),
        ],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PythonException True"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
