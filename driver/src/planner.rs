//! The distributed planner: cuts DataFusion's physical plan at every exchange
//! into a DAG of stages.
//!
//! A `RepartitionExec` becomes a map stage ending in a hash (or round-robin)
//! [`ShuffleWriterExec`] and a [`ShuffleReaderExec`] in the parent. A
//! `CoalescePartitionsExec` or `SortPreservingMergeExec` over several
//! partitions keeps its node in the parent, now over a reader of the child
//! stage's blocks. What remains above the last exchange (usually a merge, a
//! final aggregation of one partition, a limit) runs on the driver; a file
//! sink instead becomes a last stage whose tasks write the files.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::JoinType;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, PartitionMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};
use kiln_core::requested_repartition::RequestedRepartitionExec;
use kiln_core::shuffle::{OutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};
use kiln_core::write::{file_sink, writes_one_file, WriteFilesExec};

/// One stage: a plan rooted at a shuffle writer (or, for the last stage of a
/// write, a file writer), run as one task per partition.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Unique within the application.
    pub id: u32,
    /// The plan, rooted at a [`ShuffleWriterExec`] or a [`WriteFilesExec`].
    pub plan: Arc<dyn ExecutionPlan>,
    /// Stages whose output this stage reads.
    pub parents: Vec<u32>,
    /// Number of tasks (= partitions of the writer's input).
    pub partitions: usize,
    /// Number of blocks each task writes.
    pub reduce_partitions: usize,
}

/// The stages of one job and how its result comes about.
#[derive(Debug)]
pub struct JobPlan {
    /// Stages, every stage after the stages it reads.
    pub stages: Vec<Stage>,
    /// What the job yields once its stages ran.
    pub result: JobResult,
}

/// How a job ends.
#[derive(Debug)]
pub enum JobResult {
    /// Rows: the driver runs `plan` (a merge, a final aggregate of one
    /// partition, a limit), reading the output of the stages `parents`.
    Rows {
        /// The plan the driver runs at the end.
        plan: Arc<dyn ExecutionPlan>,
        /// Stages it reads.
        parents: Vec<u32>,
    },
    /// Files: the tasks of stage `stage` wrote them (a `COPY` or `INSERT`);
    /// the job's result is the number of rows they wrote.
    Files {
        /// The write stage.
        stage: u32,
    },
}

/// Cuts `plan` into stages, numbering them from `*next_stage_id`.
/// `broadcast_bytes`: the largest join side (by DataFusion's estimate) that
/// may be sent whole to every task (Spark's `spark.sql.autoBroadcastJoinThreshold`).
///
/// A plan rooted at a file sink (`COPY`, `INSERT` into files) ends in a
/// write stage whose tasks write the files: one task per partition of the
/// sink's input, or a single task when the output is one file or its order
/// matters (a sorted or limited result).
pub fn plan_job(
    plan: Arc<dyn ExecutionPlan>,
    next_stage_id: &mut u32,
    broadcast_bytes: usize,
) -> Result<JobPlan> {
    let plan = split_build_side_joins(plan, broadcast_bytes)?;
    let mut stages = Vec::new();
    if let Some((input, sink)) = file_write(&plan) {
        let input = cut(input, &mut stages, next_stage_id)?;
        let id = *next_stage_id;
        *next_stage_id += 1;
        stages.push(Stage {
            id,
            parents: readers_in(&input)?,
            partitions: input.output_partitioning().partition_count(),
            reduce_partitions: 1,
            plan: Arc::new(WriteFilesExec::new(input, sink, id)),
        });
        return Ok(JobPlan {
            stages,
            result: JobResult::Files { stage: id },
        });
    }
    let mut root = cut(plan, &mut stages, next_stage_id)?;
    let n = root.output_partitioning().partition_count();
    // Python runs on executors' workers only: a Python node above the last
    // exchange gets a stage of its own rather than running on the driver.
    let python_on_top = root.exists(|p| Ok(p.is::<kiln_core::python::exec::PythonExec>()))?;
    if n > 1 || readers_in(&root)?.is_empty() || python_on_top {
        // Nothing was cut (a plain scan), or the top of the plan still has
        // several partitions (a join or scan with no merge above it): run it
        // on executors and let the driver only read the result.
        root = make_stage(
            root,
            OutputPartitioning::PassThrough(n.max(1)),
            &mut stages,
            next_stage_id,
        )?;
    } else {
        // The driver runs this one partition itself: partition-dependent
        // functions (`rand(seed)`, `spark_partition_id()`) see partition 0,
        // as in Spark's single-partition final stage.
        root = kiln_functions::bind_to_partition(root, 0)?;
    }
    let parents = readers_in(&root)?;
    Ok(JobPlan {
        stages,
        result: JobResult::Rows {
            plan: root,
            parents,
        },
    })
}

