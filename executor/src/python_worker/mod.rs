//! The executor's pool of Python worker processes, which run the Python
//! UDFs of its tasks (`kiln_core::python`).
//!
//! Workers start lazily, when a task's Python node first needs one, and are
//! reused by later tasks of the application; at most one idle worker per
//! task slot is kept (a task running two Python nodes at once leases two).
//! Each is `python -u -c <worker.py>`, the script embedded in the binary,
//! talking Kiln's frame protocol over its stdin and stdout; what the user's
//! code prints goes to its stderr, which is logged here line by line. A
//! worker that fails a task, or whose lease is dropped (the task was
//! cancelled), is killed; one that dies while idle is noticed at the next
//! lease and replaced.
//!
//! The interpreter: [`interpreter`].

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use kiln_core::python::protocol::{PythonError, PythonWorker, PythonWorkerPool};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tracing::{info, warn};

/// The worker script, run with `python -u -c`.
pub const WORKER_SCRIPT: &str = include_str!("worker.py");

/// Runs [`WORKER_SCRIPT`] under its own file name, so tracebacks can hide
/// the worker's frames and show the user's.
const BOOT: &str = "import sys; exec(compile(sys.argv[1], '<kiln-worker>', 'exec'))";

pub use kiln_core::python::interpreter;

#[derive(Debug)]
struct Inner {
    python: String,
    executor_id: String,
    max_idle: usize,
    idle: Mutex<Vec<Process>>,
}

/// The pool of one executor.
#[derive(Debug, Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

impl WorkerPool {
    /// A pool of `python` workers for executor `executor_id`, keeping up to
    /// `slots` idle ones.
    pub fn new(python: String, executor_id: String, slots: usize) -> Self {
        WorkerPool {
            inner: Arc::new(Inner {
                python,
                executor_id,
                max_idle: slots.max(1),
                idle: Mutex::new(vec![]),
            }),
        }
    }

    fn take_idle(&self) -> Option<Process> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut p) = idle.pop() {
            match p.child.try_wait() {
                Ok(None) => return Some(p),
                _ => info!(
                    pid = p.pid,
                    "an idle Python worker had exited; replacing it"
                ),
            }
        }
        None
    }

    fn start(&self) -> Result<Process, PythonError> {
        let inner = &self.inner;
        let mut child = Command::new(&inner.python)
            .arg("-u")
            .arg("-c")
            .arg(BOOT)
            .arg(WORKER_SCRIPT)
            .env("KILN_EXECUTOR_ID", &inner.executor_id)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                PythonError::Start(format!(
                    "cannot run `{}` (spark.pyspark.python / PYSPARK_PYTHON): {e}",
                    inner.python
                ))
            })?;
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PythonError::Start("the worker has no pipes".into()));
        };
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                info!(target: "kiln::python_worker", pid, "{line}");
            }
        });
        info!(pid, python = %inner.python, "Python worker started");
        Ok(Process {
            child,
            stdin,
            stdout,
            pid,
        })
    }
}

impl PythonWorkerPool for WorkerPool {
    fn acquire(&self) -> BoxFuture<'_, Result<Box<dyn PythonWorker>, PythonError>> {
        Box::pin(async move {
            let process = match self.take_idle() {
                Some(p) => p,
                None => self.start()?,
            };
            Ok(Box::new(Lease {
                process,
                pool: Arc::downgrade(&self.inner),
            }) as Box<dyn PythonWorker>)
        })
    }
}

#[derive(Debug)]
struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    pid: u32,
}

/// A worker leased to one task's Python node; dropped unreleased, its
/// process is killed (`kill_on_drop`).
struct Lease {
    process: Process,
    pool: Weak<Inner>,
}

impl PythonWorker for Lease {
    fn io(
        &mut self,
    ) -> (
        &mut (dyn AsyncRead + Send + Unpin),
        &mut (dyn AsyncWrite + Send + Unpin),
    ) {
        (&mut self.process.stdout, &mut self.process.stdin)
    }

    fn rss_bytes(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.process.pid)).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    fn lost(&mut self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let pid = self.process.pid;
            match tokio::time::timeout(Duration::from_secs(2), self.process.child.wait()).await {
                Ok(Ok(status)) => format!("pid {pid}: {status}"),
                Ok(Err(e)) => format!("pid {pid}: {e}"),
                Err(_) => format!("pid {pid} stopped answering"),
            }
        })
    }

    fn release(self: Box<Self>) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < pool.max_idle {
            idle.push(self.process);
        } else {
            warn!(
                pid = self.process.pid,
                "more Python workers than task slots; stopping one"
            );
        }
    }
}
