//! Executor loss: an executor process is SIGKILLed (or SIGSTOPped: hung,
//! still holding its connections) while a multi-stage TPC-H query (scale
//! factor 0.1) runs, mid-map-stage or while reducers fetch from it, and the
//! job still gives DataFusion's rows, by retrying the lost tasks and
//! recomputing only the lost map outputs that are still needed; a driver
//! that stops answering makes its executors exit; a fetch from a peer that
//! accepts the connection and never answers (a black-hole proxy on
//! loopback) ends at its deadline as a fetch failure. The `kiln.test.*`
//! delays widen the window the fault aims at; the recovery path is the real
//! one.

use std::time::Duration;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Instant;

use kiln_tests::fault::{child_pids, is_running, run_with_signal, signal, FaultRun, KillPlan};
use kiln_tests::{
    compare_rows, datafusion_csv, kiln_bin, parse_csv, tpch_ddl, tpch_query, tpch_sf01,
    write_manifest,
};

/// q21: ten stages (scans, hash joins with semi and anti joins, aggregation).
const QUERY: u32 = 21;

async fn run_case(name: &str, instances: u32, conf: &str, plan: KillPlan) -> FaultRun {
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(QUERY));
    run_faulty(name, &sql, (instances, 1), conf, &plan, "KILL").await
}

