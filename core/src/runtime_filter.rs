//! [`RuntimeFilterExec`]: a runtime filter on one side of a shuffled join.
//!
//! Spark builds a runtime (bloom) filter from the small, selective side of a
//! join and applies it to the other side before that side is shuffled
//! (`spark.sql.optimizer.runtime.bloomFilter.enabled`). Kiln's filter is the
//! set of the 64-bit hashes of the small side's join keys, read from that
//! side's shuffle output once it is written: rows of the large side whose key
//! hash is not in the set cannot find a partner and are dropped before they
//! are hashed, written, fetched and probed. A hash collision only lets a row
//! through (the join still compares keys), never drops one.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use crate::shuffle::{ShuffleReaderExec, ShuffleTaskEnv};

/// Beyond this many distinct key hashes the small side was not small: the
/// filter lets every row through rather than hold more (about 16 bytes each).
pub const MAX_KEYS: usize = 4 << 20;

/// The most shuffle output a filter is built from: the default of Spark's
/// `spark.sql.optimizer.runtime.bloomFilter.creationSideThreshold` (10 MiB).
/// Past it the side is not small enough to be worth reading in every task,
/// and the filter lets every row through.
pub const CREATION_SIDE_BYTES: u64 = 10 << 20;

/// One seed for both sides, so equal keys hash alike.
const KEY_HASH: RandomState = RandomState::with_seed(0x6b69_6c6e);

/// Drops the rows of `input` whose `keys` hash to no value of `source_keys`
/// over all partitions of `source` (the small side's shuffle output).
#[derive(Debug)]
pub struct RuntimeFilterExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    source: Arc<dyn ExecutionPlan>,
    source_keys: Vec<Arc<dyn PhysicalExpr>>,
    properties: Arc<PlanProperties>,
}

impl RuntimeFilterExec {
    /// A filter of `input` on `keys` (expressions over its schema) by the
    /// `source_keys` (over `source`'s schema) of every row of `source`.
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        source: Arc<dyn ExecutionPlan>,
        source_keys: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Self> {
        if keys.is_empty() || keys.len() != source_keys.len() {
            return Err(DataFusionError::Internal(format!(
                "runtime filter with {} keys against {} source keys",
                keys.len(),
                source_keys.len()
            )));
        }
        let (schema, source_schema) = (input.schema(), source.schema());
        for (k, s) in keys.iter().zip(&source_keys) {
            let (kt, st) = (k.data_type(&schema)?, s.data_type(&source_schema)?);
            if kt != st {
                return Err(DataFusionError::Internal(format!(
                    "runtime filter keys of different types: {kt} and {st}"
                )));
            }
        }
        // Dropping rows keeps the input's partitioning, order and constants.
        let properties = Arc::new(input.properties().as_ref().clone());
        Ok(RuntimeFilterExec {
            input,
            keys,
            source,
            source_keys,
            properties,
        })
    }

    /// The filtered side.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// The filtered side's key expressions.
    pub fn keys(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.keys
    }

    /// The small side, read whole to build the filter.
    pub fn source(&self) -> &Arc<dyn ExecutionPlan> {
        &self.source
    }

    /// The small side's key expressions.
    pub fn source_keys(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.source_keys
    }
}

impl DisplayAs for RuntimeFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names = |keys: &[Arc<dyn PhysicalExpr>]| {
            keys.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "RuntimeFilterExec: keys=[{}], source_keys=[{}]",
            names(&self.keys),
            names(&self.source_keys)
        )
    }
}

impl ExecutionPlan for RuntimeFilterExec {
    fn name(&self) -> &str {
        "RuntimeFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input, &self.source]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        crate::apply_each(self.keys.iter().chain(&self.source_keys), f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input, source] = <[_; 2]>::try_from(children).map_err(|_| {
            DataFusionError::Internal("RuntimeFilterExec takes two children".into())
        })?;
        Ok(Arc::new(RuntimeFilterExec::try_new(
            input,
            self.keys.clone(),
            source,
            self.source_keys.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context.clone())?;
        let source = self.source.clone();
        let source_keys = self.source_keys.clone();
        let keys = self.keys.clone();
        let stream = futures::stream::once(async move {
            let set = key_hashes(&source, &source_keys, context, MAX_KEYS).await?;
            Ok::<_, DataFusionError>(
                input.and_then(move |batch| std::future::ready(retain(batch, &keys, set.as_ref()))),
            )
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.input.schema(),
            stream,
        )))
    }
}

/// Hashes taken as they are: they are already well mixed.
#[derive(Default)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<AsIs>>;

