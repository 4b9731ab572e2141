//! The application secret and the limits on what comes over the wire, on
//! real `kiln driver` and `kiln executor` processes:
//!
//! - a raw gRPC client without the secret (or with a wrong one) is refused
//!   by the driver (`RegisterExecutor`) and by an executor (`LaunchTask`)
//!   with `Unauthenticated`; a Flight client without it is refused by the
//!   executor's shuffle service;
//! - with the secret, garbage plan bytes and an oversized task get error
//!   replies, and the executor then still runs a valid task and serves its
//!   block.
//!
//! For the executor tests this test plays the driver
//! (`kiln_tests::stub_driver`), so it can call the executor directly.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::Ticket;
use kiln_core::shuffle::block::BlockDecoder;
use kiln_proto::driver_service_client::DriverServiceClient;
use kiln_proto::executor_service_client::ExecutorServiceClient;
use kiln_proto::{
    HeartbeatRequest, RegisterExecutorRequest, ShutdownRequest, TaskDefinition, TaskStatus,
};
use kiln_tests::stub_driver::{start_executor, writer_plan, Proc};
use kiln_tests::{kiln_bin, write_manifest};
use tonic::{Code, Request, Status};

const SECRET: &str = "integration-test-secret-0123456789";
const WRONG: &str = "some-other-application-secret-42";
const APP: &str = "security-test";

fn with_secret<T>(msg: T, secret: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {secret}").parse().expect("header value"),
    );
    r
}

fn assert_unauthenticated<T: std::fmt::Debug>(r: Result<T, Status>, what: &str) {
    match r {
        Err(s) => assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s}"),
        Ok(v) => panic!("{what}: accepted without the right secret: {v:?}"),
    }
}

/// Starts `kiln driver` on `manifest` with the test secret; returns the
/// process and the URL it prints.
fn start_driver(manifest: &std::path::Path) -> (Proc, String) {
    let mut child = kiln_tests::spawn_piped(
        Command::new(kiln_bin())
            .arg("driver")
            .arg(manifest)
            .args(["--bind", "127.0.0.1:0"])
            .env("KILN_AUTH_SECRET", SECRET),
        false,
        "start kiln driver",
    );
    let stderr = child.stderr.take().expect("stderr");
    let proc = Proc(child);
    let mut lines = BufReader::new(stderr).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("driver listening on ").map(str::to_string))
        .expect("driver prints its address");
    // Keep reading what the driver prints next (its UI address, logs): a
    // closed pipe would fail its writes.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (proc, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_refuses_executors_without_the_secret() {
    let work = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(work.path(), APP, "SELECT 1;", 1, 1, "");
    let (_driver, url) = start_driver(&manifest);
    let mut client = DriverServiceClient::connect(url.clone())
        .await
        .expect("connect to the driver");
    let register = RegisterExecutorRequest {
        executor_id: "intruder".into(),
        address: "http://127.0.0.1:1".into(),
        cores: 1,
        memory_bytes: 0,
        application_id: APP.into(),
        metrics_url: String::new(),
    };
    assert_unauthenticated(
        client.register_executor(register.clone()).await,
        "Register without a secret",
    );
    assert_unauthenticated(
        client
            .register_executor(with_secret(register.clone(), WRONG))
            .await,
        "Register with a wrong secret",
    );
    assert_unauthenticated(
        client
            .heartbeat(HeartbeatRequest {
                executor_id: "intruder".into(),
                ..Default::default()
            })
            .await,
        "Heartbeat without a secret",
    );
    // With the secret the same channel gets through (the executor is
    // unknown, so the driver says so).
    let hb = client
        .heartbeat(with_secret(
            HeartbeatRequest {
                executor_id: "nobody".into(),
                ..Default::default()
            },
            SECRET,
        ))
        .await
        .expect("heartbeat with the secret is served");
    assert!(!hb.into_inner().known);
}

/// A real stage plan: `SELECT 1 AS x` ending in a shuffle writer of stage 7.
async fn valid_plan() -> Vec<u8> {
    writer_plan("SELECT 1 AS x", 7).await
}