/// Runs `sql` on `layout` (executors, cores each) with `signal_name` sent
/// per `plan`; checks it succeeded with DataFusion's rows.
async fn run_faulty(
    name: &str,
    sql: &str,
    (instances, cores): (u32, u32),
    conf: &str,
    plan: &KillPlan,
    signal_name: &str,
) -> FaultRun {
    let work = tempfile::tempdir().expect("tempdir");
    let extra = format!("  conf:\n{conf}");
    let manifest = write_manifest(work.path(), name, sql, instances, cores, &extra);
    let summary = work.path().join("summary.json");
    let run = run_with_signal(
        &manifest,
        &summary,
        plan,
        signal_name,
        Duration::from_secs(240),
    );
    assert!(run.success, "{name}: kiln failed:\n{}", run.stderr);
    assert!(
        run.killed_pid.is_some(),
        "{name}: no executor was killed (the job ended first?):\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    let (_, actual) = parse_csv(&run.stdout);
    let (_, expected) = parse_csv(&datafusion_csv(sql, 2).await);
    assert!(!expected.is_empty());
    compare_rows(&expected, &actual).unwrap_or_else(|e| panic!("{name}: wrong rows: {e}"));
    eprintln!(
        "{name}: correct; {} task retries, {} map outputs recomputed",
        run.counter("retries"),
        run.counter("recomputed")
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_killed_during_a_map_stage() {
    // Every task waits 400 ms first, so 200 ms after the first stage starts
    // each executor is inside a task.
    let run = run_case(
        "kill-in-map",
        3,
        "    kiln.test.taskDelay: 400ms\n",
        KillPlan {
            after_line: "stage 1: started".into(),
            delay: Duration::from_millis(200),
            victim: 1,
            driver: false,
        },
    )
    .await;
    assert!(
        run.counter("retries") >= 1,
        "the killed task was not retried:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("lost"),
        "no executor loss reported:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_killed_after_its_map_outputs_before_the_reduce_reads_them() {
    // After each stage completes the driver holds launches for 1.5 s; the
    // kill lands in that gap, when the first finished stage's outputs are on
    // the three executors and nothing has read them yet.
    let run = run_case(
        "kill-between-stages",
        3,
        "    kiln.test.stageDelay: 1500ms\n",
        KillPlan {
            after_line: ": done,".into(),
            delay: Duration::from_millis(100),
            victim: 0,
            driver: false,
        },
    )
    .await;
    assert!(
        run.counter("recomputed") >= 1,
        "no lost map output was recomputed:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_executor_killed_and_a_replacement_joins() {
    let run = run_case(
        "kill-last",
        1,
        // Two partitions per exchange, or one executor gets a one-stage plan.
        "    kiln.test.stageDelay: 1s\n    spark.sql.shuffle.partitions: \"2\"\n",
        KillPlan {
            after_line: ": done,".into(),
            delay: Duration::from_millis(100),
            victim: 0,
            driver: false,
        },
    )
    .await;
    let summary = run.summary.as_ref().expect("summary");
    let executors = summary["executor_peak_rss_bytes"]
        .as_object()
        .expect("executor list");
    assert!(
        executors.contains_key("2"),
        "replacement executor 2 never ran a task: {summary}"
    );
    assert!(run.counter("recomputed") >= 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("started executor 2 in its place"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_stopped_during_a_map_stage() {
    // SIGSTOP: the process keeps its sockets open but never answers, so the
    // tasks it runs never reply. Its heartbeats stop; after the timeout its
    // attempts fail at once and run on the other executors.
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(QUERY));
    let run = run_faulty(
        "stop-in-map",
        &sql,
        (3, 1),
        "    kiln.test.taskDelay: 400ms\n    kiln.executor.heartbeatTimeout: 3s\n",
        &KillPlan {
            after_line: "stage 1: started".into(),
            delay: Duration::from_millis(200),
            victim: 1,
            driver: false,
        },
        "STOP",
    )
    .await;
    assert!(
        run.stderr.contains("no heartbeat within") && run.stderr.contains("relaunched"),
        "the stopped executor was not declared lost:\n{}",
        run.stderr
    );
    let stopped = run.killed_pid.expect("stopped pid");
    assert!(
        !is_running(stopped),
        "the stopped executor {stopped} outlived its application"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_stopped_while_reducers_fetch_from_it() {
    // Three stages: the scan, an aggregation over hash partitions (so each
    // executor holds a share of its non-empty outputs), and a second
    // aggregation that reads them. After each stage completes the driver
    // holds launches for 1.5 s; one executor is stopped in the gap after
    // stage 2. Reducers on the other two then fetch from it: the stopped
    // process's kernel accepts and never answers, so each fetch ends at its
    // deadline as a fetch failure, the executor is declared lost at the
    // heartbeat timeout and killed, and its outputs are recomputed
    // elsewhere. The executors share this host, where reducers would read
    // the stopped one's blocks from its folder: host-local reads are off so
    // that the fetches go over the network, as between hosts.
    let sql = format!(
        "{}SELECT k, count(*) AS n FROM (SELECT l_orderkey % 1000 AS k, l_suppkey \
         FROM lineitem GROUP BY l_orderkey % 1000, l_suppkey) GROUP BY k ORDER BY k",
        tpch_ddl(tpch_sf01())
    );
    let run = run_faulty(
        "stop-in-fetch",
        &sql,
        (3, 2),
        "    kiln.test.stageDelay: 1500ms\n    kiln.executor.heartbeatTimeout: 4s\n    \
         spark.shuffle.io.connectionTimeout: 2s\n    spark.sql.shuffle.partitions: \"12\"\n    \
         spark.shuffle.readHostLocalDisk: \"false\"\n",
        &KillPlan {
            after_line: "stage 2: done,".into(),
            delay: Duration::from_millis(100),
            victim: 1,
            driver: false,
        },
        "STOP",
    )
    .await;
    let stalled = run
        .stderr
        .lines()
        .filter(|l| l.contains("could not fetch output"))
        .collect::<Vec<_>>();
    assert!(
        stalled
            .iter()
            .any(|l| l.contains("spark.shuffle.io.connectionTimeout")),
        "no fetch from the stopped executor ended at its deadline:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("was declared lost; its process was killed"),
        "the stopped executor was not killed when declared lost:\n{}",
        run.stderr
    );
    let stopped = run.killed_pid.expect("stopped pid");
    assert!(
        !is_running(stopped),
        "the stopped executor {stopped} still runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_job_survives_an_executor_killed_while_48_reducers_read_from_it() {
    // 3 executors x 4 slots, 48 reducers: when one executor dies while the
    // first wave of reducers is about to fetch, every one of them reports a
    // fetch failure. That is one failed attempt of the reduce stage, not
    // one per report (which used to exceed the limit of 4 and fail the job).
    let sql = format!(
        "{}SELECT l_orderkey % 1000 AS k, count(*) AS n, sum(l_quantity) AS q \
         FROM lineitem GROUP BY l_orderkey % 1000 ORDER BY k",
        tpch_ddl(tpch_sf01())
    );
    let run = run_faulty(
        "wide-kill",
        &sql,
        (3, 4),
        "    kiln.test.taskDelay: 600ms\n    spark.sql.shuffle.partitions: \"48\"\n",
        &KillPlan {
            after_line: "stage 2: started".into(),
            delay: Duration::from_millis(300),
            victim: 2,
            driver: false,
        },
        "KILL",
    )
    .await;
    // `run_faulty` checked the result. How many reducers report a fetch
    // failure depends on whether they read before the driver learns of the
    // loss (then none do: their inputs are recomputed first); that many
    // reports make one stage attempt, not one each, is unit-tested in
    // `driver/src/stage_attempt.rs`. Here: every report, however many,
    // left the job alive.
    let reports = run.stderr.matches("could not fetch output").count();
    println!("wide-kill: {reports} fetch-failure reports");
    assert!(
        !run.stderr.contains("spark.stage.maxConsecutiveAttempts"),
        "the reduce stage ran out of attempts after {reports} reports:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_exit_when_their_driver_stops_answering() {
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(QUERY));
    let work = tempfile::tempdir().expect("tempdir");
    let conf = "  conf:\n    kiln.test.taskDelay: 500ms\n    kiln.executor.heartbeatTimeout: 3s\n";
    let manifest = write_manifest(work.path(), "stop-driver", &sql, 2, 1, conf);
    let mut driver = kiln_tests::spawn_piped(
        Command::new(kiln_bin()).arg("run").arg(&manifest),
        false,
        "spawn kiln",
    );
    let pid = driver.id();
    let stderr = driver.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let started = lines.by_ref().any(|l| l.contains("stage 1: started"));
    // Keep draining stderr so a stopped-then-killed driver never blocks on it.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(started, "the job never started");
    let executors = child_pids(pid);
    assert_eq!(executors.len(), 2, "executors {executors:?}");
    assert!(signal(pid, "STOP"), "could not stop the driver");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut alive: Vec<u32> = executors.clone();
    while !alive.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        alive.retain(|p| is_running(*p));
    }
    signal(pid, "KILL");
    let _ = driver.wait();
    for p in &alive {
        signal(*p, "KILL");
    }
    assert!(
        alive.is_empty(),
        "executors {alive:?} still run 30 s after their driver stopped answering"
    );
}

/// The application secret of the black-hole test's executor.
const HOLE_SECRET: &str = "black-hole-test-secret-0123456789";

/// A task launch carrying the application secret.
fn with_secret<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {HOLE_SECRET}")
            .parse()
            .expect("header value"),
    );
    r
}

/// A reduce task: stage 8 reads stage 7's output (one Int64 column `x`)
/// through a shuffle reader and writes it to one block.
fn reduce_plan() -> Vec<u8> {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::ExecutionPlan;
    use kiln_core::shuffle::{OutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};

    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let reader: Arc<dyn ExecutionPlan> = Arc::new(ShuffleReaderExec::new(7, schema, 1));
    let writer: Arc<dyn ExecutionPlan> = Arc::new(ShuffleWriterExec::new(
        reader,
        8,
        OutputPartitioning::Single,
    ));
    kiln_core::codec::encode_plan(writer)
        .expect("encode")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_from_a_black_holed_peer_fails_at_its_deadline_and_the_executor_goes_on() {
    use std::collections::HashMap;

    use kiln_proto::executor_service_client::ExecutorServiceClient;
    use kiln_proto::{MapOutputLocation, ShuffleInput, TaskDefinition, TaskStatus};
    use kiln_tests::proxy::BlackHole;
    use kiln_tests::stub_driver::start_executor;

    const APP: &str = "black-hole-test";
    let work = tempfile::tempdir().expect("tempdir");
    // A short fetch deadline; the connection-level keepalive (10 s ping,
    // 20 s to answer) would end the fetch too, later and without saying why.
    let conf = HashMap::from([(
        "spark.shuffle.io.connectionTimeout".to_string(),
        "2s".to_string(),
    )]);
    let (_executor, address) = start_executor(work.path(), HOLE_SECRET, APP, conf).await;
    let hole = BlackHole::start().await.expect("black hole");
    let mut exec = ExecutorServiceClient::connect(address)
        .await
        .expect("connect to the executor");
    let task = |stage_id: u32, plan: Vec<u8>, inputs: Vec<ShuffleInput>| TaskDefinition {
        application_id: APP.into(),
        job_id: 1,
        stage_id,
        partition: 0,
        attempt: 0,
        plan,
        inputs,
        ..Default::default()
    };
    let input = ShuffleInput {
        stage_id: 7,
        map_outputs: vec![MapOutputLocation {
            map_partition: 0,
            executor_id: "9".into(),
            address: hole.url(),
            block_bytes: vec![4096],
            block_rows: vec![],
            attempt: 0,
            shuffle_dir: String::new(),
        }],
    };
    let reply = exec
        .launch_task(with_secret(task(8, reduce_plan(), vec![input])))
        .await
        .expect("the task gets a reply")
        .into_inner();
    assert!(hole.connections() >= 1, "the fetch never reached the peer");
    assert_eq!(
        reply.status,
        TaskStatus::FetchFailed as i32,
        "not a fetch failure: {reply:?}"
    );
    assert_eq!(
        (reply.failed_stage_id, reply.failed_map_partition),
        (7, 0),
        "{reply:?}"
    );
    assert_eq!(reply.failed_executor_id, "9", "{reply:?}");
    assert!(
        reply.error.contains("spark.shuffle.io.connectionTimeout")
            && reply.error.contains(&hole.url()),
        "the fetch did not end at its deadline: {}",
        reply.error
    );

    // The executor is not wedged: a map task after it runs.
    let plan = kiln_tests::stub_driver::writer_plan("SELECT CAST(1 AS BIGINT) AS x", 7).await;
    let reply = exec
        .launch_task(with_secret(task(7, plan, vec![])))
        .await
        .expect("a reply")
        .into_inner();
    assert_eq!(reply.status, TaskStatus::Succeeded as i32, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_starts_with_the_executors_that_registered_and_takes_late_ones() {
    use std::os::unix::fs::PermissionsExt;

    // Of three executors, 2 never starts (its program exits at once, as a
    // pod whose image cannot be pulled never runs) and is not replaced; 3
    // starts 4 s late. After 1 s (maxRegisteredResourcesWaitingTime) the
    // job starts on executor 1 alone and executor 3 joins when it comes.
    let work = tempfile::tempdir().expect("tempdir");
    let wrapper = work.path().join("executor.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in\n  *' --executor-id 2 '*) echo 'cannot pull image kiln:missing' >&2; exit 3;;\n  *' --executor-id 3 '*) sleep 4;;\nesac\nexec '{}' \"$@\"\n",
            kiln_bin().display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sql = format!(
        "{}SELECT l_returnflag, count(*) AS n FROM lineitem GROUP BY l_returnflag ORDER BY l_returnflag",
        tpch_ddl(tpch_sf01())
    );
    let conf = "  conf:\n    kiln.executor.maxReplacements: \"0\"\n    \
                spark.scheduler.maxRegisteredResourcesWaitingTime: 1s\n    \
                kiln.test.taskDelay: 1s\n    spark.sql.shuffle.partitions: \"6\"\n";
    let manifest = write_manifest(work.path(), "late-executors", &sql, 3, 1, conf);
    let (out, summary) = kiln_tests::run_csv_with_summary(
        &manifest,
        &[("KILN_EXECUTOR_PROGRAM", wrapper.to_str().expect("utf8"))],
        Duration::from_secs(240),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed:\n{stderr}");
    assert!(
        stderr.contains("starting with 1 of 3 executors"),
        "the job did not start with the executor that registered:\n{stderr}"
    );
    assert!(
        stderr.contains("executor 2 exited") && stderr.contains("cannot pull image"),
        "executor 2's failure is not reported:\n{stderr}"
    );
    let (_, actual) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    compare_rows(&expected, &actual).unwrap_or_else(|e| panic!("wrong rows: {e}"));
    let json = kiln_tests::read_summary(&summary);
    let seen = json["executor_peak_rss_bytes"]
        .as_object()
        .expect("executors");
    assert!(
        seen.contains_key("3"),
        "the late executor 3 never joined: {json}"
    );
}
