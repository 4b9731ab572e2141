//! The Spark Connect server as its clients meet it: real `kiln connect`
//! processes with two executor processes, the pinned PySpark client, and
//! classic PySpark (Spark itself) computing what the answers must be.
//!
//! - a large result read through many reattaches arrives exactly once;
//! - interrupts (by tag, operation and all) and a released session cancel
//!   the query's tasks on the executors;
//! - sessions are isolated (the same temp view name in two sessions);
//! - several clients run jobs at once;
//! - a client that disconnects mid-query has its job cancelled;
//! - bad input gets Spark's exceptions and the server keeps serving;
//! - AnalyzePlan and Config answer as Spark's;
//! - SIGTERM stops the server cleanly (executors gone, work dir removed).

use std::time::{Duration, Instant};

use kiln_tests::fault::{child_pids, is_running};
use kiln_tests::pyspark::{
    assert_same_sections, client_output, on_client, on_spark, script, section, spawn_client,
    ConnectServer,
};

/// Runs `name` on Spark and on `server`, with a fresh folder argument
/// when `with_dir`, and checks Spark's sections against Kiln's; returns
/// Kiln's output.
fn compare(server: &ConnectServer, name: &str, with_dir: bool) -> String {
    let script = script(name);
    let dirs = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let arg = |d: &tempfile::TempDir| d.path().to_string_lossy().into_owned();
    let (a0, a1) = (arg(&dirs.0), arg(&dirs.1));
    let args = |a: &str| {
        if with_dir {
            vec![a.to_string()]
        } else {
            vec![]
        }
    };
    let spark_args = args(&a0);
    let kiln_args = args(&a1);
    let spark_refs: Vec<&str> = spark_args.iter().map(String::as_str).collect();
    let kiln_refs: Vec<&str> = kiln_args.iter().map(String::as_str).collect();
    let spark = on_spark(&script, &spark_refs, dirs.0.path());
    let kiln = on_client(&script, &kiln_refs, server.url(), dirs.1.path());
    assert_same_sections(&spark, &kiln);
    kiln
}

/// Executor log lines saying a task was cancelled by the driver.
fn cancelled_tasks(server: &ConnectServer) -> usize {
    server
        .executor_logs()
        .iter()
        .map(|(_, log)| log.matches("cancelled by the driver").count())
        .sum()
}

#[test]
fn reattach_delivers_every_row_exactly_once() {
    let server = ConnectServer::start(&[]);
    compare(&server, "reattach.py", true);
    let reattaches = server.stderr().matches("client reattached").count();
    assert!(
        reattaches >= 20,
        "the client reattached {reattaches} times; the tiny stream limits should force many"
    );
}

#[test]
fn interrupts_cancel_the_querys_tasks_on_the_executors() {
    let server = ConnectServer::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = on_client(&script("interrupt.py"), &[], server.url(), dir.path());
    for how in ["tag", "operation", "all"] {
        let text = section(&out, &format!("interrupt by {how}"))
            .unwrap_or_else(|| panic!("no section for interrupt by {how}:\n{out}"));
        assert!(
            text.contains("interrupted operations: 1"),
            "interrupt by {how}: {text}"
        );
        assert!(
            text.contains("OPERATION_CANCELED"),
            "interrupt by {how}: the query must fail as cancelled: {text}"
        );
        assert!(text.contains("next query: 5"), "interrupt by {how}: {text}");
    }
    // Each interrupted query had tasks running on both executors.
    assert!(
        server.wait_executor_log("cancelled by the driver", Duration::from_secs(30)),
        "no executor task was cancelled:\n{:?}",
        server.executor_logs()
    );
    let cancelled = cancelled_tasks(&server);
    assert!(
        cancelled >= 3,
        "{cancelled} tasks cancelled for 3 interrupts"
    );
}

#[test]
fn sessions_are_isolated_and_a_released_session_stops_its_query() {
    let server = ConnectServer::start(&[]);
    let kiln = compare(&server, "sessions.py", false);
    let released = section(&kiln, "kiln: release session").expect("release section");
    assert!(
        released.contains("query of the released session ended: True True"),
        "{released}"
    );
    assert!(
        released.contains("other session: [Row(k=1, v='a1'), Row(k=2, v='a2')]"),
        "{released}"
    );
    assert!(
        server.wait_executor_log("cancelled by the driver", Duration::from_secs(30)),
        "releasing the session did not cancel its tasks"
    );
}

