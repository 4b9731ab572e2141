//! Dynamic allocation of a driver in a pod (`spec.dynamicAllocation`): once a
//! second it turns the tasks running and waiting into an executor count
//! (`status.requestedExecutors`, which the operator follows between min and
//! max), and releases executors that have been idle for
//! `spark.dynamicAllocation.executorIdleTimeout` and hold no shuffle output a
//! running job still reads: it lowers the request first (so the operator
//! does not replace them), then tells them to shut down; their pods end
//! `Succeeded`.

use std::sync::Arc;
use std::time::Duration;

use kiln_driver::allocation::AllocationConf;
use kiln_driver::executor_registry::ExecutorRegistry;
use kiln_driver::progress::Progress;
use kiln_operator::driver_status::StatusReporter;
use tracing::{info, warn};

/// How often the loop looks.
const EVERY: Duration = Duration::from_secs(1);

/// Runs the allocation loop until aborted.
pub fn spawn(
    reporter: StatusReporter,
    registry: ExecutorRegistry,
    progress: Arc<Progress>,
    conf: AllocationConf,
    cores: u32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut asked: Option<u64> = None;
        loop {
            let target = u64::from(conf.target(progress.task_demand(), cores));
            let ids: Vec<String> = registry.executors().into_iter().map(|e| e.id).collect();
            let alive = ids.len() as u64;
            let mut released = Vec::new();
            if alive > target {
                let activity = registry.activity();
                for id in activity.idle(&ids, conf.idle_timeout) {
                    if alive - released.len() as u64 <= target {
                        break;
                    }
                    if activity.drain(&id, conf.idle_timeout) {
                        released.push(id);
                    }
                }
            }
            let want = target.max(alive - released.len() as u64);
            if asked != Some(want) {
                match reporter.request_executors(want).await {
                    Ok(()) => asked = Some(want),
                    Err(e) => {
                        warn!("cannot request {want} executors: {e}");
                        // Not lowered: the operator would replace them.
                        for id in released.drain(..) {
                            registry.activity().forget(&id);
                        }
                    }
                }
            }
            for id in released {
                release(&registry, &id, conf.idle_timeout).await;
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

/// Removes executor `id` from the application and shuts it down.
async fn release(registry: &ExecutorRegistry, id: &str, idle: Duration) {
    if let Some(e) = registry.remove(id) {
        let mut client = e.client.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            client.shutdown(kiln_proto::ShutdownRequest {}),
        )
        .await;
        info!(executor_id = %id, "executor idle for {idle:?} with no shuffle output still needed: released");
        eprintln!("executor {id} released: idle for {idle:?}, no shuffle output still needed");
    }
    registry.activity().forget(id);
}
