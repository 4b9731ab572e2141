//! The task runner: decodes a stage plan (ending in a shuffle writer, or in a
//! file writer for a write stage), runs one partition of it with the task's
//! shuffle inputs, and turns the outcome into a [`TaskResult`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, UInt32Array, UInt64Array};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use kiln_core::codec::decode_plan;
use kiln_core::config::EngineConf;
use kiln_core::python::protocol::PythonWorkers;
use kiln_core::settings::{TEST_CORRUPT_BLOCK, TEST_FAIL_FIRST_WRITE_ATTEMPT};
use kiln_core::shuffle::layout::BlockId;
use kiln_core::shuffle::{
    find_fetch_failure, FlightClients, MapOutput, ShuffleMetrics, ShuffleTaskEnv, ShuffleWriterExec,
};
use kiln_core::write::WriteFilesExec;
use kiln_proto::{TaskDefinition, TaskMetrics, TaskResult, TaskStatus};

/// Runs tasks for one executor.
pub struct TaskRunner {
    /// This executor's id.
    pub executor_id: String,
    /// Root of this executor's shuffle files.
    pub shuffle_dir: PathBuf,
    /// The session every task starts from (settings, functions, memory pool).
    pub ctx: SessionContext,
    /// Engine settings from the driver.
    pub conf: EngineConf,
    /// Connections to peers' shuffle services.
    pub clients: Arc<FlightClients>,
    /// This executor's Python workers, for the tasks' Python UDFs.
    pub python: PythonWorkers,
}

impl std::fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner")
            .field("executor_id", &self.executor_id)
            .finish_non_exhaustive()
    }
}

impl TaskRunner {
    /// Runs one task to completion.
    pub async fn run(&self, def: TaskDefinition) -> TaskResult {
        let start = Instant::now();
        if let Some(d) = self.conf.hooks.task_delay {
            tokio::time::sleep(d).await;
        }
        let inputs: HashMap<u32, Vec<MapOutput>> = def
            .inputs
            .iter()
            .map(|i| {
                let outs = i
                    .map_outputs
                    .iter()
                    .map(|m| MapOutput {
                        map_partition: m.map_partition,
                        attempt: m.attempt,
                        executor_id: m.executor_id.clone(),
                        address: m.address.clone(),
                        block_bytes: m.block_bytes.clone(),
                        rows: m.block_rows.iter().sum(),
                        shuffle_dir: m.shuffle_dir.clone(),
                    })
                    .collect();
                (i.stage_id, outs)
            })
            .collect();
        let env = Arc::new(ShuffleTaskEnv {
            executor_id: self.executor_id.clone(),
            shuffle_dir: self.shuffle_dir.clone(),
            attempt: def.attempt,
            compression: self.conf.shuffle_compression,
            inputs,
            clients: self.clients.clone(),
            metrics: ShuffleMetrics::default(),
        });
        let state = self.ctx.state();
        let outcome = async {
            // The settings of the session the stage was planned in win over
            // the ones this executor registered with; functions take them
            // when the plan is decoded.
            let mut config = state
                .config()
                .clone()
                .with_extension(env.clone())
                .with_extension(Arc::new(self.python.clone()));
            for (k, v) in &def.session_conf {
                if k.starts_with("datafusion.execution.") {
                    config.options_mut().set(k, v).map_err(|e| {
                        DataFusionError::Plan(format!("task setting {k} = {v}: {e}"))
                    })?;
                }
            }
            let base = TaskContext::from(&state).with_session_config(config);
            let decode_start = Instant::now();
            let plan = decode_plan(&def.plan, &base).map_err(|e| {
                DataFusionError::Plan(format!(
                    "cannot decode the stage plan sent by the driver: {e}"
                ))
            })?;
            if !plan.is::<ShuffleWriterExec>() && !plan.is::<WriteFilesExec>() {
                return Err(DataFusionError::Plan(
                    "a task plan must end in a shuffle writer or a file writer".into(),
                ));
            }
            let n = plan.properties().partitioning.partition_count();
            if def.partition as usize >= n {
                return Err(DataFusionError::Plan(format!(
                    "task partition {} out of range: the stage has {n}",
                    def.partition
                )));
            }
            // Partition-dependent functions (`rand(seed)`,
            // `spark_partition_id()`) take the partition this task runs.
            let plan = kiln_functions::bind_to_partition(plan, def.partition as usize)?;
            let plan = with_yield_points(plan)?;
            let task_ctx = Arc::new(base.with_task_id(format!(
                "{}.{}.{}",
                def.stage_id, def.partition, def.attempt
            )));
            let run_start = Instant::now();
            let stream = plan.execute(def.partition as usize, task_ctx)?;
            let batches: Vec<_> = stream.try_collect().await?;
            tracing::debug!(
                stage = def.stage_id,
                partition = def.partition,
                plan_bytes = def.plan.len(),
                decode_ms = (run_start - decode_start).as_secs_f64() * 1e3,
                run_ms = run_start.elapsed().as_secs_f64() * 1e3,
                "task ran"
            );
            Ok((plan, batches))
        }
        .await;
        let mut metrics = TaskMetrics {
            shuffle_local_bytes: env.metrics.local_bytes.load(Ordering::Relaxed),
            shuffle_remote_bytes: env.metrics.remote_bytes.load(Ordering::Relaxed),
            input_rows: env.metrics.rows_read.load(Ordering::Relaxed),
            elapsed_ms: start.elapsed().as_millis() as u64,
            peak_rss_bytes: crate::peak_rss_bytes(),
            ..Default::default()
        };
        match outcome {
            Ok((plan, batches)) => {
                let (spills, spilled) = spill_metrics(&plan);
                metrics.spill_count = spills;
                metrics.spilled_bytes = spilled;
                let operator_metrics = kiln_core::plan_metrics::operator_metrics(&plan);
                let mut block_bytes = Vec::new();
                let mut block_rows = Vec::new();
                for b in &batches {
                    let (Some(ids), Some(rows), Some(bytes)) = (
                        b.column(0).as_any().downcast_ref::<UInt32Array>(),
                        b.column(1).as_any().downcast_ref::<UInt64Array>(),
                        b.column(2).as_any().downcast_ref::<UInt64Array>(),
                    ) else {
                        continue;
                    };
                    for i in 0..ids.len() {
                        let id = ids.value(i) as usize;
                        if block_bytes.len() <= id {
                            block_bytes.resize(id + 1, 0);
                            block_rows.resize(id + 1, 0);
                        }
                        block_bytes[id] = bytes.value(i);
                        block_rows[id] = rows.value(i);
                    }
                }
                metrics.output_rows = block_rows.iter().sum();
                metrics.output_bytes = block_bytes.iter().sum();
                if plan.is::<WriteFilesExec>()
                    && def.attempt == 0
                    && self.conf.hooks.fail_first_write
                {
                    return TaskResult {
                        status: TaskStatus::Failed as i32,
                        error: format!("{TEST_FAIL_FIRST_WRITE_ATTEMPT}: failing after the write"),
                        metrics: Some(metrics),
                        ..Default::default()
                    };
                }
                self.damage_for_test(&def);
                TaskResult {
                    status: TaskStatus::Succeeded as i32,
                    block_bytes,
                    block_rows,
                    metrics: Some(metrics),
                    operator_metrics,
                    shuffle_dir: self.shuffle_dir.to_string_lossy().into_owned(),
                    ..Default::default()
                }
            }
            Err(e) => {
                let mut r = TaskResult {
                    metrics: Some(metrics),
                    error: describe(&e),
                    ..Default::default()
                };
                if let Some(ff) = find_fetch_failure(&e) {
                    r.status = TaskStatus::FetchFailed as i32;
                    r.failed_stage_id = ff.stage_id;
                    r.failed_map_partition = ff.map_partition;
                    r.failed_executor_id = ff.executor_id;
                } else if crate::failure::is_deterministic(&e) {
                    r.status = TaskStatus::UserError as i32;
                } else {
                    r.status = TaskStatus::Failed as i32;
                }
                tracing::warn!(
                    stage = def.stage_id,
                    partition = def.partition,
                    attempt = def.attempt,
                    "task failed: {e}"
                );
                r
            }
        }
    }
}