/// One client's long job (a single task, its session plans one partition)
/// and another client's short job run at the same time: the short one
/// finishes while the long one runs (jobs of several sessions are not
/// queued behind each other), then the long one is interrupted.
#[test]
fn several_clients_run_jobs_at_once() {
    let server = ConnectServer::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("short-done");
    let flag_arg = flag.to_string_lossy().into_owned();
    let long = spawn_client(
        &script("concurrent_client.py"),
        &["long", &flag_arg],
        server.url(),
        dir.path(),
    );
    assert!(
        server.wait_executor_log("started", Duration::from_secs(120)),
        "the long job never started"
    );
    let short = client_output(
        spawn_client(
            &script("concurrent_client.py"),
            &["short", &flag_arg],
            server.url(),
            dir.path(),
        ),
        Duration::from_secs(300),
    );
    let short_out = String::from_utf8_lossy(&short.stdout).into_owned();
    assert!(
        short.status.success() && short_out.contains("short: 4950"),
        "the short job failed while the long one ran:\n{short_out}\n{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let long = client_output(long, Duration::from_secs(300));
    let long_out = String::from_utf8_lossy(&long.stdout).into_owned();
    assert!(
        long.status.success(),
        "{long_out}\n{}",
        String::from_utf8_lossy(&long.stderr)
    );
    assert!(
        long_out.contains("long: interrupted while the short job ran OPERATION_CANCELED"),
        "the long job must still have been running when the short one finished:\n{long_out}"
    );
}

#[test]
fn a_client_that_disconnects_has_its_job_cancelled() {
    let server = ConnectServer::start(&["spark.connect.execute.manager.detachedTimeout=1s"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("unused");
    let mut client = spawn_client(
        &script("concurrent_client.py"),
        &["endless", &flag.to_string_lossy()],
        server.url(),
        dir.path(),
    );
    assert!(
        server.wait_executor_log("started", Duration::from_secs(120)),
        "the query never started"
    );
    client.kill().expect("kill the client");
    let _ = client.wait();
    assert!(
        server.wait_executor_log("cancelled by the driver", Duration::from_secs(60)),
        "the disconnected client's tasks kept running:\n{}",
        server.stderr()
    );
    // The server still serves.
    let out = on_client(
        &script("concurrent_client.py"),
        &["short", &flag.to_string_lossy()],
        server.url(),
        dir.path(),
    );
    assert!(out.contains("short: 4950"), "{out}");
}

#[test]
fn bad_input_gets_sparks_exceptions_and_the_server_keeps_serving() {
    let server = ConnectServer::start(&[]);
    let kiln = compare(&server, "bad_input.py", false);
    let unsupported = section(&kiln, "kiln: an unsupported relation").expect("section");
    assert!(
        unsupported.starts_with("UnsupportedOperationException True"),
        "{unsupported}"
    );
    assert!(unsupported.contains("streaming reads"), "{unsupported}");
    assert!(unsupported.contains("[Row(n=2)] 3"), "{unsupported}");
}

#[test]
fn analyze_and_config_answer_as_spark() {
    let server = ConnectServer::start(&[]);
    compare(&server, "analyze_config.py", true);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = ConnectServer::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("unused");
    let client = spawn_client(
        &script("concurrent_client.py"),
        &["endless", &flag.to_string_lossy()],
        server.url(),
        dir.path(),
    );
    assert!(
        server.wait_executor_log("started", Duration::from_secs(120)),
        "the query never started"
    );
    let executors = child_pids(server.pid());
    assert_eq!(executors.len(), 2, "two executor processes: {executors:?}");
    let work_dirs = server.work_dirs();
    assert_eq!(work_dirs.len(), 1, "one work directory: {work_dirs:?}");
    let stopped = Instant::now();
    let status = server
        .terminate(Duration::from_secs(60))
        .expect("kiln connect stops on SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        server.stderr()
    );
    assert!(
        executors.iter().all(|p| !is_running(*p)),
        "executor processes left running: {executors:?}"
    );
    assert!(
        work_dirs.iter().all(|d| !d.exists()),
        "work directory left behind: {work_dirs:?}"
    );
    // The client's query ends with an error instead of hanging.
    let out = client_output(client, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success()
            && stdout.contains("endless: failed with")
            && stdout.contains("server is stopping"),
        "the query must fail saying the server stopped: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("server stopped in {:?}", stopped.elapsed());
}