/// The key hashes of every row of every partition of `source` with no null
/// key; `None` when there are more than `max_keys` ([`MAX_KEYS`]).
async fn key_hashes(
    source: &Arc<dyn ExecutionPlan>,
    keys: &[Arc<dyn PhysicalExpr>],
    context: Arc<TaskContext>,
    max_keys: usize,
) -> Result<Option<KeySet>> {
    // Inside a task the source's map outputs, and so its size, are known.
    if let Some(reader) = source.downcast_ref::<ShuffleReaderExec>() {
        if let Ok(env) = ShuffleTaskEnv::of(&context, "runtime filter") {
            let bytes: u64 = env
                .inputs
                .get(&reader.stage_id())
                .map(|outs| outs.iter().flat_map(|o| &o.block_bytes).sum())
                .unwrap_or(0);
            if bytes > CREATION_SIDE_BYTES {
                return Ok(None);
            }
        }
    }
    let mut set = KeySet::default();
    let mut hashes = Vec::new();
    for p in 0..source.output_partitioning().partition_count() {
        let mut stream = source.execute(p, context.clone())?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let arrays = evaluate(&batch, keys)?;
            hashes.clear();
            hashes.resize(batch.num_rows(), 0);
            create_hashes(&arrays, &KEY_HASH, &mut hashes)?;
            for (row, h) in hashes.iter().enumerate() {
                if arrays.iter().all(|a| a.is_valid(row)) {
                    set.insert(*h);
                }
            }
            if set.len() > max_keys {
                return Ok(None);
            }
        }
    }
    Ok(Some(set))
}

fn evaluate(batch: &RecordBatch, keys: &[Arc<dyn PhysicalExpr>]) -> Result<Vec<ArrayRef>> {
    keys.iter()
        .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

/// The rows of `batch` whose key hash is in `set` (all rows without a set).
fn retain(
    batch: RecordBatch,
    keys: &[Arc<dyn PhysicalExpr>],
    set: Option<&KeySet>,
) -> Result<RecordBatch> {
    let Some(set) = set else {
        return Ok(batch);
    };
    let arrays = evaluate(&batch, keys)?;
    let mut hashes = vec![0; batch.num_rows()];
    create_hashes(&arrays, &KEY_HASH, &mut hashes)?;
    // A null key matches nothing in an equi-join.
    let keep: BooleanArray = hashes
        .iter()
        .enumerate()
        .map(|(row, h)| Some(set.contains(h) && arrays.iter().all(|a| a.is_valid(row))))
        .collect();
    Ok(filter_record_batch(&batch, &keep)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;

    fn table(ids: Vec<Option<i64>>, names: Vec<&str>, partitions: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap();
        let n = batch.num_rows();
        let per = n.div_ceil(partitions.max(1)).max(1);
        let parts: Vec<Vec<RecordBatch>> = (0..partitions)
            .map(|p| {
                let start = (p * per).min(n);
                vec![batch.slice(start, per.min(n - start))]
            })
            .collect();
        MemorySourceConfig::try_new_exec(&parts, schema, None).unwrap()
    }

    #[tokio::test]
    async fn keeps_the_rows_whose_key_the_small_side_has() {
        let big = table(
            vec![Some(1), Some(2), Some(3), None, Some(5), Some(2)],
            vec!["a", "b", "c", "d", "e", "f"],
            1,
        );
        // Keys spread over two partitions of the small side, one of them null.
        let small = table(vec![Some(2), None, Some(5)], vec!["x", "y", "z"], 2);
        let filter = RuntimeFilterExec::try_new(
            big.clone(),
            vec![col("id", &big.schema()).unwrap()],
            small.clone(),
            vec![col("id", &small.schema()).unwrap()],
        )
        .unwrap();
        let out = collect(Arc::new(filter), SessionContext::new().task_ctx())
            .await
            .unwrap();
        let names: Vec<String> = out
            .iter()
            .flat_map(|b| {
                let a = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(names, vec!["b", "e", "f"]);
    }

    #[tokio::test]
    async fn a_source_with_too_many_keys_lets_every_row_through() {
        let big = table(vec![Some(1), Some(9)], vec!["a", "b"], 1);
        let small = table(vec![Some(1), Some(2), Some(3)], vec!["x", "y", "z"], 1);
        let keys = vec![col("id", &small.schema()).unwrap()];
        let ctx = SessionContext::new().task_ctx();
        let set = key_hashes(&small, &keys, ctx.clone(), 2).await.unwrap();
        assert!(set.is_none());
        let batch = collect(big.clone(), ctx).await.unwrap().remove(0);
        let kept = retain(batch, &[col("id", &big.schema()).unwrap()], set.as_ref()).unwrap();
        assert_eq!(kept.num_rows(), 2);
        // Within the limit, the same source filters.
        let ctx = SessionContext::new().task_ctx();
        assert!(key_hashes(&small, &keys, ctx, 3).await.unwrap().is_some());
    }

    #[test]
    fn keys_of_different_types_are_refused() {
        let big = table(vec![Some(1)], vec!["a"], 1);
        let err = RuntimeFilterExec::try_new(
            big.clone(),
            vec![col("id", &big.schema()).unwrap()],
            big.clone(),
            vec![col("name", &big.schema()).unwrap()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("different types"), "{err}");
    }
}