fn task(plan: Vec<u8>) -> TaskDefinition {
    TaskDefinition {
        application_id: APP.into(),
        job_id: 1,
        stage_id: 7,
        partition: 0,
        attempt: 0,
        plan,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_serves_only_callers_with_the_secret_and_survives_bad_tasks() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_executor, address) = start_executor(work.path(), SECRET, APP, HashMap::new()).await;
    let mut exec = ExecutorServiceClient::connect(address.clone())
        .await
        .expect("connect to the executor")
        .max_encoding_message_size(usize::MAX);
    let mut flight = FlightServiceClient::new(
        tonic::transport::Endpoint::from_shared(address.clone())
            .expect("executor address")
            .connect()
            .await
            .expect("connect to the shuffle service"),
    );
    let plan = valid_plan().await;

    // No secret, or someone else's: refused before anything runs.
    assert_unauthenticated(
        exec.launch_task(task(plan.clone())).await,
        "LaunchTask without a secret",
    );
    assert_unauthenticated(
        exec.launch_task(with_secret(task(plan.clone()), WRONG))
            .await,
        "LaunchTask with a wrong secret",
    );
    assert_unauthenticated(
        exec.shutdown(ShutdownRequest {}).await,
        "Shutdown without a secret",
    );
    assert_unauthenticated(
        flight.do_get(Ticket::new("7/0/0/0")).await,
        "Flight DoGet without a secret",
    );
    assert_unauthenticated(
        flight
            .do_get(with_secret(Ticket::new("7/0/0/0"), WRONG))
            .await,
        "Flight DoGet with a wrong secret",
    );

    // Garbage plan bytes: an error reply naming the problem, not a crash.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = exec
        .launch_task(with_secret(task(garbage), SECRET))
        .await
        .expect("a malformed task gets a reply")
        .into_inner();
    assert_eq!(r.status, TaskStatus::UserError as i32, "{r:?}");
    assert!(
        r.error.contains("cannot decode the stage plan"),
        "{}",
        r.error
    );

    // A task over the message size cap (64 MiB by default) is refused.
    let huge = task(vec![0u8; 65 * 1024 * 1024]);
    let refused = exec
        .launch_task(with_secret(huge, SECRET))
        .await
        .expect_err("an oversized task is refused");
    assert_ne!(refused.code(), Code::Ok);

    // The executor still works: a valid task runs and its block is served
    // to a caller with the secret.
    let r = exec
        .launch_task(with_secret(task(plan), SECRET))
        .await
        .expect("a valid task after bad ones")
        .into_inner();
    assert_eq!(r.status, TaskStatus::Succeeded as i32, "{r:?}");
    let bytes = r.block_bytes.first().copied().expect("one block");
    assert!(bytes > 0);
    let mut stream = flight
        .do_get(with_secret(Ticket::new("7/0/0/0"), SECRET))
        .await
        .expect("the block is served with the secret")
        .into_inner();
    let mut decoder = BlockDecoder::new(bytes);
    let mut rows = 0;
    while let Some(fd) = stream.message().await.expect("flight data") {
        decoder
            .push(&fd.data_body)
            .expect("block passes its checks");
        while let Some(b) = decoder.next_batch() {
            rows += b.num_rows();
        }
    }
    decoder.finish().expect("whole block");
    assert_eq!(rows, 1);
    let missing = flight
        .do_get(with_secret(Ticket::new("7/9/0/0"), SECRET))
        .await
        .expect_err("no such block");
    assert_eq!(missing.code(), Code::NotFound);

    exec.shutdown(with_secret(ShutdownRequest {}, SECRET))
        .await
        .expect("shutdown with the secret");
}

#[test]
fn executor_without_a_secret_does_not_start() {
    let out = Command::new(kiln_bin())
        .args(["executor", "--driver", "http://127.0.0.1:1"])
        .env_remove("KILN_AUTH_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("run kiln executor");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KILN_AUTH_SECRET"), "{stderr}");
}

