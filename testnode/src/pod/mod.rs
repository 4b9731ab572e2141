//! One pod's worker: a single task that owns the pod's processes and is the
//! only writer of its status.
//!
//! Lifecycle: allocate a loopback IP, materialise volumes and the pod's own
//! kubeconfig (a TokenRequest token for its service account), run init
//! containers one by one, then all containers; restart per `restartPolicy` with
//! a short capped backoff; run readiness probes; compute the phase; on deletion
//! send SIGTERM, wait the grace period, SIGKILL, then confirm the deletion with
//! grace 0.
//!
//! Folder layout (`<root>/pods/<ns>_<name>_<uid>/`): `volumes/<vol>/`,
//! `containers/<c>/root/` (the mount root), `containers/<c>/pid`,
//! `logs/<c>/<restartCount>.log` (+ `.done` once that run ended), `kubeconfig`.
//!
//! This file holds the worker's loop; the steps live beside it: `volumes`
//! (materialising the pod), `spawn` (starting containers), `probes`,
//! `status` (what is written to the API server) and `termination`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::NodeConfig;

mod probes;
mod spawn;
mod status;
mod termination;
mod volumes;

use probes::run_probe;
pub use termination::kill_pod_dir;

/// What the kubelet loop tells a pod worker.
#[derive(Clone, Debug)]
pub enum PodEvent {
    Update(Box<Pod>),
    /// The pod is gone from the API server (e.g. force-deleted).
    Deleted,
    /// The node is stopping: kill processes, leave the API object alone.
    NodeShutdown,
}

#[derive(Clone, Debug)]
struct Term {
    exit_code: i32,
    signal: Option<i32>,
    reason: String,
    message: Option<String>,
    started: Timestamp,
    finished: Timestamp,
}

impl Term {
    /// A process that exited now with `code` (and maybe a signal).
    fn exited(code: i32, signal: Option<i32>, started: Timestamp) -> Self {
        Term {
            exit_code: code,
            signal,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started,
            finished: Timestamp::now(),
        }
    }
}

#[derive(Clone, Debug)]
enum CState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started: Timestamp,
    },
    Terminated(Term),
}

struct Ctr {
    spec: Container,
    init: bool,
    state: CState,
    last: Option<Term>,
    restart_count: i32,
    /// Number of times this container was started; exit messages carry it.
    generation: u64,
    pgid: Option<i32>,
    restart_at: Option<Instant>,
    /// Set once a run ended and the policy says it will not run again.
    done: bool,
    ready: bool,
    probe_due: Instant,
    probing: bool,
    log_dir: PathBuf,
    /// The container's mount root once started (where its termination
    /// message file is).
    root: Option<PathBuf>,
}

enum Msg {
    Exited {
        idx: usize,
        generation: u64,
        code: i32,
        signal: Option<i32>,
    },
    Probe {
        idx: usize,
        generation: u64,
        ok: bool,
    },
}

pub struct PodWorker {
    client: kube::Client,
    cfg: Arc<NodeConfig>,
    pod: Pod,
    pub dir: PathBuf,
    ip: String,
    ctrs: Vec<Ctr>,
    started_at: Timestamp,
    policy: String,
    init_failed: bool,
    prepared: bool,
    prepare_retry_at: Option<Instant>,
    last_status: Option<Value>,
    cond_times: BTreeMap<String, (bool, Timestamp)>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
}

