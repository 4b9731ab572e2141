//! Stopping a pod: SIGTERM to every process group, the grace period, SIGKILL,
//! then the deletion confirmed with grace 0 and the folder removed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Preconditions};
use kube::Api;
use tracing::{info, warn};

use super::{kill_group, termination_message, CState, Msg, PodWorker, Term};

impl PodWorker {
    /// SIGTERM every running container, wait up to `grace`, SIGKILL the rest.
    pub(super) async fn stop(&mut self, grace: Duration) {
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

    pub(super) fn handle_stop_msg(&mut self, m: Msg) {
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

    pub(super) async fn finalize_deletion(&mut self) {
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
    pub(super) fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(self.dir.join("volumes"));
        let _ = std::fs::remove_file(self.dir.join("kubeconfig"));
    }
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
