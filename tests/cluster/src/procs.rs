//! Process ownership for a test cluster.
//!
//! Every process the harness starts runs in its own process group, carries
//! `KILN_TESTCLUSTER_ID=<id>` in its environment (inherited by pods and their
//! children, which the node passes through), and gets `PR_SET_PDEATHSIG`
//! SIGKILL. Teardown SIGTERMs the node (so it stops its pods), SIGKILLs the
//! groups, then sweeps `/proc` for anything still tagged with the id. An
//! `atexit` hook runs the same sweep for clusters never dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Clusters started by this process and not yet stopped: (id, folder).
static LIVE: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(String, PathBuf)>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn register_cluster(id: &str, dir: &Path) {
    live().push((id.to_string(), dir.to_path_buf()));
}

fn unregister_cluster(id: &str) {
    live().retain(|x| x.0 != id);
}

extern "C" fn at_exit() {
    let clusters = live().clone();
    if clusters.is_empty() {
        return;
    }
    // The node first, so it stops and reaps its pods' processes.
    for pid in node_pids().iter() {
        // SAFETY: kill(2)/waitpid(2) on our own child process.
        unsafe {
            libc::kill(*pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in node_pids().iter() {
        while Instant::now() < deadline {
            let mut status = 0;
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for (id, dir) in clusters {
        kill_tagged(&id);
        if std::env::var_os("KILN_KEEP_TESTCLUSTER").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // Reap our killed children so they do not linger as zombies under init.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let mut status = 0;
        // SAFETY: waitpid(2) on any child, non-blocking.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r < 0 {
            break; // no children left
        }
        if r == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Pids of running process nodes, for the exit hook.
static NODES: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn node_pids() -> std::sync::MutexGuard<'static, Vec<i32>> {
    NODES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the process-exit sweep once.
pub fn install_exit_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

/// Pids of live processes whose environment has `KILN_TESTCLUSTER_ID=<id>`.
pub fn tagged(id: &str) -> Vec<i32> {
    let needle = format!("KILN_TESTCLUSTER_ID={id}");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        // Zombies have an empty environ; they are already dead.
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILLs everything tagged with `id`, a few rounds in case of forks.
pub fn kill_tagged(id: &str) {
    for _ in 0..5 {
        let pids = tagged(id);
        if pids.is_empty() {
            return;
        }
        for p in pids {
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn which(prog: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

struct Proc {
    name: String,
    child: Child,
}

/// The processes of one cluster, in start order.
#[derive(Default)]
pub struct Group {
    pub id: String,
    /// Where each process's `<name>.log` goes.
    pub log_dir: PathBuf,
    procs: Vec<Proc>,
}

impl Group {
    pub fn spawn(&mut self, name: &str, bin: &Path, args: &[&str], log_dir: &Path) -> Result<()> {
        let log = File::create(log_dir.join(format!("{name}.log")))?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("KILN_TESTCLUSTER_ID", &self.id)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no shared state.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        if name == "node" {
            node_pids().push(child.id() as i32);
        }
        self.procs.push(Proc {
            name: name.to_string(),
            child,
        });
        Ok(())
    }

    /// Fails if a started process has exited, naming its log.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.procs {
            if let Ok(Some(st)) = p.child.try_wait() {
                bail!(
                    "{} exited early ({st}); see {}",
                    p.name,
                    self.log_dir.join(format!("{}.log", p.name)).display()
                );
            }
        }
        Ok(())
    }

    /// Stops the node gracefully (it kills its pods), then everything else.
    pub fn stop_all(&mut self) {
        if let Some(node) = self.procs.iter_mut().find(|p| p.name == "node") {
            let pid = node.child.id() as i32;
            node_pids().retain(|p| *p != pid);
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = node.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for p in self.procs.iter_mut().rev() {
            let pgid = p.child.id() as i32;
            // SAFETY: plain kill(2) on the process group we created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = p.child.wait();
        }
        self.procs.clear();
        if !self.id.is_empty() {
            kill_tagged(&self.id);
            unregister_cluster(&self.id);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Waits until `GET path` over plain HTTP answers with a body containing `want`.
pub fn wait_http_ok(
    addr: (&str, u16),
    path: &str,
    want: &str,
    timeout: Duration,
    group: &mut Group,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        group.check_alive()?;
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.0);
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains(want) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{}:{}{path} not healthy after {timeout:?}", addr.0, addr.1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An exclusive claim on a second octet for pod IPs (127.<octet>.x.y), held
/// with flock(2) so concurrent clusters on the machine never share pod IPs;
/// released when dropped or when the process dies.
pub struct IpLease {
    pub octet: u8,
    _file: File,
}

impl IpLease {
    pub fn acquire() -> Result<Self> {
        let dir = std::env::temp_dir().join("kiln-testcluster-ip-leases");
        std::fs::create_dir_all(&dir)?;
        let start = (std::process::id() % 200) as u8;
        for i in 0..200u16 {
            let octet = 20 + ((start as u16 + i) % 200) as u8;
            let f = File::create(dir.join(format!("{octet}.lock")))?;
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(Self { octet, _file: f });
            }
        }
        bail!("no free pod IP block (127.20-219.x.x all leased)")
    }
}
