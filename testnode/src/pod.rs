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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::Api;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::node::NODE_IP;

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

    async fn prepare(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::volumes::materialise(&self.client, &self.pod, &self.dir, &self.ip, NODE_IP).await?;
        let automount = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.automount_service_account_token)
            .unwrap_or(true);
        if automount {
            let token = crate::volumes::request_token(&self.client, &self.pod, None, 86400).await?;
            let mut cluster = json!({"server": self.cfg.api_server});
            if let Some(ca) = &self.cfg.api_ca {
                cluster["certificate-authority"] = json!(ca);
            }
            let kc = json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kiln-test", "cluster": cluster}],
                "users": [{"name": "pod", "user": {"token": token}}],
                "contexts": [{"name": "pod", "context": {
                    "cluster": "kiln-test", "user": "pod", "namespace": self.ns()
                }}],
                "current-context": "pod",
            });
            let path = self.dir.join("kubeconfig");
            std::fs::write(&path, serde_json::to_vec_pretty(&kc)?)?;
        }
        Ok(())
    }

    /// Starts container `i`; failures become the container's state.
    async fn start(&mut self, i: usize) {
        let restarting = self.ctrs[i].generation > 0;
        if restarting {
            self.ctrs[i].restart_count += 1;
        }
        match self.spawn(i).await {
            Ok(()) => {}
            Err(StartError::Config(msg)) => {
                if restarting {
                    self.ctrs[i].restart_count -= 1;
                }
                let c = &mut self.ctrs[i];
                c.restart_at = Some(Instant::now() + Duration::from_secs(1));
                c.state = CState::Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: Some(msg),
                };
            }
            Err(StartError::NotMapped(msg)) => {
                self.ctrs[i].state = CState::Waiting {
                    reason: "ImageNotMapped".into(),
                    message: Some(msg),
                };
            }
            Err(StartError::Exec(msg)) => {
                // Like a container whose entrypoint cannot run: it counts as
                // a failed run, so restartPolicy applies.
                let c = &mut self.ctrs[i];
                c.generation += 1;
                c.state = CState::Running {
                    started: Timestamp::now(),
                };
                let generation = c.generation;
                warn!(container = %c.spec.name, "cannot start: {msg}");
                let _ = std::fs::create_dir_all(&c.log_dir);
                let _ = std::fs::write(
                    c.log_dir.join(format!("{}.log", c.restart_count)),
                    format!("kiln-testnode: {msg}\n"),
                );
                let _ = self.tx.send(Msg::Exited {
                    idx: i,
                    generation,
                    code: 128,
                    signal: None,
                });
            }
        }
    }

    async fn spawn(&mut self, i: usize) -> Result<(), StartError> {
        let spec = self.ctrs[i].spec.clone();
        let image = spec.image.clone().unwrap_or_default();
        let vars = crate::env::container_env(
            &self.client,
            &self.pod,
            &spec,
            &self.ip,
            NODE_IP,
            &self.cfg.cpu,
            &self.cfg.memory,
        )
        .await
        .map_err(|e| StartError::Config(format!("{e:#}")))?;
        let root = crate::volumes::mount_root(&self.pod, &self.dir, &spec)
            .map_err(|e| StartError::Config(format!("{e:#}")))?;

        let host_path = std::env::var("PATH").unwrap_or_default();
        let path = if self.cfg.extra_path.is_empty() {
            host_path
        } else {
            format!("{}:{host_path}", self.cfg.extra_path)
        };
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for k in [
            "HOME",
            "USER",
            "LANG",
            "LC_ALL",
            "TZ",
            "TMPDIR",
            "PYENV_ROOT",
            "KILN_TESTCLUSTER_ID",
        ] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.into(), v);
            }
        }
        env.insert("PATH".into(), path.clone());
        env.insert("HOSTNAME".into(), self.name());
        env.insert("KILN_MOUNT_ROOT".into(), root.display().to_string());
        if self.dir.join("kubeconfig").exists() {
            env.insert(
                "KUBECONFIG".into(),
                self.dir.join("kubeconfig").display().to_string(),
            );
        }
        env.extend(vars.clone());
        let command = crate::env::expand_all(spec.command.as_deref().unwrap_or(&[]), &vars);
        let args = crate::env::expand_all(spec.args.as_deref().unwrap_or(&[]), &vars);
        let mapped = self.cfg.binary_for(&image).map(Path::to_path_buf);
        let (prog, argv): (PathBuf, Vec<String>) = match (command.split_first(), mapped) {
            (None, Some(b)) => (b, args),
            (None, None) => {
                return Err(StartError::NotMapped(format!(
                    "image {image:?} has no command and no local binary mapping"
                )))
            }
            (Some((c0, rest)), Some(b)) if Path::new(c0).file_name() == b.file_name() => {
                (b, rest.iter().cloned().chain(args).collect())
            }
            (Some((c0, rest)), _) => (
                crate::env::which(c0, &path).map_err(|e| StartError::Exec(format!("{e:#}")))?,
                rest.iter().cloned().chain(args).collect(),
            ),
        };
        let cwd = match spec.working_dir.as_deref() {
            Some(w) if !w.is_empty() => root.join(w.trim_start_matches('/')),
            _ => root.clone(),
        };
        let c = &mut self.ctrs[i];
        // A fresh termination message per run, as the kubelet mounts a new file.
        let _ = std::fs::remove_file(crate::termination::file(&root, &spec));
        c.root = Some(root.clone());
        std::fs::create_dir_all(&cwd).map_err(|e| StartError::Config(e.to_string()))?;
        std::fs::create_dir_all(&c.log_dir).map_err(|e| StartError::Config(e.to_string()))?;
        let log_path = c.log_dir.join(format!("{}.log", c.restart_count));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| StartError::Config(format!("{}: {e}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(|e| StartError::Config(e.to_string()))?;

        let mut cmd = tokio::process::Command::new(&prog);
        cmd.args(&argv)
            .env_clear()
            .envs(&env)
            .current_dir(&cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; the closure touches no locks or
        // allocations. Why: if the node dies without cleanup, its pods die too.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| StartError::Exec(format!("{}: {e}", prog.display())))?;
        let pid = child.id().unwrap_or(0) as i32;
        let pid_file = self.dir.join("containers").join(&spec.name).join("pid");
        let _ = std::fs::write(&pid_file, pid.to_string());
        c.generation += 1;
        c.pgid = Some(pid);
        c.ready = false;
        c.probe_due = Instant::now()
            + Duration::from_secs(
                c.spec
                    .readiness_probe
                    .as_ref()
                    .and_then(|p| p.initial_delay_seconds)
                    .unwrap_or(0)
                    .max(0) as u64,
            );
        c.restart_at = None;
        if let CState::Terminated(t) = &c.state {
            c.last = Some(t.clone());
        }
        c.state = CState::Running {
            started: Timestamp::now(),
        };
        info!(ns = %self.pod.metadata.namespace.as_deref().unwrap_or(""),
              pod = %self.pod.metadata.name.as_deref().unwrap_or(""),
              container = %spec.name, pid, prog = %prog.display(), "started container");
        let tx = self.tx.clone();
        let generation = c.generation;
        tokio::spawn(async move {
            let (code, signal) = match child.wait().await {
                Ok(st) => exit_code(&st),
                Err(_) => (255, None),
            };
            let _ = tx.send(Msg::Exited {
                idx: i,
                generation,
                code,
                signal,
            });
        });
        Ok(())
    }

    /// SIGTERM every running container, wait up to `grace`, SIGKILL the rest.
    async fn stop(&mut self, grace: Duration) {
        let running: Vec<i32> = self.ctrs.iter().filter_map(|c| c.pgid).collect();
        if running.is_empty() {
            return;
        }
        info!(ns = %self.ns(), pod = %self.name(), ?grace, "stopping pod");
        for &p in &running {
            kill_group(p, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while self.ctrs.iter().any(|c| c.pgid.is_some()) && Instant::now() < deadline {
            match tokio::time::timeout_at(deadline.into(), self.rx.recv()).await {
                Ok(Some(m)) => self.handle_stop_msg(m),
                _ => break,
            }
        }
        for c in &self.ctrs {
            if let Some(p) = c.pgid {
                kill_group(p, libc::SIGKILL);
            }
        }
        // Also reap leftovers of exited leaders (e.g. a shell's children).
        for &p in &running {
            kill_group(p, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.ctrs.iter().any(|c| c.pgid.is_some()) {
            match tokio::time::timeout_at(deadline.into(), self.rx.recv()).await {
                Ok(Some(m)) => self.handle_stop_msg(m),
                _ => break,
            }
        }
    }

    fn handle_stop_msg(&mut self, m: Msg) {
        if let Msg::Exited {
            idx,
            generation,
            code,
            signal,
        } = m
        {
            if let Some(c) = self.ctrs.get_mut(idx) {
                if c.generation == generation {
                    c.pgid = None;
                    c.ready = false;
                    c.done = true;
                    let started = match &c.state {
                        CState::Running { started } => *started,
                        _ => Timestamp::now(),
                    };
                    let _ = std::fs::write(
                        c.log_dir.join(format!("{}.done", c.restart_count)),
                        code.to_string(),
                    );
                    let mut term = Term::exited(code, signal, started);
                    term.message = termination_message(c, code);
                    c.state = CState::Terminated(term);
                }
            }
        }
    }

    async fn finalize_deletion(&mut self) {
        self.push_status().await;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns());
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&self.name(), &dp).await {
            Ok(_) => info!(ns = %self.ns(), pod = %self.name(), "pod deleted"),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => warn!(ns = %self.ns(), pod = %self.name(), "final delete failed: {e}"),
        }
        self.cleanup();
    }

    /// Removes materialised volumes (they may hold secrets); logs stay.
    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(self.dir.join("volumes"));
        let _ = std::fs::remove_file(self.dir.join("kubeconfig"));
    }

    fn phase(&self) -> &'static str {
        if self.init_failed {
            return "Failed";
        }
        let apps: Vec<&Ctr> = self.ctrs.iter().filter(|c| !c.init).collect();
        if self.ctrs.iter().any(|c| c.init && !c.done) {
            return "Pending";
        }
        if !apps.is_empty() && apps.iter().all(|c| c.done) {
            let ok = apps
                .iter()
                .all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
            return if ok { "Succeeded" } else { "Failed" };
        }
        if apps.iter().any(|c| c.generation > 0) {
            "Running"
        } else {
            "Pending"
        }
    }

    fn condition(&mut self, kind: &str, ok: bool) -> Value {
        let now = Timestamp::now();
        let entry = self.cond_times.entry(kind.to_string()).or_insert((ok, now));
        if entry.0 != ok {
            *entry = (ok, now);
        }
        json!({
            "type": kind,
            "status": if ok { "True" } else { "False" },
            "lastTransitionTime": entry.1.to_string(),
        })
    }

    fn container_status(&self, c: &Ctr) -> Value {
        let term = |t: &Term| {
            json!({"terminated": {
                "exitCode": t.exit_code,
                "signal": t.signal,
                "reason": t.reason,
                "message": t.message,
                "startedAt": t.started.to_string(),
                "finishedAt": t.finished.to_string(),
            }})
        };
        let state = match &c.state {
            CState::Waiting { reason, message } => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            CState::Running { started } => json!({"running": {"startedAt": started.to_string()}}),
            CState::Terminated(t) => term(t),
        };
        json!({
            "name": c.spec.name,
            "image": c.spec.image.clone().unwrap_or_default(),
            "imageID": "",
            "containerID": c.pgid.map(|p| format!("kiln-testnode://{p}")),
            "ready": c.ready,
            "started": matches!(c.state, CState::Running { .. }),
            "restartCount": c.restart_count,
            "state": state,
            "lastState": c.last.as_ref().map(term).unwrap_or_else(|| json!({})),
        })
    }

    async fn push_status(&mut self) {
        let phase = self.phase();
        let init_done = !self.ctrs.iter().any(|c| c.init && !c.done) && !self.init_failed;
        let apps_ready = self.ctrs.iter().filter(|c| !c.init).all(|c| c.ready);
        let conditions = vec![
            self.condition("PodReadyToStartContainers", self.prepared),
            self.condition("Initialized", init_done),
            self.condition("ContainersReady", apps_ready),
            self.condition("Ready", apps_ready),
            self.condition("PodScheduled", true),
        ];
        let init: Vec<Value> = self
            .ctrs
            .iter()
            .filter(|c| c.init)
            .map(|c| self.container_status(c))
            .collect();
        let apps: Vec<Value> = self
            .ctrs
            .iter()
            .filter(|c| !c.init)
            .map(|c| self.container_status(c))
            .collect();
        let status = json!({"status": {
            "phase": phase,
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "startTime": self.started_at.to_string(),
            "conditions": conditions,
            "initContainerStatuses": init,
            "containerStatuses": apps,
        }});
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns());
        match api
            .patch_status(
                &self.name(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await
        {
            Ok(_) => self.last_status = Some(status),
            Err(kube::Error::Api(e)) if e.code == 404 => self.last_status = Some(status),
            Err(e) => warn!(ns = %self.ns(), pod = %self.name(), "status update failed: {e}"),
        }
    }
}

enum StartError {
    /// Env or volume inputs missing: retried.
    Config(String),
    /// The image names no local binary and the container has no command.
    NotMapped(String),
    /// The program could not be executed: counts as a failed run.
    Exec(String),
}

fn probe_port(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Runs a readiness probe once (tcpSocket, httpGet or exec).
async fn run_probe(p: &Probe, c: &Container, pod_ip: &str) -> bool {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    let fut = async {
        if let Some(t) = &p.tcp_socket {
            let host = t.host.clone().unwrap_or_else(|| pod_ip.to_string());
            let Some(port) = probe_port(&t.port, c) else {
                return false;
            };
            return tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .is_ok();
        }
        if let Some(h) = &p.http_get {
            let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
            let Some(port) = probe_port(&h.port, c) else {
                return false;
            };
            let Ok(mut s) = tokio::net::TcpStream::connect((host.as_str(), port)).await else {
                return false;
            };
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_err() {
                return false;
            }
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]);
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return (200..400).contains(&code);
        }
        if let Some(e) = &p.exec {
            let cmd = e.command.clone().unwrap_or_default();
            let Some((prog, args)) = cmd.split_first() else {
                return false;
            };
            return tokio::process::Command::new(prog)
                .args(args)
                .env("POD_IP", pod_ip)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .map(|s| s.success())
                .unwrap_or(false);
        }
        true
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(false)
}

/// Test helper used by the harness: SIGKILLs every container process group of
/// the pod folder `dir` (simulates losing an executor abruptly).
pub fn kill_pod_dir(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    let containers = dir.join("containers");
    for e in std::fs::read_dir(&containers).with_context(|| containers.display().to_string())? {
        let pid_file = e?.path().join("pid");
        if let Ok(s) = std::fs::read_to_string(&pid_file) {
            if let Ok(pid) = s.trim().parse::<i32>() {
                if pid > 0 {
                    kill_group(pid, libc::SIGKILL);
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}