pub fn pod_dir(root: &Path, pod: &Pod) -> PathBuf {
    root.join("pods").join(format!(
        "{}_{}_{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    ))
}

/// The termination message of container `c`'s run that ended with `code`.
fn termination_message(c: &Ctr, code: i32) -> Option<String> {
    let root = c.root.as_ref()?;
    let log = c.log_dir.join(format!("{}.log", c.restart_count));
    crate::termination::message(root, &c.spec, &log, code)
}

fn exit_code(st: &std::process::ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => (c, None),
        (None, Some(s)) => (128 + s, Some(s)),
        _ => (255, None),
    }
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory
    // is shared with the callee.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

impl PodWorker {
    pub fn new(client: kube::Client, cfg: Arc<NodeConfig>, pod: Pod, ip: String) -> Self {
        let dir = pod_dir(&cfg.root, &pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let mut ctrs = Vec::new();
        for (init, c) in spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (true, c))
            .chain(spec.containers.iter().map(|c| (false, c)))
        {
            ctrs.push(Ctr {
                spec: c.clone(),
                init,
                state: CState::Waiting {
                    reason: if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    }
                    .into(),
                    message: None,
                },
                last: None,
                restart_count: 0,
                generation: 0,
                pgid: None,
                restart_at: None,
                done: false,
                ready: false,
                probe_due: Instant::now(),
                probing: false,
                log_dir: dir.join("logs").join(&c.name),
                root: None,
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            client,
            cfg,
            policy: spec.restart_policy.unwrap_or_else(|| "Always".into()),
            pod,
            dir,
            ip,
            ctrs,
            started_at: Timestamp::now(),
            init_failed: false,
            prepared: false,
            prepare_retry_at: None,
            last_status: None,
            cond_times: BTreeMap::new(),
            tx,
            rx,
        }
    }

    fn ns(&self) -> String {
        self.pod.metadata.namespace.clone().unwrap_or_default()
    }
    fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    /// Runs the pod until it is deleted or the node stops.
    pub async fn run(mut self, mut events: watch::Receiver<PodEvent>) {
        let terminal_at_start = matches!(
            self.pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded") | Some("Failed")
        );
        if terminal_at_start {
            // Finished before this node process started: nothing to run.
            for c in &mut self.ctrs {
                c.done = true;
            }
            self.prepared = true;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            if self.pod.metadata.deletion_timestamp.is_some() {
                let grace = self
                    .pod
                    .metadata
                    .deletion_grace_period_seconds
                    .unwrap_or(30);
                self.stop(Duration::from_secs(grace.max(0) as u64)).await;
                self.finalize_deletion().await;
                return;
            }
            tokio::select! {
                changed = events.changed() => {
                    if changed.is_err() {
                        self.stop(Duration::from_secs(2)).await;
                        return;
                    }
                    let ev = events.borrow_and_update().clone();
                    match ev {
                        PodEvent::Update(p) => self.pod = *p,
                        PodEvent::Deleted => {
                            self.stop(Duration::ZERO).await;
                            self.cleanup();
                            return;
                        }
                        PodEvent::NodeShutdown => {
                            self.stop(Duration::from_secs(2)).await;
                            return;
                        }
                    }
                }
                Some(msg) = self.rx.recv() => self.handle(msg),
                _ = tick.tick() => {
                    if !terminal_at_start {
                        self.step().await;
                    }
                }
            }
            if !terminal_at_start {
                self.push_status().await;
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Exited {
                idx,
                generation,
                code,
                signal,
            } => {
                let policy = self.policy.clone();
                let Some(c) = self.ctrs.get_mut(idx) else {
                    return;
                };
                if c.generation != generation {
                    return;
                }
                c.pgid = None;
                c.ready = false;
                let started = match &c.state {
                    CState::Running { started } => *started,
                    _ => Timestamp::now(),
                };
                let mut term = Term::exited(code, signal, started);
                term.message = termination_message(c, code);
                let _ = std::fs::write(
                    c.log_dir.join(format!("{}.done", c.restart_count)),
                    code.to_string(),
                );
                info!(container = %c.spec.name, code, "container exited");
                let restart = if c.init {
                    code != 0 && policy != "Never"
                } else {
                    policy == "Always" || (policy == "OnFailure" && code != 0)
                };
                if c.init && code != 0 && !restart {
                    self.init_failed = true;
                }
                let c = &mut self.ctrs[idx];
                if restart {
                    // Short capped backoff (kubelet: 10 s doubling to 5 min)
                    // so tests see restarts quickly.
                    let backoff = Duration::from_millis(500 * (1 << c.restart_count.min(4)));
                    c.restart_at = Some(Instant::now() + backoff);
                    c.last = Some(term);
                    c.state = CState::Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: Some(format!(
                            "back-off {}ms restarting failed container",
                            backoff.as_millis()
                        )),
                    };
                } else {
                    c.done = true;
                    c.state = CState::Terminated(term);
                }
            }
            Msg::Probe {
                idx,
                generation,
                ok,
            } => {
                if let Some(c) = self.ctrs.get_mut(idx) {
                    c.probing = false;
                    if c.generation == generation && matches!(c.state, CState::Running { .. }) {
                        c.ready = ok;
                    }
                }
            }
        }
    }

    /// Advances the state machine: prepares the pod, starts due containers and
    /// probes.
    async fn step(&mut self) {
        if !self.prepared {
            if self.prepare_retry_at.is_some_and(|t| t > Instant::now()) {
                return;
            }
            // Why a delay: a missing ConfigMap/Secret is retried, but not at
            // the 200 ms tick rate.
            self.prepare_retry_at = Some(Instant::now() + Duration::from_secs(1));
            match self.prepare().await {
                Ok(()) => self.prepared = true,
                Err(e) => {
                    let msg = format!("{e:#}");
                    warn!(ns = %self.ns(), pod = %self.name(), "pod setup failed: {msg}");
                    for c in &mut self.ctrs {
                        c.state = CState::Waiting {
                            reason: "CreateContainerConfigError".into(),
                            message: Some(msg.clone()),
                        };
                    }
                    return;
                }
            }
        }
        if self.init_failed {
            return;
        }
        let now = Instant::now();
        // Init containers run one at a time, in order; app containers only
        // once all of them completed.
        let pending_init = self.ctrs.iter().position(|c| c.init && !c.done);
        let to_start: Vec<usize> = match pending_init {
            Some(i) => vec![i],
            None => (0..self.ctrs.len())
                .filter(|&i| !self.ctrs[i].init)
                .collect(),
        };
        for i in to_start {
            let c = &self.ctrs[i];
            let due = matches!(c.state, CState::Waiting { .. })
                && !c.done
                && c.restart_at.is_none_or(|t| t <= now);
            let not_mapped =
                matches!(&c.state, CState::Waiting { reason, .. } if reason == "ImageNotMapped");
            if due && !not_mapped {
                self.start(i).await;
            }
        }
        for i in 0..self.ctrs.len() {
            let c = &mut self.ctrs[i];
            if !matches!(c.state, CState::Running { .. }) || c.probing {
                continue;
            }
            match c.spec.readiness_probe.clone() {
                None => c.ready = true,
                Some(p) if c.probe_due <= now => {
                    c.probing = true;
                    c.probe_due =
                        now + Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
                    let tx = self.tx.clone();
                    let generation = c.generation;
                    let ip = self.ip.clone();
                    let spec = c.spec.clone();
                    tokio::spawn(async move {
                        let ok = run_probe(&p, &spec, &ip).await;
                        let _ = tx.send(Msg::Probe {
                            idx: i,
                            generation,
                            ok,
                        });
                    });
                }
                Some(_) => {}
            }
        }
    }
}
