//! Starting containers: init containers in order, then the rest; each run
//! as its own process group with its environment, mounts and log file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use tracing::{info, warn};

use super::{exit_code, CState, Msg, PodWorker};
use crate::node::NODE_IP;

impl PodWorker {
    /// Starts container `i`; failures become the container's state.
    pub(super) async fn start(&mut self, i: usize) {
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
}

enum StartError {
    /// Env or volume inputs missing: retried.
    Config(String),
    /// The image names no local binary and the container has no command.
    NotMapped(String),
    /// The program could not be executed: counts as a failed run.
    Exec(String),
}
