//! PySpark programs against Kiln and against Spark itself: a `kiln connect`
//! server on a free port (two executor processes, its own temporary folder
//! so its work directory and executor logs can be inspected), the pinned
//! PySpark client and classic PySpark (the oracle) running scripts of
//! `tests/pyspark/`, and the comparison of their outputs section by
//! section (`## title` lines start a section).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{kiln_bin, pyspark_python, repo_root, wait_output};

/// The pinned PySpark client's Python.
pub fn client_python() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| pyspark_python("client"))
}

/// Classic PySpark's Python (Spark in a local JVM: the oracle).
pub fn oracle_python() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| pyspark_python("oracle"))
}

/// A script of `tests/pyspark/`.
pub fn script(name: &str) -> PathBuf {
    repo_root().join("tests/pyspark").join(name)
}

/// The script's output on Spark (classic PySpark, `local[2]`), run with
/// `args` in `dir`; it must succeed.
pub fn on_spark(script: &Path, args: &[&str], dir: &Path) -> String {
    let child = crate::spawn_piped(
        Command::new(oracle_python())
            .arg(script)
            .args(args)
            .env_remove("SPARK_REMOTE")
            // Spark's Python workers run the oracle's interpreter (pandas, pyarrow).
            .env("PYSPARK_PYTHON", oracle_python())
            .env("PYSPARK_SUBMIT_ARGS", "--master local[2] pyspark-shell")
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            // Spark's managed tables go to `spark-warehouse` here.
            .current_dir(dir),
        true,
        "run the Spark oracle",
    );
    let out = wait_output(child, "the Spark oracle", Duration::from_secs(600));
    assert!(
        out.status.success(),
        "{} failed on Spark:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the script with the PySpark client against `url`.
pub fn spawn_client(script: &Path, args: &[&str], url: &str, dir: &Path) -> Child {
    crate::spawn_piped(
        Command::new(client_python())
            .arg(script)
            .args(args)
            .env("SPARK_REMOTE", url)
            .current_dir(dir),
        true,
        "run the PySpark client",
    )
}

/// Runs the script with the PySpark client against `url`; it must succeed.
pub fn on_client(script: &Path, args: &[&str], url: &str, dir: &Path) -> String {
    let child = spawn_client(script, args, url, dir);
    let out = wait_output(child, "the PySpark client", Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed on Kiln:\nstdout:\n{stdout}\nstderr:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A finished client process's outcome.
pub fn client_output(child: Child, limit: Duration) -> Output {
    wait_output(child, "the PySpark client", limit)
}

/// The `## title` sections of a script's output, each with its text.
pub fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("## ") {
            out.push((t.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Fails unless every section Spark printed is printed the same by Kiln,
/// in the same order. Sections whose title starts with `kiln:` are Kiln's
/// own (checked by the caller) and skipped.
pub fn assert_same_sections(spark: &str, kiln: &str) {
    let s = sections(spark);
    let k: Vec<_> = sections(kiln)
        .into_iter()
        .filter(|(t, _)| !t.starts_with("kiln:"))
        .collect();
    assert!(!s.is_empty(), "the script printed no sections on Spark");
    let mut mismatches = vec![];
    for (i, (title, expected)) in s.iter().enumerate() {
        match k.get(i) {
            Some((t, actual)) if t == title && actual == expected => {}
            Some((t, actual)) => mismatches.push(format!(
                "section `{title}`:\n--- Spark\n{expected}--- Kiln (`{t}`)\n{actual}"
            )),
            None => mismatches.push(format!("section `{title}`: missing on Kiln")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} sections differ from Spark:\n\n{}",
        mismatches.len(),
        s.len(),
        mismatches.join("\n")
    );
}

/// The text of section `title` of a script's output.
pub fn section(text: &str, title: &str) -> Option<String> {
    sections(text)
        .into_iter()
        .find(|(t, _)| t == title)
        .map(|(_, body)| body)
}

/// A `kiln connect` server with two executor processes, on a free port.
pub struct ConnectServer {
    child: Option<Child>,
    url: String,
    /// The server's temporary folder (`TMPDIR`): its work directory, with
    /// the executors' logs, is made in it.
    pub tmp: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

impl ConnectServer {
    /// Starts `kiln connect` with `conf` settings (`KEY=VALUE`), logging
    /// Connect, driver and executor events (the tests read them).
    pub fn start(conf: &[&str]) -> ConnectServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(kiln_bin());
        cmd.args(["connect", "--port", "0", "--executors", "2"]);
        for c in conf {
            cmd.args(["--conf", c]);
        }
        cmd.env("TMPDIR", tmp.path()).env(
            "RUST_LOG",
            "warn,kiln_connect=info,kiln_driver::job=info,kiln_executor=info",
        );
        let mut child = crate::spawn_piped(&mut cmd, false, "spawn kiln connect");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kiln connect did not start:\n{}",
                    stderr.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };
        ConnectServer {
            child: Some(child),
            url,
            tmp,
            stderr,
        }
    }

    /// The `sc://` URL the server serves on.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The server's work directories (one per application).
    pub fn work_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("kiln-"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each executor's log so far, by executor id.
    pub fn executor_logs(&self) -> Vec<(String, String)> {
        let mut logs = vec![];
        for dir in self.work_dirs() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(id) = name
                    .strip_prefix("executor-")
                    .and_then(|n| n.strip_suffix(".log"))
                {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    logs.push((id.to_string(), text));
                }
            }
        }
        logs.sort();
        logs
    }

    /// Waits (up to `limit`) until some executor's log has a line that
    /// contains `text`; whether one did.
    pub fn wait_executor_log(&self, text: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .executor_logs()
                .iter()
                .any(|(_, log)| log.contains(text))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends SIGTERM and waits (up to `limit`) for the server to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        crate::fault::signal(child.id(), "TERM");
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        if self.child.is_some() && self.terminate(Duration::from_secs(30)).is_none() {
            eprintln!("kiln connect did not stop on SIGTERM; killed");
        }
    }
}
