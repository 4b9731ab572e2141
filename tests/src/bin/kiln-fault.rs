//! The fault script: runs a multi-stage TPC-H query many times through
//! `kiln run` (local-cluster) with one fault per run at a random moment,
//! and checks every run against single-node DataFusion.
//!
//! The faults rotate over three kinds, each aimed at a random executor:
//! - `kill`: SIGKILL (the process is gone);
//! - `stop`: SIGSTOP (the process hangs, holding its connections; its
//!   heartbeats stop);
//! - `black-hole`: every executor is reached through a relay on loopback
//!   (`kiln executor --advertise-port`), and the victim's relay is cut: the
//!   driver's and its peers' connections to it are accepted and never
//!   answered, while it keeps running and sending heartbeats.
//!
//! Runs alternate between printing the result (checked row by row; a failed
//! run must print nothing) and writing it with `COPY` (a successful run
//! must have committed `_SUCCESS` and the right rows, a failed one must
//! leave no file in the target: no partial output). A run that does not end
//! within the limit is killed and counted as hung.
//!
//! usage: kiln-fault [TRIALS] [SCALE] [INSTANCES] [QUERY] [LIMIT_SECONDS]
//!        defaults: 30 0.1 3 21 300
//! `KILN_BIN` picks the `kiln` binary (e.g. a release build).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use kiln_tests::fault::{executor_id_of, run_with_fault, signal, FaultRun, KillPlan};
use kiln_tests::proxy::Relay;
use kiln_tests::{
    compare_rows, datafusion_csv, kiln_bin, parse_csv, tpch_data, tpch_ddl, tpch_query,
    write_manifest, Rows,
};

/// A small xorshift generator: the trials need spread, not cryptography.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> Result<T, String> {
    match std::env::args().nth(i) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("argument {i}: `{a}` is not valid")),
        None => Ok(default),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Stop,
    BlackHole,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::BlackHole => "black-hole",
        }
    }
}

/// Settings of every trial: faults are found within seconds, not the
/// defaults' half minute (heartbeat timeout 30 s, fetch deadline 120 s).
const CONF: &str = "  conf:\n    kiln.executor.heartbeatTimeout: 10s\n    \
                    spark.shuffle.io.connectionTimeout: 15s\n";

/// One relay per executor id a run may start (the first ones and their
/// replacements), and the wrapper script that starts each executor behind
/// its relay.
struct Relays {
    by_id: HashMap<String, Relay>,
    script: PathBuf,
}

impl Relays {
    async fn start(dir: &Path, ids: usize) -> Result<Relays, String> {
        let mut by_id = HashMap::new();
        let mut cases = String::new();
        for id in 1..=ids {
            let upstream = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?;
            let relay = Relay::start(upstream).await.map_err(|e| e.to_string())?;
            cases.push_str(&format!(
                "  *' --executor-id {id} '*) set -- \"$@\" --bind {upstream} --advertise-port {};;\n",
                relay.port()
            ));
            by_id.insert(id.to_string(), relay);
        }
        let script = dir.join("executor-behind-relay.sh");
        let text = format!(
            "#!/bin/sh\ncase \" $* \" in\n{cases}esac\nexec '{}' \"$@\"\n",
            kiln_bin().display()
        );
        std::fs::write(&script, text).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        Ok(Relays { by_id, script })
    }
}

/// What a trial checks its output against.
struct Expected {
    rows: Rows,
}

/// The rows of the Parquet files a COPY committed into `dir`.
async fn committed_rows(dir: &Path) -> Result<Rows, String> {
    let ctx = SessionContext::new();
    let df = ctx
        .read_parquet(format!("{}/", dir.display()), ParquetReadOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let batches = df.collect().await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        for b in &batches {
            w.write(b).map_err(|e| e.to_string())?;
        }
    }
    Ok(parse_csv(&String::from_utf8_lossy(&buf)).1)
}