/// The input and sink of a plan that writes files. The single partition
/// DataFusion brings a sink's input to is undone where it only gathers
/// partitions (`CoalescePartitionsExec` into a folder): each task then
/// writes its own files. A merge of sorted partitions, a limit or a
/// single-file target keep their one partition, and so one writing task.
fn file_write(
    plan: &Arc<dyn ExecutionPlan>,
) -> Option<(Arc<dyn ExecutionPlan>, Arc<dyn DataSink>)> {
    let exec = plan.downcast_ref::<DataSinkExec>()?;
    let (config, rebuild) = file_sink(exec.sink())?;
    let single_file = writes_one_file(config);
    let mut input = exec.input().clone();
    if !single_file {
        if let Some(c) = input.downcast_ref::<CoalescePartitionsExec>() {
            if c.fetch().is_none() {
                input = c.input().clone();
            }
        }
    }
    if input.output_partitioning().partition_count() > 1 && single_file {
        input = Arc::new(CoalescePartitionsExec::new(input));
    }
    Some((input, rebuild(config.clone())))
}

/// Joins that emit build-side rows at the end (left/full outer, left semi,
/// anti and mark) keep one shared "visited" bitmap across all probe
/// partitions when the build side is collected (`CollectLeft`), and the last
/// partition to finish emits the rows. Run as separate tasks, every task
/// would wait for the others and none would emit. Such a join becomes a
/// partitioned join over hash exchanges on its keys; a null-aware anti join
/// (`NOT IN`) over nullable keys needs global knowledge of nulls instead, so
/// its probe side is brought to one partition.
fn split_build_side_joins(
    plan: Arc<dyn ExecutionPlan>,
    broadcast_bytes: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    let rewritten = plan.transform_up(|node| {
        if let Some(j) = node.downcast_ref::<HashJoinExec>() {
            let n = j.right().output_partitioning().partition_count();
            if *j.partition_mode() != PartitionMode::CollectLeft
                || !emits_build_side(j.join_type())
                || n <= 1
            {
                return Ok(Transformed::no(node));
            }
            let nullable_keys = j.on().iter().any(|(l, r)| {
                l.nullable(&j.left().schema()).unwrap_or(true)
                    || r.nullable(&j.right().schema()).unwrap_or(true)
            });
            if j.null_aware && nullable_keys {
                let right: Arc<dyn ExecutionPlan> =
                    Arc::new(CoalescePartitionsExec::new(j.right().clone()));
                let new = j
                    .builder()
                    .with_new_children(vec![j.left().clone(), right])?
                    .recompute_properties();
                return Ok(Transformed::yes(new.build_exec()?));
            }
            // A semi or anti join whose probe side is small too swaps sides
            // instead: the probe side becomes the collected (broadcast) side
            // and the rows come out of the other side as they match, with no
            // shared state. A large probe side is not broadcast: every task
            // would build a hash table over all of it (TPC-H q21: 6M rows).
            if !j.null_aware
                && matches!(j.join_type(), JoinType::LeftSemi | JoinType::LeftAnti)
                && fits_broadcast(j.right(), broadcast_bytes)
            {
                let swapped = j.swap_inputs(PartitionMode::CollectLeft)?;
                if swapped.is::<HashJoinExec>() {
                    let probe = without_coalesce(j.left())?;
                    let build: Arc<dyn ExecutionPlan> =
                        Arc::new(CoalescePartitionsExec::new(j.right().clone()));
                    return Ok(Transformed::yes(replace_children_if_necessary(
                        swapped,
                        vec![build, probe],
                    )?));
                }
            }
            let left_input = without_coalesce(j.left())?;
            let (lk, rk): (Vec<_>, Vec<_>) = j.on().iter().cloned().unzip();
            let left: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
                left_input,
                Partitioning::Hash(lk, n),
            )?);
            let right: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
                j.right().clone(),
                Partitioning::Hash(rk, n),
            )?);
            let new = j
                .builder()
                .with_partition_mode(PartitionMode::Partitioned)
                .with_null_aware(false)
                .with_new_children(vec![left, right])?
                .recompute_properties();
            return Ok(Transformed::yes(new.build_exec()?));
        }
        if let Some(j) = node.downcast_ref::<NestedLoopJoinExec>() {
            let children: Vec<Arc<dyn ExecutionPlan>> =
                node.children().into_iter().cloned().collect();
            if let [left, right] = children.as_slice() {
                if !emits_build_side(j.join_type())
                    || right.output_partitioning().partition_count() <= 1
                {
                    return Ok(Transformed::no(node));
                }
                let left = left.clone();
                let right: Arc<dyn ExecutionPlan> =
                    Arc::new(CoalescePartitionsExec::new(right.clone()));
                return Ok(Transformed::yes(replace_children_if_necessary(
                    node,
                    vec![left, right],
                )?));
            }
        }
        Ok(Transformed::no(node))
    })?;
    Ok(rewritten.data)
}