/// A CA and a certificate it signed for 127.0.0.1, made with `openssl`.
fn tls_files(dir: &std::path::Path) -> (String, String, String) {
    let p = |f: &str| dir.join(f).to_str().expect("utf8").to_string();
    let openssl = |args: &[&str]| {
        kiln_tests::run_ok(
            Command::new("openssl").args(args),
            &format!("openssl (a test prerequisite) {args:?}"),
        );
    };
    let subj_ca = "/CN=kiln-test-ca";
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        subj_ca,
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=kiln",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("leaf.csr"),
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("cert.pem"),
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_driver_refuses_plaintext_and_a_tls_job_is_right() {
    let work = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = tls_files(work.path());
    let tls_conf = [
        "kiln.ssl.enabled=true".to_string(),
        format!("kiln.ssl.certFile={cert}"),
        format!("kiln.ssl.keyFile={key}"),
        format!("kiln.ssl.caFile={ca}"),
    ];

    // A whole job over TLS: driver, two executors, shuffle fetched over Flight.
    let data = kiln_tests::tpch_sf01();
    let sql = format!(
        "{}SELECT c_mktsegment, count(*) AS n FROM customer JOIN orders ON c_custkey = o_custkey GROUP BY c_mktsegment ORDER BY c_mktsegment;",
        kiln_tests::tpch_ddl(data)
    );
    // Host-local reads off: the executors share this host, and the blocks
    // are to go over Flight.
    let manifest = write_manifest(
        work.path(),
        "tls-job",
        &sql,
        2,
        1,
        "  conf:\n    datafusion.optimizer.hash_join_single_partition_threshold: \"0\"\n    datafusion.optimizer.hash_join_single_partition_threshold_rows: \"0\"\n    spark.shuffle.readHostLocalDisk: \"false\"\n",
    );
    let summary = work.path().join("summary.json");
    let mut args = vec![
        "run".to_string(),
        manifest.to_str().expect("utf8").into(),
        "--format".into(),
        "csv".into(),
        "--summary-json".into(),
        summary.to_str().expect("utf8").into(),
    ];
    for kv in &tls_conf {
        args.push("--conf".into());
        args.push(kv.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kiln_tests::run_kiln(&args, Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln over TLS failed: {stderr}");
    let (_, actual) = kiln_tests::parse_csv(&String::from_utf8_lossy(&out.stdout));
    let (_, expected) = kiln_tests::parse_csv(&kiln_tests::datafusion_csv(&sql, 2).await);
    kiln_tests::compare_rows(&expected, &actual).expect("result over TLS matches DataFusion");
    let json = kiln_tests::read_summary(&summary);
    assert!(
        json["shuffle_remote_bytes"].as_u64().unwrap_or(0) > 0,
        "{json}"
    );

    // A driver serving TLS: plaintext gets nowhere, TLS with the secret does.
    let m = write_manifest(work.path(), "tls-driver", "SELECT 1;", 1, 1, "");
    // `kiln driver` reads its settings from the manifest; pass TLS there.
    let text = std::fs::read_to_string(&m).expect("manifest");
    let conf: String = tls_conf
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("kv");
            format!("    {k}: \"{v}\"\n")
        })
        .collect();
    std::fs::write(
        &m,
        text.replace("  sql: |", &format!("  conf:\n{conf}  sql: |")),
    )
    .expect("manifest");
    let (_driver, url) = start_driver(&m);
    assert!(url.starts_with("https://"), "{url}");
    let plain = url.replacen("https://", "http://", 1);
    let heartbeat = || {
        with_secret(
            HeartbeatRequest {
                executor_id: "nobody".into(),
                ..Default::default()
            },
            SECRET,
        )
    };
    let refused = match DriverServiceClient::connect(plain).await {
        Err(_) => true,
        Ok(mut c) => c.heartbeat(heartbeat()).await.is_err(),
    };
    assert!(refused, "a plaintext call to a TLS driver went through");
    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("url")
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(std::fs::read(&ca).expect("ca")),
        ))
        .expect("tls config")
        .connect()
        .await
        .expect("TLS connect");
    let mut client = DriverServiceClient::new(channel);
    assert_unauthenticated(
        client.heartbeat(HeartbeatRequest::default()).await,
        "TLS heartbeat without the secret",
    );
    let hb = client
        .heartbeat(heartbeat())
        .await
        .expect("TLS heartbeat with the secret");
    assert!(!hb.into_inner().known);
}