/// Data files (anything but markers and staging) under `dir`.
fn data_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().to_string());
                    !name.is_some_and(|n| n.starts_with('_') || n.starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Judges one run: the verdict, and whether it was correct.
async fn judge(run: &FaultRun, copy_to: Option<&Path>, expected: &Expected) -> (String, bool) {
    let hung = run.stderr.contains("the job hung");
    match (run.success, copy_to) {
        (false, None) if !run.stdout.trim().is_empty() => {
            ("PARTIAL OUTPUT: a failed run printed rows".into(), false)
        }
        (false, Some(dir)) if !data_files(dir).is_empty() || dir.join("_SUCCESS").exists() => (
            format!(
                "PARTIAL OUTPUT: a failed run left files in {}",
                dir.display()
            ),
            false,
        ),
        (false, _) if hung => ("HUNG (killed at the limit)".into(), false),
        (false, _) => (
            format!(
                "FAILED cleanly: {}",
                run.stderr
                    .lines()
                    .rfind(|l| l.starts_with("error"))
                    .unwrap_or_default()
            ),
            false,
        ),
        (true, None) => {
            let (_, actual) = parse_csv(&run.stdout);
            match compare_rows(&expected.rows, &actual) {
                Ok(()) => ("correct".into(), true),
                Err(e) => (format!("WRONG ROWS: {e}"), false),
            }
        }
        (true, Some(dir)) => {
            if !dir.join("_SUCCESS").exists() {
                return ("WRONG: no _SUCCESS after a successful COPY".into(), false);
            }
            match committed_rows(dir).await {
                Ok(actual) => match compare_rows(&expected.rows, &actual) {
                    Ok(()) => ("correct (committed)".into(), true),
                    Err(e) => (format!("WRONG ROWS committed: {e}"), false),
                },
                Err(e) => (format!("WRONG: cannot read the output: {e}"), false),
            }
        }
    }
}

async fn run() -> Result<bool, String> {
    let trials: u64 = arg(1, 30)?;
    let scale: String = arg(2, "0.1".to_string())?;
    let instances: u32 = arg(3, 3)?;
    let query: u32 = arg(4, 21)?;
    let limit = Duration::from_secs(arg(5, 300)?);
    let data = tpch_data(&scale);
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let summary = work.path().join("summary.json");
    let ddl = tpch_ddl(&data);
    let query_sql = tpch_query(query);
    let query_sql = query_sql.trim().trim_end_matches(';');
    let sql = format!("{ddl}{query_sql};");
    let print_manifest = write_manifest(work.path(), "fault", &sql, instances, 1, CONF);
    eprintln!("computing the expected rows with DataFusion...");
    let expected = Expected {
        rows: parse_csv(&datafusion_csv(&sql, 2).await).1,
    };
    if expected.rows.is_empty() {
        return Err("the query has no rows to check".into());
    }

    // Clean runs measure how long the job runs after its first stage
    // starts; faults land in the first 90% of the shortest of three.
    let clean_plan = KillPlan {
        after_line: "stage 1: started".into(),
        delay: Duration::from_secs(3600),
        victim: 0,
        driver: false,
    };
    let mut shortest: Option<Duration> = None;
    for _ in 0..3 {
        let clean = run_with_fault(
            &print_manifest,
            &summary,
            &clean_plan,
            &mut |_, _| None,
            &[],
            limit,
        );
        if !clean.success {
            return Err(format!("the clean run failed:\n{}", clean.stderr));
        }
        let took = clean
            .after_trigger
            .ok_or("the clean run never started stage 1")?;
        shortest = Some(shortest.map_or(took, |s| s.min(took)));
    }
    let window = shortest
        .map(|d| d.as_millis() as u64 * 9 / 10)
        .ok_or("no clean run")?;
    println!(
        "TPC-H q{query}, SF{scale}, {instances} executors x 1 core; the job runs {window} ms after stage 1 \
         starts (90%); {trials} trials, one fault each (kill, stop, black-hole in turn) at a random moment, \
         results printed and written by COPY in turn; limit {} s per run",
        limit.as_secs()
    );
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9)
        | 1;
    let mut rng = Rng(seed);
    let mut tally: HashMap<&str, u64> = HashMap::new();
    let (mut correct, mut slowest) = (0u64, Duration::ZERO);
    for t in 1..=trials {
        let fault = [Fault::Kill, Fault::Stop, Fault::BlackHole][(t as usize - 1) % 3];
        let copy = t % 2 == 0;
        let trial_dir = work.path().join(format!("trial-{t}"));
        std::fs::create_dir_all(&trial_dir).map_err(|e| e.to_string())?;
        let out_dir = trial_dir.join("out");
        let manifest = if copy {
            let copy_sql = format!(
                "{ddl}COPY ({query_sql}) TO '{}/' STORED AS PARQUET;",
                out_dir.display()
            );
            write_manifest(&trial_dir, "fault-copy", &copy_sql, instances, 1, CONF)
        } else {
            print_manifest.clone()
        };
        // Relays for the executors a run may start: the first ones and up
        // to twice as many replacements (kiln's default limit).
        let relays = match fault {
            Fault::BlackHole => Some(Arc::new(
                Relays::start(&trial_dir, (instances as usize) * 3 + 3).await?,
            )),
            _ => None,
        };
        let env: Vec<(String, String)> = relays
            .iter()
            .map(|r| {
                (
                    "KILN_EXECUTOR_PROGRAM".to_string(),
                    r.script.display().to_string(),
                )
            })
            .collect();
        // A run that ends before its fault moment is run again with a new
        // moment (up to 10 times), so that trials are runs with a fault.
        let mut tries = 0;
        let (run, delay, took) = loop {
            tries += 1;
            let delay = Duration::from_millis(rng.below(window));
            let victim = rng.below(instances as u64) as usize;
            let plan = KillPlan {
                after_line: "stage 1: started".into(),
                delay,
                victim,
                driver: false,
            };
            let _ = std::fs::remove_file(&summary);
            let _ = std::fs::remove_dir_all(&out_dir);
            let relays = relays.clone();
            let (manifest, summary, env) = (manifest.clone(), summary.clone(), env.clone());
            let started = Instant::now();
            let run = tokio::task::spawn_blocking(move || {
                let mut hit = |_: u32, executors: &[u32]| -> Option<u32> {
                    let pid = *executors.get(victim % executors.len().max(1))?;
                    match fault {
                        Fault::Kill => signal(pid, "KILL").then_some(pid),
                        Fault::Stop => signal(pid, "STOP").then_some(pid),
                        Fault::BlackHole => {
                            let id = executor_id_of(pid)?;
                            relays.as_ref()?.by_id.get(&id)?.cut();
                            Some(pid)
                        }
                    }
                };
                run_with_fault(&manifest, &summary, &plan, &mut hit, &env, limit)
            })
            .await
            .map_err(|e| e.to_string())?;
            let took = started.elapsed();
            if run.killed_pid.is_some() || !run.success || tries == 10 {
                break (run, delay, took);
            }
        };
        slowest = slowest.max(took);
        let (verdict, ok) = judge(&run, copy.then_some(out_dir.as_path()), &expected).await;
        let key = match verdict.split(':').next().unwrap_or_default() {
            v if v.starts_with("correct") => "correct",
            v if v.starts_with("PARTIAL") => "partial output",
            v if v.starts_with("HUNG") => "hung",
            v if v.starts_with("FAILED") => "failed cleanly",
            _ => "wrong",
        };
        *tally.entry(key).or_default() += 1;
        if ok {
            correct += 1;
        }
        let what = match run.killed_pid {
            Some(pid) => format!(
                "{} executor pid {pid} {} ms after stage 1 started",
                fault.name(),
                delay.as_millis()
            ),
            None => format!("no fault (job ended before {} ms)", delay.as_millis()),
        };
        println!(
            "trial {t:>2}/{trials} [{}]: {what}: {verdict}; {:.1} s; {} task retries, {} map outputs recomputed",
            if copy { "COPY" } else { "print" },
            took.as_secs_f64(),
            run.counter("retries"),
            run.counter("recomputed")
        );
    }
    let mut kinds: Vec<_> = tally.into_iter().collect();
    kinds.sort();
    println!(
        "{correct}/{trials} correct; {}; slowest run {:.1} s (limit {} s)",
        kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        slowest.as_secs_f64(),
        limit.as_secs()
    );
    Ok(correct == trials)
}