/// Whether DataFusion's size estimate of `plan` is within `limit` bytes
/// (unknown sizes are not).
fn fits_broadcast(plan: &Arc<dyn ExecutionPlan>, limit: usize) -> bool {
    StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .ok()
        .and_then(|s| s.total_byte_size.get_value().copied())
        .is_some_and(|bytes| bytes <= limit)
}

/// The input of a `CoalescePartitionsExec`, or the plan itself.
fn without_coalesce(plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.is::<CoalescePartitionsExec>() {
        single(plan.children().into_iter().cloned().collect())
    } else {
        Ok(plan.clone())
    }
}

fn emits_build_side(t: &JoinType) -> bool {
    matches!(
        t,
        JoinType::Left
            | JoinType::LeftSemi
            | JoinType::LeftAnti
            | JoinType::LeftMark
            | JoinType::Full
    )
}

fn cut(
    plan: Arc<dyn ExecutionPlan>,
    stages: &mut Vec<Stage>,
    next_id: &mut u32,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children: Vec<Arc<dyn ExecutionPlan>> = plan
        .children()
        .into_iter()
        .map(|c| cut(c.clone(), stages, next_id))
        .collect::<Result<_>>()?;

    // The user's round-robin repartition deals rows, as Spark's does;
    // DataFusion's own round-robin exchanges move whole batches.
    let requested = plan
        .downcast_ref::<RequestedRepartitionExec>()
        .and_then(RequestedRepartitionExec::repartition);
    if let Some(rep) = requested.or_else(|| plan.downcast_ref::<RepartitionExec>()) {
        let input = single(children)?;
        let partitioning = match (rep.partitioning(), requested.is_some()) {
            (Partitioning::Hash(exprs, n), _) => OutputPartitioning::Hash(exprs.clone(), *n),
            (Partitioning::RoundRobinBatch(n), true) => OutputPartitioning::RoundRobin(*n),
            (other, _) => OutputPartitioning::RoundRobinBatch(other.partition_count()),
        };
        return make_stage(input, partitioning, stages, next_id);
    }
    if plan.is::<CoalescePartitionsExec>() || plan.is::<SortPreservingMergeExec>() {
        let input = single(children)?;
        let n = input.output_partitioning().partition_count();
        if n <= 1 {
            return replace_children_if_necessary(plan, vec![input]);
        }
        let kind = if plan.is::<CoalescePartitionsExec>() {
            OutputPartitioning::Single
        } else {
            OutputPartitioning::PassThrough(n)
        };
        let reader = make_stage(input, kind, stages, next_id)?;
        return replace_children_if_necessary(plan, vec![reader]);
    }
    if children.is_empty() {
        return Ok(plan);
    }
    replace_children_if_necessary(plan, children)
}

