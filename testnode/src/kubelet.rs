//! Watches pods bound to this node and keeps one [`PodWorker`] per pod UID;
//! hands out loopback pod IPs; keeps the (namespace, name) -> pod folder
//! registry the log endpoint reads.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::pod::{PodEvent, PodWorker};

/// (namespace, name) -> folder of the newest pod with that name.
pub type Registry = Arc<Mutex<HashMap<(String, String), PathBuf>>>;

struct Worker {
    tx: watch::Sender<PodEvent>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    workers: HashMap<String, Worker>,
    /// UIDs whose worker has finished; late events for them are ignored.
    finished: BTreeSet<String>,
    ips: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct Kubelet {
    client: kube::Client,
    cfg: Arc<NodeConfig>,
    state: Arc<Mutex<State>>,
    registry: Registry,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked while holding the lock must not take the node down.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Kubelet {
    pub fn new(client: kube::Client, cfg: Arc<NodeConfig>) -> Self {
        Self {
            client,
            cfg,
            state: Default::default(),
            registry: Default::default(),
        }
    }

    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Picks the lowest free index and maps it to 127.P.X.Y (Y in 2..=254).
    fn alloc_ip(&self, uid: &str) -> String {
        let mut st = lock(&self.state);
        let idx = match st.ips.get(uid) {
            Some(i) => *i,
            None => {
                let used: BTreeSet<u32> = st.ips.values().copied().collect();
                let i = (0..).find(|i| !used.contains(i)).unwrap_or(0);
                st.ips.insert(uid.to_string(), i);
                i
            }
        };
        format!("{}.{}.{}", self.cfg.pod_ip_prefix, idx / 253, idx % 253 + 2)
    }

    pub async fn run(&self) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let wc = watcher::Config::default().fields(&format!("spec.nodeName={}", self.cfg.name));
        let mut stream = watcher(api, wc).boxed();
        // UIDs seen during a (re)list; workers not among them lost their pod
        // while the watch was down.
        let mut listed: Option<BTreeSet<String>> = None;
        loop {
            match stream.next().await {
                Some(Ok(watcher::Event::Init)) => listed = Some(BTreeSet::new()),
                Some(Ok(watcher::Event::InitApply(p))) => {
                    if let (Some(l), Some(uid)) = (listed.as_mut(), p.metadata.uid.as_ref()) {
                        l.insert(uid.clone());
                    }
                    self.dispatch(p)
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    if let Some(l) = listed.take() {
                        for (uid, w) in lock(&self.state).workers.iter() {
                            if !l.contains(uid) {
                                let _ = w.tx.send(PodEvent::Deleted);
                            }
                        }
                    }
                }
                Some(Ok(watcher::Event::Apply(p))) => self.dispatch(p),
                Some(Ok(watcher::Event::Delete(p))) => {
                    if let Some(uid) = p.metadata.uid.as_deref() {
                        if let Some(w) = lock(&self.state).workers.get(uid) {
                            let _ = w.tx.send(PodEvent::Deleted);
                        }
                    }
                }
                Some(Err(e)) => {
                    warn!("pod watch error: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => return,
            }
        }
    }

    fn dispatch(&self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let st = lock(&self.state);
        if st.finished.contains(&uid) {
            return;
        }
        if let Some(w) = st.workers.get(&uid) {
            let _ = w.tx.send(PodEvent::Update(Box::new(pod)));
            return;
        }
        drop(st);
        let ip = self.alloc_ip(&uid);
        let worker = PodWorker::new(
            self.client.clone(),
            self.cfg.clone(),
            pod.clone(),
            ip.clone(),
        );
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        info!(ns = %key.0, pod = %key.1, %ip, "new pod on node");
        lock(&self.registry).insert(key, worker.dir.clone());
        let (tx, rx) = watch::channel(PodEvent::Update(Box::new(pod)));
        let state = self.state.clone();
        let uid2 = uid.clone();
        let task = tokio::spawn(async move {
            worker.run(rx).await;
            let mut st = lock(&state);
            st.workers.remove(&uid2);
            st.ips.remove(&uid2);
            st.finished.insert(uid2);
        });
        lock(&self.state).workers.insert(uid, Worker { tx, task });
    }

    /// Stops every pod's processes (node shutdown); API objects stay.
    pub async fn kill_all(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = lock(&self.state);
            st.workers
                .drain()
                .map(|(_, w)| {
                    let _ = w.tx.send(PodEvent::NodeShutdown);
                    w.task
                })
                .collect()
        };
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}
