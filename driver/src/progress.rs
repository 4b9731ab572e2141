//! Progress a person watches while a job runs: one bar per running stage on a
//! terminal, plain lines elsewhere. Everything goes to stderr.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports stage progress.
#[derive(Debug)]
pub struct Progress {
    bars: Option<MultiProgress>,
    running: Mutex<HashMap<u32, StageBar>>,
    /// Stages of the jobs planned so far, and those finished (for the
    /// `done/total` a driver in a pod reports into its application's status).
    planned: AtomicU64,
    finished: AtomicU64,
    /// Tasks running or ready to run (what dynamic allocation sizes for).
    task_demand: AtomicU64,
}

#[derive(Debug)]
struct StageBar {
    bar: Option<ProgressBar>,
    rows: u64,
    bytes: u64,
}

impl Progress {
    /// Bars when `terminal`, else plain lines.
    pub fn new(terminal: bool) -> Self {
        Progress {
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            running: Mutex::new(HashMap::new()),
            planned: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            task_demand: AtomicU64::new(0),
        }
    }

    /// A job of `stages` stages was planned.
    pub fn stages_planned(&self, stages: usize) {
        self.planned.fetch_add(stages as u64, Ordering::Relaxed);
    }

    /// Records how many tasks are running or waiting for a slot.
    pub fn set_task_demand(&self, tasks: u64) {
        self.task_demand.store(tasks, Ordering::Relaxed);
    }

    /// Tasks running or waiting for a slot, as last recorded.
    pub fn task_demand(&self) -> u64 {
        self.task_demand.load(Ordering::Relaxed)
    }

    /// Stages finished and stages planned so far.
    pub fn stage_counts(&self) -> (u64, u64) {
        let planned = self.planned.load(Ordering::Relaxed);
        let finished = self.finished.load(Ordering::Relaxed);
        // A stage recomputed after a lost executor finishes twice.
        (finished.min(planned), planned)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, StageBar>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints a line above the bars.
    pub fn line(&self, msg: &str) {
        match &self.bars {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }

    /// A stage's first task was launched.
    pub fn stage_started(&self, stage: u32, tasks: usize) {
        let bar = self.bars.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(tasks as u64));
            b.set_style(
                ProgressStyle::with_template(
                    "stage {prefix:>3} [{bar:30}] {pos}/{len} tasks {msg} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(stage.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        if bar.is_none() {
            eprintln!("stage {stage}: started, {tasks} tasks");
        }
        self.lock().insert(
            stage,
            StageBar {
                bar,
                rows: 0,
                bytes: 0,
            },
        );
    }

    /// A task of `stage` finished.
    pub fn task_finished(&self, stage: u32, rows: u64, bytes: u64) {
        let mut running = self.lock();
        if let Some(s) = running.get_mut(&stage) {
            s.rows += rows;
            s.bytes += bytes;
            if let Some(b) = &s.bar {
                b.inc(1);
                b.set_message(format!(
                    "{} rows, {}",
                    human_count(s.rows),
                    human_bytes(s.bytes)
                ));
            }
        }
    }

    /// Every task of `stage` finished.
    pub fn stage_finished(&self, stage: u32, tasks: usize, elapsed: Duration) {
        let s = self.lock().remove(&stage);
        if s.is_some() {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(s) = s {
            let text = format!(
                "stage {stage}: done, {tasks} tasks, {} rows, {} written, {:.2}s",
                human_count(s.rows),
                human_bytes(s.bytes),
                elapsed.as_secs_f64()
            );
            match s.bar {
                Some(b) => {
                    b.finish_and_clear();
                    self.line(&text);
                }
                None => eprintln!("{text}"),
            }
        }
    }

    /// Removes every bar (job ended, maybe failed).
    pub fn clear(&self) {
        for (_, s) in self.lock().drain() {
            if let Some(b) = s.bar {
                b.finish_and_clear();
            }
        }
    }
}

/// `1234567` -> `1.23M`.
pub use kiln_values::count::human_count;

/// `1536` -> `1.5 KiB` (one formatter for the summary, the UI and the logs).
pub use kiln_values::memory::human_bytes;
