//! `s3://` reads and writes against a real S3-protocol server (moto in
//! server mode, installed by `scripts/setup-python.sh`) on loopback; and
//! the same through a proxy that answers some requests with 503 Slow Down
//! and resets the connection of others, as a busy S3 endpoint does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{parse_csv, run_kiln, write_manifest};

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
    let out = run_kiln(
        &["run", m.to_str().expect("utf8"), "--format", "csv"],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    let (header, rows) = parse_csv(&String::from_utf8_lossy(&out.stdout));
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
    let proxy = FlakyHttp::start(([127, 0, 0, 1], port).into(), |n| match n % 4 {
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
