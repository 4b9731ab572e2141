//! Fault injection for `kiln run`: SIGKILLs (or SIGSTOPs) one executor
//! process of a running application, or the driver, or does whatever else
//! the caller asks (cut an executor off behind a proxy), at a moment chosen
//! by the caller, and collects what happened.
//!
//! Executors are the child processes of the `kiln run` process (local-cluster
//! mode), found through `/proc`. The moment is either a delay after a line
//! of the job's progress output (e.g. `stage 1: started`), so tests can aim
//! at a phase, or a random delay for the many-trial fault script.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::kiln_bin;

/// When to kill, and which executor.
#[derive(Debug, Clone)]
pub struct KillPlan {
    /// Start the clock when a progress line contains this text.
    pub after_line: String,
    /// Then wait this long.
    pub delay: Duration,
    /// Which executor: the `n`-th live child process (sorted by pid), modulo
    /// their number.
    pub victim: usize,
    /// Kill the driver (the `kiln run` process itself) instead.
    pub driver: bool,
}

/// What one faulty run did.
#[derive(Debug)]
pub struct FaultRun {
    /// `kiln run` exited successfully.
    pub success: bool,
    /// Its stdout (the result rows).
    pub stdout: String,
    /// Its stderr (progress, summary, errors).
    pub stderr: String,
    /// The executor process killed, if the moment came before the job ended.
    pub killed_pid: Option<u32>,
    /// The `--summary-json` document, if written.
    pub summary: Option<serde_json::Value>,
    /// From the trigger line to the end of the run, if the line came.
    pub after_trigger: Option<Duration>,
    /// The executor processes alive when the kill happened.
    pub executors_at_kill: Vec<u32>,
}

/// Whether a process still runs (a zombie waiting for its reaper does not).
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

impl FaultRun {
    /// A summary counter (`retries`, `recomputed`, ...), 0 when absent.
    pub fn counter(&self, key: &str) -> u64 {
        self.summary
            .as_ref()
            .and_then(|s| s[key].as_u64())
            .unwrap_or(0)
    }
}

/// Live child processes of `pid`, sorted.
pub fn child_pids(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn sigkill(pid: u32) -> bool {
    signal(pid, "KILL")
}

/// Sends `kill -<name>` to `pid`.
pub fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `kiln run MANIFEST --format csv --summary-json SUMMARY` and kills one
/// executor per `plan`; gives up (killing everything) after `limit`.
pub fn run_with_kill(
    manifest: &Path,
    summary: &Path,
    plan: &KillPlan,
    limit: Duration,
) -> FaultRun {
    run_with_signal(manifest, summary, plan, "KILL", limit)
}

/// [`run_with_kill`] sending `signal` (`KILL`, `STOP`, ...) instead.
pub fn run_with_signal(
    manifest: &Path,
    summary: &Path,
    plan: &KillPlan,
    signal_name: &str,
    limit: Duration,
) -> FaultRun {
    let victim = plan.victim;
    let driver = plan.driver;
    let mut fault = |kiln: u32, executors: &[u32]| {
        let target = if driver {
            Some(kiln)
        } else {
            executors.get(victim % executors.len().max(1)).copied()
        };
        target.filter(|pid| signal(*pid, signal_name))
    };
    run_with_fault(manifest, summary, plan, &mut fault, &[], limit)
}

/// The executor id a `kiln executor` process was started with.
pub fn executor_id_of(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let at = args.iter().position(|a| a == "--executor-id")?;
    args.get(at + 1).cloned()
}

/// Runs `kiln run MANIFEST --format csv --summary-json SUMMARY` with `env`
/// added, and calls `fault(kiln pid, executor pids)` at the moment `plan`
/// sets (its `victim` and `driver` are for the caller); `fault` returns the
/// process it hit, if any. Gives up (killing everything) after `limit`.
pub fn run_with_fault(
    manifest: &Path,
    summary: &Path,
    plan: &KillPlan,
    fault: &mut dyn FnMut(u32, &[u32]) -> Option<u32>,
    env: &[(String, String)],
    limit: Duration,
) -> FaultRun {
    let mut child = crate::spawn_piped(
        Command::new(kiln_bin())
            .arg("run")
            .arg(manifest)
            .args(["--format", "csv", "--summary-json"])
            .arg(summary)
            .envs(env.iter().map(|(k, v)| (k, v))),
        true,
        "spawn kiln",
    );
    let pid = child.id();
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel::<String>();
    let stderr_pipe = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let start = Instant::now();
    let mut kill_at: Option<Instant> = None;
    let mut triggered: Option<Instant> = None;
    let mut executors_at_kill = Vec::new();
    let mut killed_pid = None;
    let status = loop {
        while let Ok(line) = rx.try_recv() {
            if triggered.is_none() && line.contains(&plan.after_line) {
                triggered = Some(Instant::now());
                kill_at = Some(Instant::now() + plan.delay);
            }
        }
        if let Some(at) = kill_at {
            if Instant::now() >= at {
                kill_at = None;
                let kids = child_pids(pid);
                killed_pid = fault(pid, &kids);
                executors_at_kill = kids;
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > limit {
            for kid in child_pids(pid) {
                sigkill(kid);
            }
            if let Some(v) = killed_pid {
                sigkill(v);
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = err.join().unwrap_or_default();
    let stdout = out.join().unwrap_or_default();
    let summary = std::fs::read_to_string(summary)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    FaultRun {
        success: status.is_some_and(|s| s.success()),
        stdout,
        stderr: if status.is_none() {
            format!("{stderr}\n(killed after {limit:?}: the job hung)")
        } else {
            stderr
        },
        killed_pid,
        summary,
        after_trigger: triggered.map(|t| t.elapsed()),
        executors_at_kill,
    }
}
