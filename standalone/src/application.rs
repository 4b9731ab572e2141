//! The driver's side of standalone mode, the cluster manager beside
//! `local-cluster`'s: registers the application with the master, beats
//! every second, tells the master which executors the driver declared lost
//! (their workers kill them, the master allocates replacements), and hands
//! the executors that exited to the scheduler at once. The application
//! ends by unregistering, which releases its executors; a driver that dies
//! without doing so is noticed by its silence.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_core::security::{Secret, Transport};
use kiln_driver::executor_registry::ExecutorRegistry;
use kiln_driver::progress::Progress;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::auth::{master_client, MasterClient};
use crate::proto::*;
use crate::{MasterUrl, Result, StandaloneError};

/// Spark's setting of the address executors reach the driver at.
pub const DRIVER_HOST: &str = "spark.driver.host";
/// Spark's setting of the address the driver listens on.
pub const DRIVER_BIND_ADDRESS: &str = "spark.driver.bindAddress";
/// Spark's setting of the driver's port.
pub const DRIVER_PORT: &str = "spark.driver.port";
/// Spark's limit on an application's cores in the cluster.
pub const CORES_MAX: &str = "spark.cores.max";

/// What the application asks the master for.
#[derive(Debug, Clone)]
pub struct AppRequest {
    /// The application id.
    pub application_id: String,
    /// Its name.
    pub name: String,
    /// Where executors reach the driver.
    pub driver_url: String,
    /// Executors wanted.
    pub executors: u32,
    /// Cores per executor.
    pub executor_cores: u32,
    /// Memory per executor, if set.
    pub executor_memory_bytes: Option<u64>,
    /// `spark.cores.max`, if set.
    pub cores_max: Option<u32>,
    /// The application's transport (its secret goes to its executors).
    pub transport: Transport,
}

/// Where the driver listens and what it tells executors: the settings
/// `spark.driver.host`, `spark.driver.bindAddress`, `spark.driver.port`;
/// without a host, the address of this machine that routes to the master.
pub fn driver_address(
    conf: &std::collections::BTreeMap<String, String>,
    master: &MasterUrl,
) -> Result<(SocketAddr, String)> {
    let port: u16 = match conf.get(DRIVER_PORT) {
        Some(p) => p.trim().parse().map_err(|_| {
            StandaloneError::Config(format!("{DRIVER_PORT}=`{p}`: not a port number"))
        })?,
        None => 0,
    };
    let host = match conf.get(DRIVER_HOST) {
        Some(h) => h.trim().to_string(),
        None => route_to(master).ok_or_else(|| {
            StandaloneError::Config(format!(
                "cannot tell which address of this machine the workers of {master} reach; set {DRIVER_HOST}"
            ))
        })?,
    };
    let bind_ip = conf
        .get(DRIVER_BIND_ADDRESS)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| host.clone());
    let ip: std::net::IpAddr = bind_ip.parse().map_err(|_| {
        StandaloneError::Config(format!(
            "{}=`{bind_ip}`: the driver binds to an IP address; set {DRIVER_BIND_ADDRESS} to one (e.g. 0.0.0.0)",
            if conf.contains_key(DRIVER_BIND_ADDRESS) { DRIVER_BIND_ADDRESS } else { DRIVER_HOST }
        ))
    })?;
    Ok((SocketAddr::new(ip, port), host))
}

