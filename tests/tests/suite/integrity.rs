//! Shuffle integrity end to end: a map output damaged on disk after it was
//! written (`kiln.test.corruptShuffleBlock`, a testing-only setting that
//! flips a byte in, or cuts short, one block file right after the map task
//! recorded its checksums) is caught by the reading side, reported as a
//! fetch failure, recomputed, and the job's result is still right.

use std::time::Duration;

use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, run_kiln, tpch_ddl, tpch_sf01, write_manifest,
};

const QUERY: &str = "SELECT c_mktsegment, count(*) AS orders, sum(o_totalprice) AS total \
FROM customer JOIN orders ON c_custkey = o_custkey \
GROUP BY c_mktsegment ORDER BY c_mktsegment;";

/// Runs the join with `corrupt` (if any) and returns the summary JSON and stderr.
async fn run_join(name: &str, corrupt: Option<&str>) -> (serde_json::Value, String) {
    let data = tpch_sf01();
    let sql = format!("{}{QUERY}", tpch_ddl(data));
    let work = tempfile::tempdir().expect("tempdir");
    // A hash-partitioned join on 2 executors with 1 slot each: stage 1
    // (customer) and stage 2 (orders) write blocks 0 and 1, read by two
    // reduce tasks on different executors, so of blocks 0 and 1 of one map
    // output one is read from local disk and the other over Flight.
    let manifest = write_manifest(
        work.path(),
        name,
        &sql,
        2,
        1,
        "  conf:\n    datafusion.optimizer.hash_join_single_partition_threshold: \"0\"\n    datafusion.optimizer.hash_join_single_partition_threshold_rows: \"0\"\n",
    );
    let summary = work.path().join("summary.json");
    let mut args = vec![
        "run".to_string(),
        manifest.to_str().expect("utf8").to_string(),
        "--format".into(),
        "csv".into(),
        "--summary-json".into(),
        summary.to_str().expect("utf8").to_string(),
    ];
    if let Some(spec) = corrupt {
        args.push("--conf".into());
        args.push(format!("kiln.test.corruptShuffleBlock={spec}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_kiln(&args, Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "kiln failed ({corrupt:?}): {stderr}");
    let (_, actual) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    assert_eq!(actual.len(), 5, "five market segments expected: {stderr}");
    compare_rows(&expected, &actual)
        .unwrap_or_else(|e| panic!("wrong result with {corrupt:?}: {e}"));
    let json = kiln_tests::read_summary(&summary);
    (json, stderr)
}

fn counter(json: &serde_json::Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undamaged_run_recomputes_nothing() {
    let (json, stderr) = run_join("integrity-control", None).await;
    assert_eq!(counter(&json, "recomputed"), 0, "{stderr}");
    assert_eq!(counter(&json, "retries"), 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_either_block_are_recomputed() {
    // Block 0 and block 1 of the same map output: one reduce task reads its
    // block locally, the other fetches it, so both checks are exercised.
    for block in [0, 1] {
        let spec = format!("1/0/{block}");
        let (json, stderr) = run_join(&format!("integrity-flip-{block}"), Some(&spec)).await;
        assert!(
            counter(&json, "recomputed") >= 1,
            "no map output recomputed after damaging {spec}: {json}\n{stderr}"
        );
        assert!(
            stderr.contains("could not fetch output of stage 1 map 0"),
            "the fetch failure was not reported for {spec}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_block_is_recomputed() {
    let (json, stderr) = run_join("integrity-truncate", Some("2/0/1:truncate")).await;
    assert!(
        counter(&json, "recomputed") >= 1,
        "no map output recomputed after truncating a block: {json}\n{stderr}"
    );
    assert!(
        stderr.contains("could not fetch output of stage 2 map 0"),
        "the fetch failure was not reported: {stderr}"
    );
}
