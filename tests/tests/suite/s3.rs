//! `s3://` reads and writes against a real S3-protocol server (moto in
//! server mode, installed by `scripts/setup-python.sh`) on loopback.

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

#[test]
fn write_and_read_parquet_on_s3() {
    let (_moto, port) = start_moto();
    let created = http(
        port,
        "PUT /kiln-test HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("create bucket");
    assert!(
        created.starts_with("HTTP/1.0 200") || created.starts_with("HTTP/1.1 200"),
        "{created}"
    );

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