/// The local address the OS would use to reach the master (a UDP socket
/// "connected" to it sends nothing).
fn route_to(master: &MasterUrl) -> Option<String> {
    use std::net::ToSocketAddrs;
    let target = (master.host.as_str(), master.port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let s = UdpSocket::bind(any).ok()?;
    s.connect(target).ok()?;
    Some(s.local_addr().ok()?.ip().to_string())
}

#[derive(Debug, Default)]
struct Seen {
    /// The master's last word on the application (FAILED's reason).
    failed: Option<String>,
    /// Executor exits so far.
    exits: Vec<String>,
    /// Whether an exit says the executor could not reach the driver.
    unreachable_driver: bool,
    /// The master's last state of the application, and why it waits.
    state: String,
    message: String,
}

/// An application's executors from a standalone master.
#[derive(Debug)]
pub struct StandaloneCluster {
    master: MasterUrl,
    client: MasterClient,
    request: AppRequest,
    target: u32,
    seen: Arc<Mutex<Seen>>,
    beat: JoinHandle<()>,
}

impl StandaloneCluster {
    /// Registers the application with the master at `master` and starts
    /// beating. Fails when the master cannot be reached or refuses it (a
    /// wrong cluster secret, executors larger than every worker).
    pub async fn register(
        master: &MasterUrl,
        secret: Option<&Secret>,
        request: AppRequest,
        registry: ExecutorRegistry,
        progress: Arc<Progress>,
    ) -> Result<Self> {
        let client = master_client(&master.grpc(), secret)?;
        let registered = register(&client, master, &request, 0).await?;
        let target = registered.executors_target;
        progress.line(&format!(
            "registered {} with {master}; asking for {target} executor(s) of {} core(s)",
            request.application_id, request.executor_cores
        ));
        let seen = Arc::new(Mutex::new(Seen {
            state: registered.state,
            message: registered.message,
            ..Seen::default()
        }));
        let beat = tokio::spawn(beat(
            client.clone(),
            master.clone(),
            request.clone(),
            registry,
            progress,
            seen.clone(),
        ));
        Ok(StandaloneCluster {
            master: master.clone(),
            client,
            request,
            target,
            seen,
            beat,
        })
    }

    /// Executors the application gets when the cluster has room.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Waits while the application is in the master's FIFO queue (no
    /// executor allocated yet: the cluster is full), as long as it takes,
    /// saying so once. Returns at once when executors were allocated.
    pub async fn wait_in_queue(&self, progress: &Progress) {
        let mut said = false;
        loop {
            let (state, message) = {
                let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                (s.state.clone(), s.message.clone())
            };
            if state != "WAITING" {
                return;
            }
            if !said {
                progress.line(&format!(
                    "waiting in the queue of {}: {message}",
                    self.master
                ));
                said = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Why no executor can start (the master failed the application, or
    /// executors cannot reach the driver), or `None` while one may.
    pub fn none_can_start(&self) -> Option<String> {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = &s.failed {
            return Some(format!("the master failed the application: {f}"));
        }
        s.unreachable_driver.then(|| {
            format!(
                "executors on the workers cannot reach the driver at {}; set {DRIVER_HOST} to an address of this machine the workers can reach (and {DRIVER_PORT} to a port open to them, {DRIVER_BIND_ADDRESS} to the local address to listen on). {}",
                self.request.driver_url,
                s.exits.last().cloned().unwrap_or_default()
            )
        })
    }

    /// What happened to the executors so far, for an error message.
    pub fn exits(&self) -> String {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if s.exits.is_empty() {
            format!(
                "no executor exited; see the master's page for workers with room ({})",
                self.master
            )
        } else {
            format!(
                "{} executor exit(s); the last: {}",
                s.exits.len(),
                s.exits.last().cloned().unwrap_or_default()
            )
        }
    }

    /// Ends the application: stops beating and unregisters (its executors
    /// are released).
    pub async fn stop(mut self) {
        self.beat.abort();
        let req = UnregisterApplicationRequest {
            application_id: self.request.application_id.clone(),
        };
        if let Err(e) = tokio::time::timeout(
            Duration::from_secs(5),
            self.client.unregister_application(req),
        )
        .await
        .map_err(|_| "timed out".to_string())
        .and_then(|r| r.map_err(|s| s.message().to_string()))
        {
            warn!("cannot unregister from {}: {e}; the master releases the executors when it misses the heartbeats", self.master);
        }
    }
}

async fn register(
    client: &MasterClient,
    master: &MasterUrl,
    r: &AppRequest,
    executors_started: u32,
) -> Result<RegisterApplicationResponse> {
    let req = RegisterApplicationRequest {
        application_id: r.application_id.clone(),
        name: r.name.clone(),
        driver_url: r.driver_url.clone(),
        executor_cores: r.executor_cores,
        executor_memory_bytes: r.executor_memory_bytes.unwrap_or(0),
        executors: r.executors,
        cores_max: r.cores_max.unwrap_or(0),
        app_secret: r.transport.secret().expose().to_string(),
        transport_conf: r.transport.settings().collect(),
        driver_web_url: String::new(),
        executors_started,
    };
    let resp = client
        .clone()
        .register_application(req)
        .await
        .map_err(|s| StandaloneError::from_status(&master.to_string(), s))?;
    Ok(resp.into_inner())
}

async fn beat(
    client: MasterClient,
    master: MasterUrl,
    request: AppRequest,
    registry: ExecutorRegistry,
    progress: Arc<Progress>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut lost: Vec<String> = vec![];
    let mut warned = false;
    loop {
        tokio::time::sleep(crate::worker::HEARTBEAT_PERIOD).await;
        lost.extend(registry.take_declared_lost());
        let req = ApplicationHeartbeatRequest {
            application_id: request.application_id.clone(),
            lost_executor_ids: lost.clone(),
        };
        let resp = match client.clone().application_heartbeat(req).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                if !warned {
                    progress.line(&format!(
                        "cannot reach the master at {master} ({}); the job goes on with the executors it has",
                        s.message()
                    ));
                    warned = true;
                }
                continue;
            }
        };
        if warned {
            progress.line(&format!("the master at {master} answers again"));
            warned = false;
        }
        lost.clear();
        if resp.unknown {
            // A master restarted without recovery: ask again.
            progress.line(&format!(
                "the master at {master} does not know this application (restarted without recovery?); registering again"
            ));
            // Every executor that ever beat is in the peak-RSS table.
            let seen_ids = registry
                .peak_rss()
                .iter()
                .filter_map(|(id, _)| id.parse::<u32>().ok())
                .max()
                .unwrap_or(0);
            if let Err(e) = register(&client, &master, &request, seen_ids).await {
                progress.line(&format!("{e}"));
            }
            continue;
        }
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        for exit in resp.exited {
            let first = exit.reason.lines().next().unwrap_or_default().to_string();
            if exit.reason.contains("cannot register with driver") {
                s.unreachable_driver = true;
            }
            let text = format!("executor {} exited {first}", exit.executor_id);
            progress.line(&format!("{text}; the master allocates a replacement"));
            registry.mark_lost(&exit.executor_id, &format!("exited {first}"));
            s.exits.push(format!(
                "{text} {}",
                exit.reason.lines().skip(1).collect::<Vec<_>>().join(" / ")
            ));
        }
        if resp.state == "FAILED" {
            s.failed = Some(resp.message.clone());
        }
        s.state = resp.state;
        s.message = resp.message;
    }
}
