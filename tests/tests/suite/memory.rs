//! Memory limits: with a small `spec.executor.memory`, an aggregation with
//! more groups than fit spills to the executor's disk instead of failing,
//! the summary counts the spills, and the result is right. On the driver, a
//! large result goes to stdout through a spool that spills to disk, so the
//! driver's memory does not grow with it, and a result over
//! `spark.driver.maxResultSize` fails with an error that names the setting,
//! before any row is printed.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, run_csv_with_summary, tpch_sf01, write_manifest,
};

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
    let (out, summary) = run_csv_with_summary(&manifest, &[], Duration::from_secs(180));
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

/// Runs `kiln run MANIFEST --format csv --summary-json SUMMARY`, counting
/// the bytes and lines of stdout without keeping them; returns (success,
/// stdout bytes, stdout lines, stderr).
fn run_counting(manifest: &std::path::Path, summary: &std::path::Path) -> (bool, u64, u64, String) {
    let mut child = kiln_tests::spawn_piped(
        Command::new(kiln_tests::kiln_bin())
            .arg("run")
            .arg(manifest)
            .args(["--format", "csv", "--summary-json"])
            .arg(summary),
        true,
        "spawn kiln",
    );
    let mut err = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = child.stdout.take().expect("stdout");
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).expect("read stdout");
        if n == 0 {
            break;
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    let status = child.wait().expect("wait");
    (
        status.success(),
        bytes,
        lines,
        err.join().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_streams_through_the_driver_and_one_over_the_limit_fails() {
    // Every lineitem row with 400 bytes of padding: about 300 MB of CSV.
    let ddl = format!(
        "CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '{}/lineitem/';\n",
        tpch_sf01().display()
    );
    let query = "SELECT l.*, repeat('x', 400) AS pad FROM lineitem l;";
    let (_, counted) =
        parse_csv(&datafusion_csv(&format!("{ddl}SELECT count(*) FROM lineitem;"), 2).await);
    let rows: u64 = counted[0][0].parse().expect("count");
    let work = tempfile::tempdir().expect("tempdir");
    let summary = work.path().join("summary.json");
    let driver_peak = || {
        kiln_tests::read_summary(&summary)["driver_peak_rss_bytes"]
            .as_u64()
            .expect("driver peak RSS")
    };

    // The driver's own footprint, with a one-row result.
    let small = format!("{ddl}SELECT count(*) AS n FROM lineitem;");
    let manifest = write_manifest(work.path(), "one-row", &small, 2, 1, "");
    let (ok, _, _, stderr) = run_counting(&manifest, &summary);
    assert!(ok, "kiln failed: {stderr}");
    let base = driver_peak();

    let manifest = write_manifest(
        work.path(),
        "big-result",
        &format!("{ddl}{query}"),
        2,
        1,
        "",
    );
    let (ok, bytes, lines, stderr) = run_counting(&manifest, &summary);
    assert!(ok, "kiln failed: {stderr}");
    assert_eq!(lines, rows + 1, "rows printed (plus the header)");
    let peak = driver_peak();
    println!(
        "{bytes} bytes of CSV; driver peak RSS {} MiB (one-row result: {} MiB)",
        peak >> 20,
        base >> 20
    );
    // Gathering the rows would take at least their size again.
    assert!(
        peak < base + bytes / 4,
        "the driver's memory grew with the result: peak RSS {peak} (one-row result: {base}) for {bytes} bytes printed"
    );

    // The same result over a 64 MiB limit: a clear error, nothing printed,
    // and the driver never gathered it.
    let conf = "  conf:\n    spark.driver.maxResultSize: 64m\n";
    let manifest = write_manifest(work.path(), "too-big", &format!("{ddl}{query}"), 2, 1, conf);
    let (ok, printed, _, stderr) = run_counting(&manifest, &summary);
    assert!(!ok, "a result over the limit succeeded");
    assert!(
        stderr.contains("spark.driver.maxResultSize (64.0 MiB)") && stderr.contains("Total size"),
        "the error does not name the limit: {stderr}"
    );
    assert_eq!(printed, 0, "rows were printed before the failure");
    let peak = driver_peak();
    assert!(
        peak < base + bytes / 4,
        "the driver gathered the result it refused: peak RSS {peak} (one-row result: {base})"
    );
}
