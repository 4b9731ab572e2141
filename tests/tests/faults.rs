//! Executor loss: an executor process is SIGKILLed while a multi-stage
//! TPC-H query (scale factor 0.1) runs, and the job still gives DataFusion's
//! rows, by retrying the lost tasks and recomputing only the lost map
//! outputs that are still needed. The `kiln.test.*` delays widen the window
//! the kill aims at; the recovery path is the real one.

use std::time::Duration;

use kiln_tests::fault::{run_with_kill, FaultRun, KillPlan};
use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, tpch_ddl, tpch_query, tpch_sf01, write_manifest,
};

/// q21: ten stages (scans, hash joins with semi and anti joins, aggregation).
const QUERY: u32 = 21;

async fn run_case(name: &str, instances: u32, conf: &str, plan: KillPlan) -> FaultRun {
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(QUERY));
    let work = tempfile::tempdir().expect("tempdir");
    let extra = format!("  conf:\n{conf}");
    let manifest = write_manifest(work.path(), name, &sql, instances, 1, &extra);
    let summary = work.path().join("summary.json");
    let run = run_with_kill(&manifest, &summary, &plan, Duration::from_secs(240));
    assert!(run.success, "{name}: kiln failed:\n{}", run.stderr);
    assert!(
        run.killed_pid.is_some(),
        "{name}: no executor was killed (the job ended first?):\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    let (_, actual) = parse_csv(&run.stdout);
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
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
