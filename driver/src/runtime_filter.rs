//! Runtime filters for shuffled joins: the planning half of
//! [`RuntimeFilterExec`].
//!
//! A join over two hash exchanges reads two map stages. When one of them is
//! selective (a filter, a grouping or a semi join somewhere below it) and the
//! join never emits the other side's unmatched rows, the other map stage
//! waits for the selective one and drops, before its shuffle, the rows whose
//! keys the selective side does not have (Spark's runtime bloom filters,
//! `spark.sql.optimizer.runtime.bloomFilter.enabled`). TPC-H q21's `EXISTS`
//! over all of `lineitem` then shuffles the few lines of the orders it asks
//! about instead of six million.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use kiln_core::runtime_filter::{RuntimeFilterExec, CREATION_SIDE_BYTES};
use kiln_core::shuffle::{OutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};

use crate::planner::{readers_in, Stage};

/// One filter to add: the map stage `filtered` keeps only the rows whose
/// keys `source`'s output has.
struct Planned {
    filtered: u32,
    source: Arc<dyn ExecutionPlan>,
}

/// Adds runtime filters to the map stages of `stages` that feed shuffled
/// joins, and reorders `stages` so that every stage still comes after the
/// stages it reads.
pub fn add_runtime_filters(stages: &mut Vec<Stage>) -> Result<()> {
    let index: HashMap<u32, usize> = stages.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut planned = Vec::new();
    for stage in stages.iter() {
        stage.plan.apply(|node| {
            if let Some(p) = plan_for_join(node, stages, &index) {
                planned.push(p);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let mut done = HashSet::new();
    for p in planned {
        let Some(&i) = index.get(&p.filtered) else {
            continue;
        };
        if !done.insert(p.filtered) {
            continue;
        }
        let Some(source_reader) = p.source.downcast_ref::<ShuffleReaderExec>() else {
            continue;
        };
        let source_id = source_reader.stage_id();
        let Some(source_keys) = index
            .get(&source_id)
            .and_then(|&s| hash_keys(&stages[s].plan))
        else {
            continue;
        };
        let stage = &stages[i];
        let Some(writer) = stage.plan.downcast_ref::<ShuffleWriterExec>() else {
            continue;
        };
        let OutputPartitioning::Hash(keys, _) = writer.partitioning() else {
            continue;
        };
        // Keys of unequal types hash apart: no filter then.
        let Ok(filter) = RuntimeFilterExec::try_new(
            writer.input().clone(),
            keys.clone(),
            p.source.clone(),
            source_keys,
        ) else {
            continue;
        };
        let plan = Arc::new(ShuffleWriterExec::new(
            Arc::new(filter),
            writer.stage_id(),
            writer.partitioning().clone(),
        ));
        let parents = readers_in(&(plan.clone() as Arc<dyn ExecutionPlan>))?;
        let stage = &mut stages[i];
        stage.plan = plan;
        stage.parents = parents;
        tracing::debug!(
            stage = stage.id,
            source = source_id,
            "runtime filter on the stage's join keys"
        );
    }
    order_by_dependencies(stages);
    Ok(())
}

/// The filter a shuffled hash join asks for, if any.
fn plan_for_join(
    node: &Arc<dyn ExecutionPlan>,
    stages: &[Stage],
    index: &HashMap<u32, usize>,
) -> Option<Planned> {
    let j = node.downcast_ref::<HashJoinExec>()?;
    if *j.partition_mode() != PartitionMode::Partitioned
        || j.null_aware
        || j.null_equality() != NullEquality::NullEqualsNothing
    {
        return None;
    }
    let left = j.left().downcast_ref::<ShuffleReaderExec>()?;
    let right = j.right().downcast_ref::<ShuffleReaderExec>()?;
    let (left_filterable, right_filterable) = match j.join_type() {
        JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi => (true, true),
        JoinType::LeftAnti | JoinType::Left => (false, true),
        JoinType::RightAnti | JoinType::Right => (true, false),
        _ => return None,
    };
    let stage = |id: u32| index.get(&id).map(|&i| &stages[i]);
    let (ls, rs) = (stage(left.stage_id())?, stage(right.stage_id())?);
    // A side DataFusion expects to be large is no source: its stage would
    // delay the other side only for the filter to be skipped at run time.
    let (l_selective, r_selective) = (
        selective(ls, stages, index) && !known_large(ls),
        selective(rs, stages, index) && !known_large(rs),
    );
    // Where either side could be filtered, only a selective side against
    // one that is not: with two selective sides (or none) neither is known
    // to be the small one.
    let both = left_filterable && right_filterable;
    if right_filterable && l_selective && !(both && r_selective) {
        Some(Planned {
            filtered: rs.id,
            source: j.left().clone(),
        })
    } else if left_filterable && r_selective && !(both && l_selective) {
        Some(Planned {
            filtered: ls.id,
            source: j.right().clone(),
        })
    } else {
        None
    }
}

/// Whether the rows of a stage are likely few: a filter, a grouping or a
/// semi or anti join in it or in a stage it reads.
fn selective(stage: &Stage, stages: &[Stage], index: &HashMap<u32, usize>) -> bool {
    let mut todo = vec![stage.id];
    let mut seen = HashSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(s) = index.get(&id).map(|&i| &stages[i]) else {
            continue;
        };
        let mut found = false;
        let _ = s.plan.apply(|n| {
            found = n.is::<FilterExec>()
                || n.downcast_ref::<AggregateExec>()
                    .is_some_and(|a| !a.group_expr().expr().is_empty())
                || n.downcast_ref::<HashJoinExec>().is_some_and(|j| {
                    matches!(
                        j.join_type(),
                        JoinType::LeftSemi
                            | JoinType::RightSemi
                            | JoinType::LeftAnti
                            | JoinType::RightAnti
                    )
                });
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        });
        if found {
            return true;
        }
        todo.extend(s.parents.iter().copied());
    }
    false
}

/// Whether DataFusion estimates a map stage's output above
/// [`CREATION_SIDE_BYTES`].
fn known_large(stage: &Stage) -> bool {
    let Some(writer) = stage.plan.downcast_ref::<ShuffleWriterExec>() else {
        return false;
    };
    StatisticsContext::new()
        .compute(writer.input().as_ref(), &StatisticsArgs::new())
        .ok()
        .and_then(|s| s.total_byte_size.get_value().copied())
        .is_some_and(|bytes| bytes as u64 > CREATION_SIDE_BYTES)
}

/// The hash keys a map stage writes by.
fn hash_keys(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<Arc<dyn PhysicalExpr>>> {
    match plan.downcast_ref::<ShuffleWriterExec>()?.partitioning() {
        OutputPartitioning::Hash(keys, _) => Some(keys.clone()),
        _ => None,
    }
}

/// Puts every stage after the stages it reads, keeping the order otherwise.
fn order_by_dependencies(stages: &mut Vec<Stage>) {
    let mut placed: HashSet<u32> = HashSet::new();
    let mut rest: Vec<Stage> = std::mem::take(stages);
    while !rest.is_empty() {
        let ready = rest.iter().position(|s| {
            s.parents
                .iter()
                .all(|p| placed.contains(p) || !rest.iter().any(|r| r.id == *p))
        });
        // A cycle cannot arise (a filter only links the two sides of one
        // join); keep the rest as it was rather than loop.
        let Some(i) = ready else {
            stages.append(&mut rest);
            return;
        };
        let s = rest.remove(i);
        placed.insert(s.id);
        stages.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::plan_job;
    use crate::planner::tests::physical;

    fn filters(stages: &[Stage]) -> Vec<(u32, Vec<u32>)> {
        stages
            .iter()
            .filter(|s| {
                s.plan
                    .exists(|n| Ok(n.is::<RuntimeFilterExec>()))
                    .unwrap_or(false)
            })
            .map(|s| (s.id, s.parents.clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_other_side_of_an_anti_join_waits_for_the_selective_one() {
        // No broadcasts: the join shuffles both sides.
        let (_, plan, _dir) = physical(
            "SELECT a.k, a.v FROM t a WHERE a.v < 10 \
             AND NOT EXISTS (SELECT 1 FROM t b WHERE b.k = a.k AND b.v > 3)",
        )
        .await;
        let mut job = plan_job(plan, &mut 1, 0).expect("plan job");
        add_runtime_filters(&mut job.stages).expect("filters");
        // The anti join keeps the left side's rows; the right side is
        // filtered whatever its own predicate.
        assert_eq!(filters(&job.stages).len(), 1, "{:?}", job.stages);

        // An inner join of two selective sides: neither is known to be small.
        let (_, plan, _dir) = physical(
            "SELECT a.k, b.v FROM (SELECT * FROM t WHERE v < 10) a \
             JOIN (SELECT * FROM t WHERE v > 3) b ON a.k = b.k",
        )
        .await;
        let mut job = plan_job(plan, &mut 1, 0).expect("plan job");
        add_runtime_filters(&mut job.stages).expect("filters");
        assert!(filters(&job.stages).is_empty(), "{:?}", job.stages);

        let (_, plan, _dir) = physical(
            "SELECT a.k, a.v FROM t a WHERE a.v < 10 \
             AND NOT EXISTS (SELECT 1 FROM t b WHERE b.k = a.k)",
        )
        .await;
        let mut job = plan_job(plan, &mut 1, 0).expect("plan job");
        add_runtime_filters(&mut job.stages).expect("filters");
        let added = filters(&job.stages);
        // The anti join keeps the selective side's rows: the other side (all
        // of `t`) is filtered by its keys and now reads its output.
        assert_eq!(added.len(), 1, "{:?}", job.stages);
        let (filtered, parents) = &added[0];
        assert_eq!(parents.len(), 1, "{parents:?}");
        let position = |id: u32| job.stages.iter().position(|s| s.id == id);
        assert!(
            position(parents[0]) < position(*filtered),
            "{:?}",
            job.stages
        );
        // The filter is built from the source stage's keys: the plan survives
        // the trip to an executor.
        let stage = &job.stages[position(*filtered).unwrap_or_default()];
        let bytes = kiln_core::codec::encode_plan(stage.plan.clone()).expect("encode");
        let ctx = datafusion::prelude::SessionContext::new();
        let back = kiln_core::codec::decode_plan(&bytes, &ctx.task_ctx()).expect("decode");
        assert!(back
            .exists(|n| Ok(n.is::<RuntimeFilterExec>()))
            .unwrap_or(false));
    }

    #[tokio::test]
    async fn a_left_join_filters_only_its_right_side() {
        let (_, plan, _dir) = physical(
            "SELECT a.k, b.v FROM (SELECT * FROM t WHERE v < 10) a LEFT JOIN t b ON a.k = b.k",
        )
        .await;
        let mut job = plan_job(plan, &mut 1, 0).expect("plan job");
        add_runtime_filters(&mut job.stages).expect("filters");
        assert_eq!(filters(&job.stages).len(), 1, "{:?}", job.stages);

        let (_, plan, _dir) = physical(
            "SELECT a.k, b.v FROM t a LEFT JOIN (SELECT * FROM t WHERE v < 10) b ON a.k = b.k",
        )
        .await;
        let mut job = plan_job(plan, &mut 1, 0).expect("plan job");
        add_runtime_filters(&mut job.stages).expect("filters");
        // The preserved (left) side keeps every row.
        assert!(filters(&job.stages).is_empty(), "{:?}", job.stages);
    }
}