fn single(mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
    match (children.pop(), children.is_empty()) {
        (Some(c), true) => Ok(c),
        _ => Err(DataFusionError::Internal(
            "exchange with other than one input".into(),
        )),
    }
}

fn make_stage(
    input: Arc<dyn ExecutionPlan>,
    partitioning: OutputPartitioning,
    stages: &mut Vec<Stage>,
    next_id: &mut u32,
) -> Result<Arc<dyn ExecutionPlan>> {
    let id = *next_id;
    *next_id += 1;
    let schema = input.schema();
    // Columns constant in the map output stay constant after the exchange
    // (rows move between partitions, values do not change).
    let constants: Vec<usize> = {
        use datafusion::physical_expr::expressions::Column;
        input
            .equivalence_properties()
            .constants()
            .iter()
            .filter_map(|c| c.expr.downcast_ref::<Column>().map(Column::index))
            .collect()
    };
    let reduce = partitioning.reduce_partitions();
    let partitions = input.output_partitioning().partition_count();
    let parents = readers_in(&input)?;
    let writer: Arc<dyn ExecutionPlan> = Arc::new(ShuffleWriterExec::new(input, id, partitioning));
    stages.push(Stage {
        id,
        plan: writer,
        parents,
        partitions,
        reduce_partitions: reduce,
    });
    Ok(Arc::new(ShuffleReaderExec::with_constants(
        id, schema, reduce, constants,
    )))
}

