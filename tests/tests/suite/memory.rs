//! Memory limits: with a small `spec.executor.memory`, an aggregation with
//! more groups than fit spills to the executor's disk instead of failing,
//! the summary counts the spills, and the result is right.

use std::time::Duration;

use kiln_tests::{compare_rows, datafusion_csv, parse_csv, run_kiln, tpch_sf01, write_manifest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregation_over_its_memory_limit_spills_and_is_right() {
    let sql = format!(
        "CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '{}/lineitem/';\n\
         SELECT count(*) AS groups, sum(c) AS rows FROM (SELECT l_orderkey, l_partkey, l_comment, \
         count(*) AS c FROM lineitem GROUP BY l_orderkey, l_partkey, l_comment) g;",
        tpch_sf01().display()
    );
    let work = tempfile::tempdir().expect("tempdir");
    // 600K groups with a text key need far more than 24 MiB per executor.
    let manifest = write_manifest(work.path(), "spill", &sql, 2, 1, "    memory: 24m\n");
    let summary = work.path().join("summary.json");
    let out = run_kiln(
        &[
            "run",
            manifest.to_str().expect("utf8"),
            "--format",
            "csv",
            "--summary-json",
            summary.to_str().expect("utf8"),
        ],
        Duration::from_secs(180),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    let json = kiln_tests::read_summary(&summary);
    assert!(
        json["spills"].as_u64().unwrap_or(0) > 0,
        "nothing spilled: {json}"
    );
    assert!(json["spilled_bytes"].as_u64().unwrap_or(0) > 0, "{json}");
    assert!(
        stderr.contains("spills:"),
        "spills missing from the summary: {stderr}"
    );
    let (_, actual) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    compare_rows(&expected, &actual).expect("result matches DataFusion");
}
