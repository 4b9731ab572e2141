//! `s3://` reads and writes against a real S3-protocol server (moto in
//! server mode, installed by `scripts/setup-python.sh`) on loopback; and
//! the same through a proxy that answers some requests with 503 Slow Down
//! and resets the connection of others, as a busy S3 endpoint does; and an
//! overwrite whose server starts refusing in the middle of the commit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{parse_csv, run_csv, run_kiln, write_manifest};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_server() -> PathBuf {
    if let Ok(p) = std::env::var("KILN_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").expect("HOME");
    let p = PathBuf::from(home).join(".cache/kiln-venv/test-moto-5.2.5/bin/moto_server");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup-python.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn start_moto() -> (Moto, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto(child);
    let start = Instant::now();
    while http(port, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, port)
}

fn create_bucket(port: u16) {
    let created = http(
        port,
        "PUT /kiln-test HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("create bucket");
    assert!(
        created.starts_with("HTTP/1.0 200") || created.starts_with("HTTP/1.1 200"),
        "{created}"
    );
}

#[test]
fn write_and_read_parquet_on_s3() {
    let (_moto, port) = start_moto();
    create_bucket(port);
    let d = tempfile::tempdir().expect("tempdir");
    let conf = format!(
        "  conf:\n    kiln.s3.endpoint: http://127.0.0.1:{port}\n    kiln.s3.region: us-east-1\n    kiln.s3.accessKeyId: testing\n    kiln.s3.secretAccessKey: testing\n"
    );
    let sql = "COPY (SELECT v AS `Id`, v * 1.5 AS amount FROM (SELECT unnest(range(1, 1001)) AS v)) \
               TO 's3://kiln-test/numbers/' STORED AS PARQUET;\n\
               CREATE EXTERNAL TABLE numbers STORED AS PARQUET LOCATION 's3://kiln-test/numbers/';\n\
               SELECT count(*) AS n, sum(amount) AS total, max(id) AS top FROM numbers;";
    let m = write_manifest(d.path(), "s3-round-trip", sql, 2, 1, &conf);
    let (header, rows, _) = run_csv(&m, &[], Duration::from_secs(120));
    assert_eq!(header, vec!["n", "total", "top"]);
    assert_eq!(rows, vec![vec!["1000", "750750.0", "1000"]]);

    // The objects are really in the bucket.
    let listing = http(
        port,
        "GET /kiln-test?list-type=2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .expect("list");
    assert!(
        listing.contains("numbers/"),
        "bucket listing lacks the written files: {listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_survive_503s_and_reset_connections() {
    use kiln_tests::proxy::{Fate, FlakyHttp};

    let (_moto, port) = start_moto();
    create_bucket(port);
    // Of every four requests: one answered 503 Slow Down, one reset
    // without an answer, two forwarded.
    let proxy = FlakyHttp::start(([127, 0, 0, 1], port).into(), |n, _| match n % 4 {
        1 => Fate::SlowDown,
        3 => Fate::Reset,
        _ => Fate::Forward,
    })
    .await
    .expect("proxy");
    let d = tempfile::tempdir().expect("tempdir");
    let conf = format!(
        "  conf:\n    kiln.s3.endpoint: {}\n    kiln.s3.region: us-east-1\n    kiln.s3.accessKeyId: testing\n    kiln.s3.secretAccessKey: testing\n",
        proxy.url()
    );
    let sql = "COPY (SELECT v AS id, v * 2 AS twice FROM (SELECT unnest(range(1, 5001)) AS v)) \
               TO 's3://kiln-test/flaky/' STORED AS PARQUET;\n\
               CREATE EXTERNAL TABLE flaky STORED AS PARQUET LOCATION 's3://kiln-test/flaky/';\n\
               SELECT count(*) AS n, sum(twice) AS total, max(id) AS top FROM flaky;";
    let m = write_manifest(d.path(), "s3-flaky", sql, 2, 1, &conf);
    let out = tokio::task::spawn_blocking(move || {
        run_kiln(
            &["run", m.to_str().expect("utf8"), "--format", "csv"],
            Duration::from_secs(240),
        )
    })
    .await
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kiln failed through the flaky proxy: {stderr}"
    );
    let (_, rows) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows, vec![vec!["5000", "25005000", "5000"]], "{stderr}");
    let counts = proxy.counts();
    let (slow, reset) = (
        counts.slow_downs.load(std::sync::atomic::Ordering::SeqCst),
        counts.resets.load(std::sync::atomic::Ordering::SeqCst),
    );
    assert!(
        slow > 0 && reset > 0,
        "the proxy injected {slow} 503s and {reset} resets"
    );
    // The committed output is whole: `_SUCCESS` and no staging left.
    let listing = http(
        port,
        "GET /kiln-test?list-type=2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .expect("list");
    assert!(listing.contains("flaky/_SUCCESS"), "{listing}");
    assert!(
        !listing.contains(".kiln-staging"),
        "staging left behind: {listing}"
    );
    println!("through the proxy: {slow} requests answered 503, {reset} connections reset");
}

/// The object keys under `prefix` in the test bucket, read from the
/// server itself (not through any proxy).
fn keys_under(port: u16, prefix: &str) -> Vec<String> {
    let listing = http(
        port,
        &format!("GET /kiln-test?list-type=2&prefix={prefix} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
    .expect("list");
    let mut keys: Vec<String> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_whose_s3_server_starts_refusing_mid_commit_keeps_the_old_data() {
    use kiln_tests::proxy::{Fate, FlakyHttp};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let (_moto, port) = start_moto();
    create_bucket(port);
    let d = tempfile::tempdir().expect("tempdir");
    let conf = |endpoint: &str| {
        format!(
            "  conf:\n    kiln.s3.endpoint: {endpoint}\n    kiln.s3.region: us-east-1\n    \
             kiln.s3.accessKeyId: testing\n    kiln.s3.secretAccessKey: testing\n    \
             kiln.s3.maxRetries: 1\n    kiln.s3.retryTimeout: 3s\n"
        )
    };
    let direct = conf(&format!("http://127.0.0.1:{port}"));
    let write = |tag: &str, rows: u32| {
        format!(
            "COPY (SELECT v AS id, '{tag}' AS tag FROM (SELECT unnest(range(1, {})) AS v)) \
             TO 's3://kiln-test/kept/' STORED AS PARQUET;\n",
            rows + 1
        )
    };
    let dir = d.path().to_path_buf();
    let run = move |name: &'static str, sql: String, conf: String| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let m = write_manifest(&dir, name, &sql, 2, 1, &conf);
            run_kiln(
                &["run", m.to_str().expect("utf8"), "--format", "csv"],
                Duration::from_secs(180),
            )
        })
    };

    // The old data, committed directly.
    let out = run("s3-old", write("old", 1000), direct.clone())
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = keys_under(port, "kept/");
    assert!(old.contains(&"kept/_SUCCESS".to_string()), "{old:?}");
    let old_data: Vec<&String> = old.iter().filter(|k| !k.ends_with("/_SUCCESS")).collect();
    assert!(!old_data.is_empty(), "no data files written: {old:?}");

    // An overwrite through a proxy that forwards everything until the
    // commit's first file move (a copy request) and refuses every request
    // after it with 503: the move's own delete of the staged file, the rest
    // of the commit and the cleanup all fail.
    let moved = Arc::new(AtomicBool::new(false));
    let seen = moved.clone();
    let proxy = FlakyHttp::start(([127, 0, 0, 1], port).into(), move |_, head| {
        if seen.load(Ordering::SeqCst) {
            return Fate::SlowDown;
        }
        if head.to_ascii_lowercase().contains("\nx-amz-copy-source:") {
            seen.store(true, Ordering::SeqCst);
        }
        Fate::Forward
    })
    .await
    .expect("proxy");
    let flaky = conf(&proxy.url());
    let out = run("s3-refused", write("new", 3000), flaky)
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the commit succeeded: {stderr}");
    assert!(
        moved.load(Ordering::SeqCst),
        "the commit never moved a file: {stderr}"
    );
    assert!(
        stderr.contains("output commit: moving"),
        "the error does not name the commit step: {stderr}"
    );
    // Every old file is still there; one new file made it in; no _SUCCESS
    // claims the mixture is an output.
    let after = keys_under(port, "kept/");
    for k in &old_data {
        assert!(after.contains(k), "old file {k} lost: {after:?}");
    }
    assert!(!after.contains(&"kept/_SUCCESS".to_string()), "{after:?}");
    assert_eq!(
        after.len(),
        old_data.len() + 1,
        "expected the old files and the one moved file: {after:?}"
    );
    drop(proxy);

    // With the server answering again, the same overwrite repairs it.
    let sql = format!(
        "{}CREATE EXTERNAL TABLE kept STORED AS PARQUET LOCATION 's3://kiln-test/kept/';\n\
         SELECT count(*) AS n, min(tag) AS lo, max(tag) AS hi FROM kept;",
        write("new", 3000)
    );
    let out = run("s3-repair", sql, direct).await.expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the repair failed: {stderr}");
    let (_, rows) = parse_csv(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows, vec![vec!["3000", "new", "new"]], "{stderr}");
    let repaired = keys_under(port, "kept/");
    assert!(repaired.contains(&"kept/_SUCCESS".to_string()));
    assert!(
        old_data.iter().all(|k| !repaired.contains(k)),
        "old files survived the repair: {repaired:?}"
    );
}

/// The event log written to an `s3://` prefix while the job runs, in
/// Spark's rolling layout, and `kiln history` replaying it from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_log_on_s3_is_replayed_by_kiln_history() {
    use crate::ui::{agrees_with_summary, get_json, split_url, Kiln};

    let (_moto, port) = start_moto();
    create_bucket(port);
    let d = tempfile::tempdir().expect("tempdir");
    let s3 = format!(
        "kiln.s3.endpoint=http://127.0.0.1:{port} kiln.s3.region=us-east-1 \
         kiln.s3.accessKeyId=testing kiln.s3.secretAccessKey=testing"
    );
    let mut conf = String::from(
        "  conf:\n    spark.ui.enabled: \"false\"\n    spark.eventLog.enabled: \"true\"\n    \
         spark.eventLog.dir: s3://kiln-test/spark-events\n",
    );
    for kv in s3.split_whitespace() {
        let (k, v) = kv.split_once('=').expect("k=v");
        conf.push_str(&format!("    {k}: {v}\n"));
    }
    let sql = format!(
        "{}{}",
        kiln_tests::tpch_ddl(kiln_tests::tpch_sf01()),
        kiln_tests::tpch_query(3)
    );
    let m = write_manifest(d.path(), "s3-event-log", &sql, 2, 1, &conf);
    let (out, summary) = kiln_tests::run_with_summary(&m, Duration::from_secs(300));
    assert!(
        out.status.success(),
        "kiln failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = kiln_tests::read_summary(&summary);

    // Spark's rolling layout, in the bucket: finished (no `.inprogress`).
    let keys = keys_under(port, "spark-events/");
    let app_id = keys
        .iter()
        .find_map(|k| k.strip_prefix("spark-events/eventlog_v2_"))
        .and_then(|k| k.split('/').next())
        .unwrap_or_else(|| panic!("no eventlog_v2_ folder in the bucket: {keys:?}"))
        .to_string();
    let dir = format!("spark-events/eventlog_v2_{app_id}");
    assert!(
        keys.contains(&format!("{dir}/appstatus_{app_id}")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{dir}/events_1_{app_id}"))),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.ends_with(".inprogress")), "{keys:?}");

    // `kiln history` over the s3:// prefix lists and replays it.
    let mut args = vec![
        "history",
        "s3://kiln-test/spark-events",
        "--bind",
        "127.0.0.1:0",
    ];
    for kv in s3.split_whitespace() {
        args.extend(["--conf", kv]);
    }
    let mut history = Kiln::start(&args);
    let url = history.wait_line("history UI: ")["history UI: ".len()..]
        .trim()
        .to_string();
    let (addr, _) = split_url(&url);
    let apps = get_json(&addr, "/api/v1/applications");
    let app = apps
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["id"] == app_id.as_str())
        .unwrap_or_else(|| panic!("kiln history does not list {app_id}: {apps}"));
    assert_eq!(app["name"], "s3-event-log", "{app}");
    assert_eq!(app["attempts"][0]["completed"], true, "{app}");
    let api = format!("/api/v1/applications/{app_id}");
    let jobs = get_json(&addr, &format!("{api}/jobs"));
    let stages = get_json(&addr, &format!("{api}/stages"));
    agrees_with_summary(&jobs, &stages, &s, "kiln history over s3://");
    history.terminate();
}
