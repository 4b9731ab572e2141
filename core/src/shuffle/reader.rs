//! [`ShuffleReaderExec`]: the start of a reduce stage. Partition `p` reads
//! block `p` of every map output of the parent stage.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::fetch::{fetch_remote, read_local};
use super::layout::BlockId;
use super::{FetchFailed, MapOutput, ShuffleMetrics, ShuffleTaskEnv};

/// Reads the shuffle output of stage `stage_id` as `partitions` partitions.
#[derive(Debug)]
pub struct ShuffleReaderExec {
    stage_id: u32,
    schema: SchemaRef,
    constant_columns: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl ShuffleReaderExec {
    /// A reader of `partitions` partitions of stage `stage_id`'s output.
    pub fn new(stage_id: u32, schema: SchemaRef, partitions: usize) -> Self {
        Self::with_constants(stage_id, schema, partitions, vec![])
    }

    /// [`ShuffleReaderExec::new`] for an output whose columns at
    /// `constant_columns` hold one value (a filter `col = 6` below the
    /// exchange). The plan above was built knowing that (a window over
    /// `PARTITION BY col` needs no sort on `col`), so the reader must say it
    /// too when an executor rebuilds the plan.
    pub fn with_constants(
        stage_id: u32,
        schema: SchemaRef,
        partitions: usize,
        constant_columns: Vec<usize>,
    ) -> Self {
        use datafusion::physical_expr::expressions::Column;
        use datafusion::physical_expr::{AcrossPartitions, ConstExpr};
        let mut eq = EquivalenceProperties::new(schema.clone());
        let constants = constant_columns.iter().filter_map(|&i| {
            let field = schema.fields().get(i)?;
            let col: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), i));
            Some(ConstExpr::new(col, AcrossPartitions::Heterogeneous))
        });
        // Adding constants only fails for expressions of another schema;
        // these are this schema's own columns.
        let _ = eq.add_constants(constants);
        let properties = Arc::new(PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        ShuffleReaderExec {
            stage_id,
            schema,
            constant_columns,
            properties,
        }
    }

    /// The columns known to hold one value in each partition.
    pub fn constant_columns(&self) -> &[usize] {
        &self.constant_columns
    }

    /// The stage whose output this reads.
    pub fn stage_id(&self) -> u32 {
        self.stage_id
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.properties.partitioning.partition_count()
    }
}

impl DisplayAs for ShuffleReaderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ShuffleReaderExec: stage={}, partitions={}",
            self.stage_id,
            self.partitions()
        )
    }
}

impl ExecutionPlan for ShuffleReaderExec {
    plan_node_basics!("ShuffleReaderExec", no_expressions);

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "ShuffleReaderExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let env = ShuffleTaskEnv::of(&context, "shuffle reader")?;
        let outputs: Vec<MapOutput> = env
            .inputs
            .get(&self.stage_id)
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "no map output locations for stage {}",
                    self.stage_id
                ))
            })?
            .iter()
            .filter(|m| m.block_bytes.get(partition).copied().unwrap_or(0) > 0)
            .cloned()
            .collect();
        let stage = self.stage_id;
        let block = partition as u32;
        let stream = futures::stream::iter(outputs)
            .then(move |m| {
                let env = env.clone();
                async move { open_block(env, stage, block, m).await }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

type BatchStream = futures::stream::BoxStream<'static, Result<arrow::record_batch::RecordBatch>>;

async fn open_block(
    env: Arc<ShuffleTaskEnv>,
    stage: u32,
    block: u32,
    m: MapOutput,
) -> Result<BatchStream> {
    let id = BlockId {
        stage,
        map: m.map_partition,
        attempt: m.attempt,
        block,
    };
    let expected = m.block_bytes.get(block as usize).copied().unwrap_or(0);
    let (map_partition, owner) = (m.map_partition, m.executor_id.clone());
    let fail = move |message: String| {
        DataFusionError::External(Box::new(FetchFailed {
            stage_id: stage,
            map_partition,
            executor_id: owner.clone(),
            message,
        }))
    };
    // This executor's own blocks, or those of another executor whose
    // shuffle folder this process sees (same host or shared volume: Spark's
    // spark.shuffle.readHostLocalDisk), are read from disk; the rest over
    // Flight.
    let local_dir = if m.executor_id == env.executor_id {
        Some(env.shuffle_dir.clone())
    } else {
        super::layout::host_local_dir(&m.shuffle_dir, &m.executor_id, &m.address)
    };
    if let Some(dir) = local_dir {
        let path = id.path(&dir);
        let iter = read_local(&path, expected)
            .map_err(|e| fail(format!("block {}: {e}", path.display())))?;
        ShuffleMetrics::add(&env.metrics.local_bytes, expected);
        let env2 = env.clone();
        // A frame that fails its checks is never decoded; the task fails with
        // a fetch failure and the driver recomputes the map output.
        let s = futures::stream::iter(iter).map(move |r| {
            r.inspect(|b| ShuffleMetrics::add(&env2.metrics.rows_read, b.num_rows() as u64))
                .map_err(|e| fail(format!("block {}: {e}", path.display())))
        });
        Ok(s.boxed())
    } else {
        let s = fetch_remote(&env.clients, &m.address, &m.executor_id, id, expected).await?;
        let env2 = env.clone();
        Ok(s.map(move |r| {
            r.map(|(b, n)| {
                ShuffleMetrics::add(&env2.metrics.remote_bytes, n as u64);
                ShuffleMetrics::add(&env2.metrics.rows_read, b.num_rows() as u64);
                b
            })
        })
        .boxed())
    }
}
