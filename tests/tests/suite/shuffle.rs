//! Shuffle is real: a join plus aggregation on 2 executor processes moves
//! blocks between them over Flight, and the result is right.

use std::time::Duration;

use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, run_csv, run_csv_with_summary, run_kiln, tpch_ddl,
    tpch_sf01, write_manifest,
};

const QUERY: &str = "SELECT c_mktsegment, count(*) AS orders, sum(o_totalprice) AS total \
FROM customer JOIN orders ON c_custkey = o_custkey \
GROUP BY c_mktsegment ORDER BY c_mktsegment;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_aggregation_fetch_blocks_remotely() {
    let data = tpch_sf01();
    let sql = format!("{}{QUERY}", tpch_ddl(data));
    let work = tempfile::tempdir().expect("tempdir");
    // Force a hash-partitioned join so both sides are shuffled; the two
    // executors share this host, so host-local reads are off to make them
    // fetch each other's blocks over Flight.
    let manifest = write_manifest(
        work.path(),
        "shuffle-join",
        &sql,
        2,
        1,
        "  conf:\n    datafusion.optimizer.hash_join_single_partition_threshold: \"0\"\n    datafusion.optimizer.hash_join_single_partition_threshold_rows: \"0\"\n    spark.shuffle.readHostLocalDisk: \"false\"\n",
    );
    let (out, summary) = run_csv_with_summary(&manifest, &[], Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    let json = kiln_tests::read_summary(&summary);
    let remote = json["shuffle_remote_bytes"].as_u64().expect("remote bytes");
    let local = json["shuffle_local_bytes"].as_u64().expect("local bytes");
    let stages = json["stages"].as_u64().expect("stages");
    assert!(remote > 0, "no shuffle bytes fetched remotely: {json}");
    assert!(local > 0, "no shuffle bytes read locally: {json}");
    assert!(
        stages >= 3,
        "expected a multi-stage job, got {stages} stages"
    );
    let (_, actual) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    assert_eq!(actual.len(), 5, "five market segments expected");
    compare_rows(&expected, &actual).expect("result matches DataFusion");
    assert!(
        stderr.contains("summary:"),
        "summary missing from stderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_runs_the_same_job_in_one_process() {
    let data = tpch_sf01();
    let sql = format!("{}{QUERY}", tpch_ddl(data));
    let work = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(work.path(), "local-mode", &sql, 2, 1, "");
    let (_, actual, _) = run_csv(
        &manifest,
        &["--master", "local[2]"],
        Duration::from_secs(180),
    );
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    compare_rows(&expected, &actual).expect("result matches DataFusion");
}

#[test]
fn shuffle_blocks_are_removed_when_their_job_ends() {
    let data = tpch_sf01();
    // Two jobs: each one's blocks go once it ends, so an application of
    // many statements does not fill the executors' disks.
    let sql = format!("{}{QUERY}\n{QUERY}", tpch_ddl(data));
    let work = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(work.path(), "shuffle-cleanup", &sql, 2, 1, "");
    let out = run_kiln(
        &[
            "run",
            manifest.to_str().expect("utf8"),
            "--format",
            "csv",
            "--keep-work-dir",
        ],
        Duration::from_secs(180),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    let kept = stderr
        .lines()
        .find_map(|l| l.split("work directory kept: ").nth(1))
        .expect("work dir path on stderr")
        .trim()
        .to_string();
    let kept = std::path::PathBuf::from(kept);
    let mut executors = 0;
    for e in std::fs::read_dir(&kept).expect("work dir").flatten() {
        let shuffle = e.path().join("shuffle");
        if !shuffle.is_dir() {
            continue;
        }
        executors += 1;
        let left: Vec<_> = std::fs::read_dir(&shuffle)
            .expect("shuffle dir")
            .flatten()
            .map(|s| s.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "blocks left in {}: {left:?}",
            shuffle.display()
        );
    }
    let _ = std::fs::remove_dir_all(&kept);
    assert_eq!(executors, 2, "expected two executors' shuffle folders");
    assert!(stderr.contains("shuffle:"), "{stderr}");
}

/// A window over `PARTITION BY k` where a filter makes `k` a constant: the
/// plan sorts without `k`, which holds only while the shuffle reader says
/// `k` is constant (executors rebuilding the plan refused it before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_over_a_filtered_constant_partition_key() {
    let data = tpch_sf01();
    let sql = format!(
        "{}SELECT l_orderkey, l_linenumber, sum(l_quantity) OVER (PARTITION BY l_returnflag \
         ORDER BY l_orderkey DESC, l_linenumber ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS s \
         FROM lineitem WHERE l_returnflag = 'R' AND l_orderkey < 2000 ORDER BY l_orderkey, l_linenumber",
        tpch_ddl(data)
    );
    let work = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(work.path(), "window-constant", &sql, 2, 1, "");
    let (_, actual, _) = run_csv(&manifest, &[], Duration::from_secs(180));
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
    assert!(!expected.is_empty());
    compare_rows(&expected, &actual).expect("result matches DataFusion");
}
