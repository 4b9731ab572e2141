//! A `kiln connect` server for a test: started on a free loopback port with
//! executor processes, its `sc://` URL read from what it prints, and stopped
//! with SIGTERM when dropped (so it stops its executors and removes its work
//! folders), SIGKILL only if it does not stop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::fault::{is_running, signal};
use crate::kiln_bin;

/// A running `kiln connect`.
pub struct ConnectServer {
    child: Child,
    /// The `sc://host:port` URL it serves.
    pub url: String,
    stderr: mpsc::Receiver<String>,
}

impl ConnectServer {
    /// Starts `kiln connect --port 0` with `args` (e.g. `--executors 2`)
    /// and waits until it listens.
    pub fn start(args: &[&str]) -> ConnectServer {
        let mut child = crate::spawn_piped(
            Command::new(kiln_bin())
                .args(["connect", "--port", "0"])
                .args(args),
            false,
            "spawn kiln connect",
        );
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        // Keep draining stderr for the server's life, or it blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        let mut seen = Vec::new();
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => {
                    if let Some(i) = line.find("sc://") {
                        break line[i..].trim().to_string();
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    panic!("kiln connect exited before listening:\n{}", seen.join("\n"));
                }
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kiln connect did not listen within 120s:\n{}",
                    seen.join("\n")
                );
            }
        };
        ConnectServer {
            child,
            url,
            stderr: rx,
        }
    }

    /// The server's stderr lines printed since the last call.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        let pid = self.child.id();
        signal(pid, "TERM");
        let start = Instant::now();
        while is_running(pid) && start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
