//! Standalone deploy mode with real processes: a `kiln master` and two
//! `kiln worker`s (2 cores each), each "host" on its own loopback address
//! (master 127.0.0.10, workers 127.0.0.2 and 127.0.0.3, drivers 127.0.0.1),
//! and `kiln run --master kiln://...` drivers. Rows are checked against
//! single-node DataFusion, allocation against the master's `/json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{
    compare_rows, datafusion_csv, kiln_bin, parse_csv, run_kiln, tpch_ddl, tpch_query, tpch_sf01,
    write_manifest,
};

const MASTER_IP: &str = "127.0.0.10";
const WORKER_IPS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const SECRET: &str = "standalone-test-cluster-secret";

/// A free port on `ip` (bound, then released for the process to take).
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A process the test started, killed when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(args: &[String], log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(kiln_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn kiln");
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A master and two workers.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    web_port: u16,
    master: Proc,
    workers: Vec<Proc>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, web_port) = (free_port(MASTER_IP), free_port(MASTER_IP));
        let master = Self::start_master(dir.path(), port, web_port, "master.log");
        let mut c = Cluster {
            dir,
            port,
            web_port,
            master,
            workers: vec![],
        };
        for (i, ip) in WORKER_IPS.iter().enumerate() {
            let args: Vec<String> = [
                "worker",
                &c.url(),
                "--host",
                ip,
                "--cores",
                "2",
                "--memory",
                "4g",
                "--work-dir",
                &c.dir
                    .path()
                    .join(format!("worker{i}"))
                    .display()
                    .to_string(),
                "--conf",
                &format!("spark.authenticate.secret={SECRET}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            c.workers.push(Proc::start(
                &args,
                c.dir.path().join(format!("worker{i}.log")),
            ));
        }
        c.wait_for(|m| m["aliveworkers"] == 2, "both workers alive");
        c
    }

    fn start_master(dir: &Path, port: u16, web_port: u16, log: &str) -> Proc {
        let args: Vec<String> = [
            "master",
            "--host",
            MASTER_IP,
            "--port",
            &port.to_string(),
            "--webui-port",
            &web_port.to_string(),
            "--conf",
            &format!("spark.authenticate.secret={SECRET}"),
            "--conf",
            "spark.deploy.recoveryMode=FILESYSTEM",
            "--conf",
            &format!(
                "spark.deploy.recoveryDirectory={}",
                dir.join("recovery").display()
            ),
            "--conf",
            "spark.worker.timeout=3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Proc::start(&args, dir.join(log))
    }

    fn url(&self) -> String {
        format!("kiln://{MASTER_IP}:{}", self.port)
    }

    /// The master's `/json`, or `None` while it does not answer.
    fn json(&self) -> Option<serde_json::Value> {
        let mut s = TcpStream::connect((MASTER_IP, self.web_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET /json HTTP/1.1\r\nHost: {MASTER_IP}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let body = text.split_once("\r\n\r\n")?.1;
        serde_json::from_str(body).ok()
    }

    /// Polls `/json` until `ok` holds (60 s at most).
    fn wait_for(&self, ok: impl Fn(&serde_json::Value) -> bool, what: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(m) = self.json() {
                if ok(&m) {
                    return m;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "master never showed {what}; last /json: {:?}\nmaster log:\n{}",
                self.json(),
                self.master.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kiln run` of `manifest` against this cluster, in the background.
    fn submit(&self, manifest: &Path, conf: &[&str]) -> Proc {
        let mut args: Vec<String> = vec![
            "run".into(),
            manifest.display().to_string(),
            "--master".into(),
            self.url(),
            "--format".into(),
            "csv".into(),
            "--conf".into(),
            "spark.driver.host=127.0.0.1".into(),
            "--conf".into(),
            format!("spark.authenticate.secret={SECRET}"),
        ];
        for c in conf {
            args.push("--conf".into());
            args.push(c.to_string());
        }
        let name = manifest
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("app");
        let log = self.dir.path().join(format!("{name}.out"));
        // Rows on stdout, progress on stderr: separate files.
        let out = std::fs::File::create(&log).expect("out");
        let err = std::fs::File::create(log.with_extension("err")).expect("err");
        let child = Command::new(kiln_bin())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn kiln run");
        Proc { child, log }
    }
}

/// Waits for a submitted run; returns (success, stdout, stderr).
fn finish(mut p: Proc, limit: Duration) -> (bool, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = p.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < limit,
            "kiln run did not finish within {limit:?}: {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = std::fs::read_to_string(p.log.with_extension("err")).unwrap_or_default();
    (status.success(), p.log(), err)
}

/// The application in `/json` whose name is `name`, active or completed.
fn app<'a>(m: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    ["activeapps", "completedapps"]
        .iter()
        .flat_map(|k| m[*k].as_array().into_iter().flatten())
        .find(|a| a["name"] == name)
}

fn active(m: &serde_json::Value, name: &str) -> Option<serde_json::Value> {
    m["activeapps"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
}

async fn check_rows(sql: &str, stdout: &str, what: &str) {
    let (header, actual) = parse_csv(stdout);
    let (exp_header, expected) = parse_csv(&datafusion_csv(sql, 2).await);
    assert_eq!(header, exp_header, "{what}: column names differ");
    assert!(!expected.is_empty(), "{what}: DataFusion returned no rows");
    compare_rows(&expected, &actual).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Must-shows 1 to 3 on one cluster: a TPC-H query with executors on both
/// workers; two applications at once under `spark.cores.max`; the master
/// SIGKILLed and restarted mid-job; a worker SIGKILLed mid-job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_cluster_runs_jobs_through_faults() {
    let mut cluster = Cluster::start();
    let work = tempfile::tempdir().expect("tempdir");
    let ddl = tpch_ddl(tpch_sf01());
    let q3 = format!("{ddl}{}", tpch_query(3));
    let q5 = format!("{ddl}{}", tpch_query(5));

    // 1. Two applications at once: `capped` may use 2 cores (of 4) though
    // it asks for 4 executors; `other` gets the rest.
    let capped = write_manifest(work.path(), "capped", &q3, 4, 1, "");
    let other = write_manifest(work.path(), "other", &q5, 2, 1, "");
    let slow = "kiln.test.taskDelay=200ms";
    let a = cluster.submit(&capped, &["spark.cores.max=2", slow]);
    let b = cluster.submit(&other, &[slow]);
    let both = cluster.wait_for(
        |m| {
            active(m, "capped").is_some_and(|a| a["cores"] == 2)
                && active(m, "other").is_some_and(|a| a["cores"] == 2)
        },
        "both applications running with 2 cores each",
    );
    let capped_json = active(&both, "capped").expect("capped");
    assert_eq!(capped_json["coresmax"], 2);
    let hosts: std::collections::BTreeSet<String> = capped_json["executors"]
        .as_array()
        .expect("executors")
        .iter()
        .map(|e| e["worker"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        hosts.len(),
        2,
        "executors of one application spread over both workers: {capped_json}"
    );
    let mut max_capped = 0;
    let (ok_a, out_a, err_a) = {
        // Watch the cap while both run.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(300) {
            let Some(m) = cluster.json() else { break };
            match active(&m, "capped") {
                Some(a) => max_capped = max_capped.max(a["cores"].as_u64().unwrap_or(0)),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        finish(a, Duration::from_secs(300))
    };
    assert!(ok_a, "capped failed: {err_a}");
    assert_eq!(max_capped, 2, "spark.cores.max=2 held");
    let (ok_b, out_b, err_b) = finish(b, Duration::from_secs(300));
    assert!(ok_b, "other failed: {err_b}");
    check_rows(&q3, &out_a, "q3 (capped)").await;
    check_rows(&q5, &out_b, "q5 (other)").await;
    let m = cluster.wait_for(
        |m| m["activeapps"].as_array().is_some_and(|a| a.is_empty()),
        "both finished",
    );
    for name in ["capped", "other"] {
        assert_eq!(app(&m, name).expect("listed")["state"], "FINISHED");
    }
    for w in &m["workers"].as_array().expect("workers").clone() {
        assert_eq!(w["coresused"], 0, "executors released: {w}");
    }

    // 3. The master SIGKILLed and restarted mid-job (FILESYSTEM recovery).
    let restart = write_manifest(work.path(), "restart", &q3, 2, 1, "");
    let job = cluster.submit(&restart, &["kiln.test.taskDelay=300ms"]);
    cluster.wait_for(
        |m| active(m, "restart").is_some_and(|a| a["cores"] == 2),
        "restart running",
    );
    cluster.master.kill();
    std::thread::sleep(Duration::from_secs(1));
    cluster.master = Cluster::start_master(
        cluster.dir.path(),
        cluster.port,
        cluster.web_port,
        "master2.log",
    );
    let m = cluster.wait_for(
        |m| m["aliveworkers"] == 2,
        "both workers back after the restart",
    );
    assert!(
        app(&m, "restart").is_some(),
        "the restarted master lists the application: {m}"
    );
    let (ok, out, err) = finish(job, Duration::from_secs(300));
    assert!(ok, "job across a master restart failed: {err}");
    check_rows(&q3, &out, "q3 across a master restart").await;
    assert!(
        cluster.master.log().contains("recovered"),
        "{}",
        cluster.master.log()
    );

    // 2. A worker SIGKILLed mid-job.
    let victim = write_manifest(work.path(), "victim", &q5, 2, 1, "");
    let job = cluster.submit(
        &victim,
        &[
            "kiln.test.taskDelay=300ms",
            "kiln.executor.heartbeatTimeout=3s",
        ],
    );
    cluster.wait_for(
        |m| {
            active(m, "victim").is_some_and(|a| {
                a["executors"].as_array().is_some_and(|e| {
                    e.iter().any(|x| {
                        x["worker"]
                            .as_str()
                            .is_some_and(|w| w.contains(WORKER_IPS[1]))
                    })
                })
            })
        },
        "victim with an executor on the second worker",
    );
    cluster.workers[1].kill();
    let m = cluster.wait_for(
        |m| {
            m["workers"].as_array().is_some_and(|ws| {
                ws.iter()
                    .any(|w| w["host"] == WORKER_IPS[1] && w["state"] == "DEAD")
            })
        },
        "the killed worker DEAD",
    );
    assert!(
        active(&m, "victim").is_some(),
        "the worker died while the job ran: {m}"
    );
    let (ok, out, err) = finish(job, Duration::from_secs(300));
    assert!(ok, "job across a worker's death failed: {err}");
    check_rows(&q5, &out, "q5 across a worker's death").await;
    assert!(
        err.contains("exited"),
        "the driver heard of the lost executors: {err}"
    );
}

/// Must-show 4: a wrong secret refused with a clear message (worker and
/// application), executors larger than any worker refused at once, a
/// master that is not there named, a driver address the workers cannot
/// reach named (after the executors' 30 s registration attempts); and a
/// driver that dies releases its executors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_refuses_clearly() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().expect("tempdir");
    let url = cluster.url();
    let out: Output = run_kiln(
        &[
            "worker",
            &url,
            "--host",
            "127.0.0.4",
            "--cores",
            "1",
            "--conf",
            "spark.authenticate.secret=not-the-cluster-secret",
        ],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a worker with the wrong secret was accepted"
    );
    assert!(err.contains("wrong cluster secret"), "{err}");

    let manifest = write_manifest(work.path(), "small", "SELECT 1 AS x", 1, 1, "");
    let m = manifest.display().to_string();
    let out = run_kiln(
        &[
            "run",
            &m,
            "--master",
            &url,
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            "spark.authenticate.secret=not-the-cluster-secret",
        ],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("wrong cluster secret"), "{err}");

    let big = write_manifest(work.path(), "big", "SELECT 1 AS x", 1, 16, "");
    let out = run_kiln(
        &[
            "run",
            &big.display().to_string(),
            "--master",
            &url,
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            &format!("spark.authenticate.secret={SECRET}"),
        ],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("16 cores") && err.contains("has 2 cores"),
        "{err}"
    );
    // Refused by the master at registration, not after a wait.
    assert!(err.contains("the largest"), "{err}");

    let out = run_kiln(
        &[
            "run",
            &m,
            "--master",
            &format!("kiln://{MASTER_IP}:{}", free_port(MASTER_IP)),
            "--conf",
            "spark.driver.host=127.0.0.1",
        ],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the master"), "{err}");

    // A driver address the workers cannot reach (nothing listens on
    // 127.0.0.99: the driver binds 127.0.0.1): said, with the setting.
    let out = run_kiln(
        &[
            "run",
            &m,
            "--master",
            &url,
            "--conf",
            "spark.driver.host=127.0.0.99",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            "--conf",
            &format!("spark.authenticate.secret={SECRET}"),
        ],
        Duration::from_secs(120),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot reach the driver at http://127.0.0.99:")
            && err.contains("spark.driver.host"),
        "{err}"
    );

    // The right secret works.
    let out = run_kiln(
        &[
            "run",
            &m,
            "--master",
            &url,
            "--format",
            "csv",
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            &format!("spark.authenticate.secret={SECRET}"),
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_rows(
        "SELECT 1 AS x",
        &String::from_utf8_lossy(&out.stdout),
        "SELECT 1",
    )
    .await;
    drop(cluster);
}

/// `kiln run job.py --master kiln://...`: an unchanged PySpark program gets
/// its executors from the master (the master lists the application) and
/// prints the right counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pyspark_job_runs_on_the_standalone_cluster() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().expect("tempdir");
    let job = work.path().join("counts.py");
    std::fs::write(
        &job,
        "from pyspark.sql import SparkSession, functions as F\n\
         spark = SparkSession.builder.getOrCreate()\n\
         df = spark.range(0, 10000, 1, 4).groupBy((F.col('id') % 7).alias('k')).count()\n\
         for r in df.orderBy('k').collect():\n    print(f\"{r['k']},{r['count']}\")\n",
    )
    .expect("job.py");
    let python = kiln_tests::pyspark_python("client");
    let out = Command::new(kiln_bin())
        .arg("run")
        .arg(&job)
        .args(["--master", &cluster.url(), "--python"])
        .arg(&python)
        .args(["--conf", "spark.driver.host=127.0.0.1", "--conf"])
        .arg(format!("spark.authenticate.secret={SECRET}"))
        .stdin(Stdio::null())
        .output()
        .expect("kiln run job.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln run job.py failed: {stderr}");
    // 10 000 ids: residues 0..=3 occur 1429 times, 4..=6 1428 times.
    let expected: Vec<String> = (0..7)
        .map(|k| format!("{k},{}", if k < 4 { 1429 } else { 1428 }))
        .collect();
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got, expected, "{stderr}");
    cluster.wait_for(
        |m| m["completedapps"].as_array().is_some_and(|a| a.len() == 1),
        "the PySpark application among the completed ones",
    );
}