impl TaskRunner {
    /// Applies `kiln.test.corruptShuffleBlock` (testing only) to the blocks
    /// this task just wrote, after their checksums were recorded.
    fn damage_for_test(&self, def: &TaskDefinition) {
        let Some(spec) = self.conf.hooks.corrupt_block else {
            return;
        };
        if spec.stage != def.stage_id || spec.map != def.partition || def.attempt != 0 {
            return;
        }
        let path = BlockId {
            stage: spec.stage,
            map: spec.map,
            attempt: 0,
            block: spec.block,
        }
        .path(&self.shuffle_dir);
        match spec.apply(&path) {
            Ok(()) => tracing::warn!("{TEST_CORRUPT_BLOCK}: damaged {}", path.display()),
            Err(e) => tracing::warn!(
                "{TEST_CORRUPT_BLOCK}: cannot damage {}: {e}",
                path.display()
            ),
        }
    }
}

/// The error's message without DataFusion's error-kind prefixes.
fn describe(e: &DataFusionError) -> String {
    kiln_core::error::strip_df_prefix(&e.to_string())
}

fn spill_metrics(plan: &Arc<dyn ExecutionPlan>) -> (u64, u64) {
    let mut count = 0u64;
    let mut bytes = 0u64;
    let _ = plan.apply(|node| {
        if let Some(m) = node.metrics() {
            count += m.spill_count().unwrap_or(0) as u64;
            bytes += m.spilled_bytes().unwrap_or(0) as u64;
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (count, bytes)
}

/// `plan` with a yield point above every join that multiplies rows out of
/// batches it holds (cross and nested-loop joins): they produce batch after
/// batch without awaiting anything, so a task running one would hold its
/// thread for its whole run; the executor could not answer RPCs, and a
/// cancelled task (its launch call dropped) would never stop.
fn with_yield_points(
    plan: Arc<dyn ExecutionPlan>,
) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::Transformed;
    use datafusion::physical_plan::coop::CooperativeExec;
    use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};
    plan.transform_up(|node| {
        if node.is::<CrossJoinExec>() || node.is::<NestedLoopJoinExec>() {
            let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
            Ok(Transformed::yes(wrapped))
        } else {
            Ok(Transformed::no(node))
        }
    })
    .map(|t| t.data)
}
