//! All 22 TPC-H queries at scale factor 0.1 through `kiln run` in
//! local-cluster mode (2 executor processes) give the same rows as
//! single-node DataFusion.

use std::time::Duration;

use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, run_kiln, tpch_ddl, tpch_query, tpch_sf01,
    write_manifest,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_22_queries_match_datafusion() {
    let data = tpch_sf01();
    let ddl = tpch_ddl(data);
    let work = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for q in 1..=22 {
        let sql = format!("{ddl}{}", tpch_query(q));
        let manifest = write_manifest(work.path(), &format!("tpch-q{q}"), &sql, 2, 1, "");
        let out = run_kiln(
            &[
                "run",
                manifest.to_str().expect("utf8 path"),
                "--format",
                "csv",
            ],
            Duration::from_secs(300),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            failures.push(format!("q{q}: kiln failed: {stderr}"));
            continue;
        }
        assert!(!stderr.contains("panicked"), "q{q} panicked: {stderr}");
        let (header, actual) = parse_csv(&String::from_utf8_lossy(&out.stdout));
        let (exp_header, expected) = parse_csv(&datafusion_csv(&sql, 2).await);
        assert_eq!(header, exp_header, "q{q}: column names differ");
        assert!(!expected.is_empty(), "q{q}: DataFusion returned no rows");
        if let Err(e) = compare_rows(&expected, &actual) {
            failures.push(format!("q{q}: {e}"));
        }
        eprintln!("q{q}: {} rows match", actual.len());
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}
