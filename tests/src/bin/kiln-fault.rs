//! The fault script: runs a multi-stage TPC-H query many times through
//! `kiln run` (local-cluster), SIGKILLs one executor at a random moment of
//! each run, and checks every result against single-node DataFusion.
//!
//! usage: kiln-fault [TRIALS] [QUERY] [INSTANCES]     defaults: 20 21 3
//! Data: TPC-H scale factor 0.1, generated once into the test cache.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_tests::fault::{run_with_kill, KillPlan};
use kiln_tests::{
    compare_rows, datafusion_csv, parse_csv, tpch_ddl, tpch_query, tpch_sf01, write_manifest,
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

fn arg(i: usize, default: u64) -> Result<u64, String> {
    match std::env::args().nth(i) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("argument {i}: `{a}` is not a number")),
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

async fn run() -> Result<bool, String> {
    let trials = arg(1, 20)?;
    let query = arg(2, 21)? as u32;
    let instances = arg(3, 3)? as u32;
    let sql = format!("{}{}", tpch_ddl(tpch_sf01()), tpch_query(query));
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let manifest = write_manifest(work.path(), "fault", &sql, instances, 1, "");
    let summary = work.path().join("summary.json");
    let (_, expected) = parse_csv(&datafusion_csv(&sql, 2).await);

    // Clean runs measure how long the job runs after its first stage
    // starts; kills land in the first 90% of the shortest of three (the
    // first run of a fresh build is the slowest).
    let clean_plan = KillPlan {
        after_line: "stage 1: started".into(),
        delay: Duration::from_secs(3600),
        victim: 0,
        driver: false,
    };
    let mut shortest: Option<Duration> = None;
    for _ in 0..3 {
        let clean = run_with_kill(&manifest, &summary, &clean_plan, Duration::from_secs(300));
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
        "TPC-H q{query}, SF0.1, {instances} executors; job runs {window} ms after stage 1 starts (90%); {trials} trials, one SIGKILL each at a random moment"
    );
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9)
        | 1;
    let mut rng = Rng(seed);
    let (mut correct, mut killed, mut retries, mut recomputed) = (0, 0, 0, 0);
    for t in 1..=trials {
        // A run that ends before its kill moment is run again with a new
        // moment (up to 10 times), so that trials are runs with a kill.
        let mut tries = 0;
        let (run, delay) = loop {
            tries += 1;
            let delay = Duration::from_millis(rng.below(window));
            let plan = KillPlan {
                after_line: "stage 1: started".into(),
                delay,
                victim: rng.below(instances as u64) as usize,
                driver: false,
            };
            let _ = std::fs::remove_file(&summary);
            let run = run_with_kill(&manifest, &summary, &plan, Duration::from_secs(300));
            if run.killed_pid.is_some() || !run.success || tries == 10 {
                break (run, delay);
            }
        };
        let verdict = if !run.success {
            format!("FAILED: {}", run.stderr.lines().last().unwrap_or_default())
        } else {
            let (_, actual) = parse_csv(&run.stdout);
            match compare_rows(&expected, &actual) {
                Ok(()) => {
                    correct += 1;
                    "correct".to_string()
                }
                Err(e) => format!("WRONG ROWS: {e}"),
            }
        };
        let what = match run.killed_pid {
            Some(pid) => {
                killed += 1;
                format!(
                    "killed executor pid {pid} {} ms after stage 1 started",
                    delay.as_millis()
                )
            }
            None => format!("no kill (job ended before {} ms)", delay.as_millis()),
        };
        retries += run.counter("retries");
        recomputed += run.counter("recomputed");
        println!(
            "trial {t:>2}/{trials}: {what}: {verdict}; {} task retries, {} map outputs recomputed",
            run.counter("retries"),
            run.counter("recomputed")
        );
    }
    println!(
        "{correct}/{trials} correct ({killed} runs with an executor killed); {retries} task retries and {recomputed} map outputs recomputed in all"
    );
    Ok(correct == trials)
}