/// Stage ids of the shuffle readers in a plan (not looking into other stages).
pub fn readers_in(plan: &Arc<dyn ExecutionPlan>) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    plan.apply(|node| {
        if let Some(r) = node.downcast_ref::<ShuffleReaderExec>() {
            if !ids.contains(&r.stage_id()) {
                ids.push(r.stage_id());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ids)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};

    /// A session with table `t` (`k`, `v`: 200 rows in two CSV files) and
    /// the physical plan of `sql` in it.
    pub(crate) async fn physical(
        sql: &str,
    ) -> (SessionContext, Arc<dyn ExecutionPlan>, tempfile::TempDir) {
        let config = kiln_core::config::EngineConf::parse(&Default::default())
            .and_then(|c| c.session_config(2))
            .unwrap_or_else(|_| SessionConfig::new());
        let ctx = SessionContext::new_with_config(config);
        let dir = tempfile::tempdir().expect("tempdir");
        for f in 0..2 {
            let rows: String = (0..100)
                .map(|i| format!("{},{i}\n", (i + f * 3) % 7))
                .collect();
            std::fs::write(
                dir.path().join(format!("part-{f}.csv")),
                format!("k,v\n{rows}"),
            )
            .expect("write");
        }
        let path = format!("{}/", dir.path().display());
        ctx.register_csv("t", &path, CsvReadOptions::new().has_header(true))
            .await
            .expect("register");
        let plan = plan_sql(&ctx, sql).await;
        (ctx, plan, dir)
    }

    /// The physical plan of `sql` in `ctx`.
    pub(crate) async fn plan_sql(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        ctx.sql(sql)
            .await
            .expect("sql")
            .create_physical_plan()
            .await
            .expect("plan")
    }

    #[tokio::test]
    async fn aggregation_is_cut_at_its_exchanges() {
        let (_, plan, _dir) = physical("SELECT k, sum(v) FROM t GROUP BY k ORDER BY k").await;
        let mut next = 1;
        let job = plan_job(plan, &mut next, 10 << 20).expect("plan job");
        // partial aggregate -> hash exchange -> final aggregate + sort -> merge on the driver
        assert_eq!(job.stages.len(), 2, "{job:?}");
        assert_eq!(job.stages[0].reduce_partitions, 2);
        assert_eq!(job.stages[1].parents, vec![job.stages[0].id]);
        let JobResult::Rows { plan, parents } = &job.result else {
            panic!("a query yields rows: {job:?}")
        };
        assert_eq!(parents, &vec![job.stages[1].id]);
        assert!(plan.is::<SortPreservingMergeExec>());
        assert!(readers_in(&job.stages[0].plan).expect("walk").is_empty());
    }

    #[tokio::test]
    async fn stage_plans_survive_the_codec() {
        let (ctx, plan, _dir) =
            physical("SELECT a.k, count(*) FROM t a JOIN t b ON a.k = b.k GROUP BY a.k").await;
        let mut next = 10;
        let job = plan_job(plan, &mut next, 10 << 20).expect("plan job");
        assert!(job.stages.len() >= 2);
        let task_ctx = ctx.task_ctx();
        for s in &job.stages {
            let bytes = kiln_core::codec::encode_plan(s.plan.clone()).expect("encode");
            let back = kiln_core::codec::decode_plan(&bytes, &task_ctx).expect("decode");
            assert!(back.is::<ShuffleWriterExec>());
            assert_eq!(readers_in(&back).expect("walk"), s.parents);
            assert_eq!(
                back.output_partitioning().partition_count(),
                s.plan.output_partitioning().partition_count()
            );
        }
    }

    #[tokio::test]
    async fn only_a_requested_round_robin_deals_rows() {
        use datafusion::config::ConfigOptions;
        use datafusion::physical_optimizer::PhysicalOptimizerRule;
        let (_, scan, _dir) = physical("SELECT k, v FROM t").await;
        let own: Arc<dyn ExecutionPlan> = Arc::new(
            RepartitionExec::try_new(scan, Partitioning::RoundRobinBatch(3)).expect("exchange"),
        );
        let requested = kiln_core::requested_repartition::KeepRequested
            .optimize(own.clone(), &ConfigOptions::default())
            .expect("marker");
        for (plan, deals_rows) in [(own, false), (requested, true)] {
            let mut next = 1;
            let job = plan_job(plan, &mut next, 10 << 20).expect("plan job");
            let writer = job.stages[0]
                .plan
                .downcast_ref::<ShuffleWriterExec>()
                .expect("a shuffle writer");
            let got = writer.partitioning();
            let ok = match deals_rows {
                true => matches!(got, OutputPartitioning::RoundRobin(3)),
                false => matches!(got, OutputPartitioning::RoundRobinBatch(3)),
            };
            assert!(ok, "requested: {deals_rows}, got {got:?}");
        }
    }

    /// (join type, partition mode) of every hash join in the job's stages.
    fn hash_joins(job: &JobPlan) -> Vec<(JoinType, PartitionMode)> {
        let mut out = Vec::new();
        for s in &job.stages {
            let _ = s.plan.apply(|node| {
                if let Some(j) = node.downcast_ref::<HashJoinExec>() {
                    out.push((*j.join_type(), *j.partition_mode()));
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        out
    }

    #[tokio::test]
    async fn semi_joins_swap_sides_only_when_the_probe_side_may_be_broadcast() {
        // An in-memory table: exact sizes, so DataFusion collects by size.
        let (ctx, _, _dir) = physical("SELECT 1").await;
        ctx.sql("CREATE TABLE m AS SELECT * FROM t")
            .await
            .expect("create")
            .collect()
            .await
            .expect("fill");
        let plan = plan_sql(
            &ctx,
            "SELECT k FROM m WHERE v < 10 AND k IN (SELECT k FROM m)",
        )
        .await;
        // DataFusion collects the (small) left side of the semi join.
        let mut collected_semi = false;
        let _ = plan.apply(|node| {
            if let Some(j) = node.downcast_ref::<HashJoinExec>() {
                collected_semi |= *j.join_type() == JoinType::LeftSemi
                    && *j.partition_mode() == PartitionMode::CollectLeft;
            }
            Ok(TreeNodeRecursion::Continue)
        });
        assert!(
            collected_semi,
            "{}",
            displayable(plan.as_ref()).indent(false)
        );

        // Both sides small: swapped, the other side is broadcast.
        let job = plan_job(plan.clone(), &mut 1, 10 << 20).expect("plan job");
        assert_eq!(
            hash_joins(&job),
            vec![(JoinType::RightSemi, PartitionMode::CollectLeft)],
            "{job:?}"
        );
        // The probe side may not be broadcast: both sides are shuffled.
        let job = plan_job(plan, &mut 1, 0).expect("plan job");
        assert_eq!(
            hash_joins(&job),
            vec![(JoinType::LeftSemi, PartitionMode::Partitioned)],
            "{job:?}"
        );
    }

    #[tokio::test]
    async fn a_copy_ends_in_a_write_stage_with_a_task_per_partition() {
        let (ctx, _, dir) = physical("SELECT 1").await;
        let out = dir.path().join("out");
        let sql = format!(
            "COPY (SELECT k, sum(v) AS s FROM t GROUP BY k) TO '{}/' STORED AS CSV",
            out.display()
        );
        let plan = plan_sql(&ctx, &sql).await;
        let job = plan_job(plan, &mut 1, 10 << 20).expect("plan job");
        let JobResult::Files { stage } = job.result else {
            panic!("a COPY writes files: {job:?}")
        };
        let last = job.stages.last().expect("stages");
        assert_eq!(last.id, stage);
        assert!(last.plan.is::<WriteFilesExec>());
        // The write stage travels to executors with its sink's location.
        let bytes = kiln_core::codec::encode_plan(last.plan.clone()).expect("encode");
        let back = kiln_core::codec::decode_plan(&bytes, &ctx.task_ctx()).expect("decode");
        let location = |p: &Arc<dyn ExecutionPlan>| {
            let w = p.downcast_ref::<WriteFilesExec>().expect("file writer");
            let (config, _) = file_sink(w.sink().as_ref()).expect("file sink");
            config.table_paths[0].as_str().to_string()
        };
        assert_eq!(location(&back), location(&last.plan));
        assert!(location(&back).ends_with("/out/"), "{}", location(&back));
        // The final aggregate's 2 partitions are written by 2 tasks; no
        // coalescing to one partition is left in the write stage.
        assert_eq!(last.partitions, 2);
        assert!(
            last.plan.children()[0]
                .output_partitioning()
                .partition_count()
                == 2
        );

        let sorted = format!(
            "COPY (SELECT k, v FROM t ORDER BY k) TO '{}/' STORED AS CSV",
            out.display()
        );
        let plan = plan_sql(&ctx, &sorted).await;
        let job = plan_job(plan, &mut 1, 10 << 20).expect("plan job");
        let last = job.stages.last().expect("stages");
        assert!(last.plan.is::<WriteFilesExec>());
        assert_eq!(last.partitions, 1, "a sorted result has one writer");
    }

    #[tokio::test]
    async fn a_plan_without_a_merge_on_top_runs_on_executors() {
        let (_, plan, _dir) = physical("SELECT a.k, b.v FROM t a JOIN t b ON a.k = b.k").await;
        assert!(plan.output_partitioning().partition_count() > 1);
        let job = plan_job(plan, &mut 1, 10 << 20).expect("plan job");
        let JobResult::Rows { plan, parents } = &job.result else {
            panic!("a query yields rows: {job:?}")
        };
        // The driver only reads the last stage's blocks; the join ran in a stage.
        assert!(plan.is::<ShuffleReaderExec>(), "{job:?}");
        assert_eq!(parents.len(), 1);
        assert!(hash_joins(&job).len() == 1, "{job:?}");
    }
}
