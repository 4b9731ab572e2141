//! [`ShuffleWriterExec`]: the end of a map stage. Runs one input partition and
//! writes its rows as one Arrow IPC block per reduce partition.

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics;
use datafusion::physical_plan::repartition::BatchPartitioner;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use super::block::FrameWriter;
use super::compact::compact_view_columns;
use super::layout::{map_dir, BlockId};
use super::ShuffleTaskEnv;
use crate::settings::ShuffleCompression;

/// How a map task splits its rows into blocks.
#[derive(Debug, Clone)]
pub enum OutputPartitioning {
    /// Hash of the expressions, modulo the number of reduce partitions (a join or aggregation exchange).
    Hash(Vec<Arc<dyn PhysicalExpr>>, usize),
    /// Rows dealt out in turn, as Spark's round-robin exchange deals them
    /// (the user's `repartition(n)`, `coalesce(n)`).
    RoundRobin(usize),
    /// Whole batches dealt out in turn: the exchanges DataFusion adds for
    /// parallelism, which keep each batch's rows in their order (a small
    /// result stays in the order its source gave it, as Spark shows it).
    RoundRobinBatch(usize),
    /// Everything into block 0 (coalesce to one partition).
    Single,
    /// Map task `m` writes block `m`: the partitioning is kept (merge of sorted partitions).
    PassThrough(usize),
}

impl OutputPartitioning {
    /// Number of partitions the reading stage sees.
    pub fn reduce_partitions(&self) -> usize {
        match self {
            OutputPartitioning::Hash(_, n)
            | OutputPartitioning::RoundRobin(n)
            | OutputPartitioning::RoundRobinBatch(n)
            | OutputPartitioning::PassThrough(n) => *n,
            OutputPartitioning::Single => 1,
        }
    }
}

/// Writes one partition of its input as shuffle blocks and yields one summary
/// row per non-empty block: `(block, rows, bytes)`.
#[derive(Debug)]
pub struct ShuffleWriterExec {
    input: Arc<dyn ExecutionPlan>,
    stage_id: u32,
    partitioning: OutputPartitioning,
    properties: Arc<PlanProperties>,
}

impl ShuffleWriterExec {
    /// A writer for stage `stage_id` over `input`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        stage_id: u32,
        partitioning: OutputPartitioning,
    ) -> Self {
        let properties = summary_properties(&input);
        ShuffleWriterExec {
            input,
            stage_id,
            partitioning,
            properties,
        }
    }

    /// The stage this writer ends.
    pub fn stage_id(&self) -> u32 {
        self.stage_id
    }

    /// How rows are split into blocks.
    pub fn partitioning(&self) -> &OutputPartitioning {
        &self.partitioning
    }

    /// The plan whose partitions are written.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

/// Schema of the writer's output: one row per written block.
pub fn summary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("block", DataType::UInt32, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ]))
}

/// The properties of a node that yields [`summary_schema`] rows for each of
/// its `input`'s partitions (a shuffle writer, a file writer).
pub fn summary_properties(input: &Arc<dyn ExecutionPlan>) -> Arc<PlanProperties> {
    let n = input.properties().partitioning.partition_count();
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(summary_schema()),
        Partitioning::UnknownPartitioning(n),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// The one child `with_new_children` gives a node of one input, else an
/// internal error naming the node.
pub fn one_child(
    mut children: Vec<Arc<dyn ExecutionPlan>>,
    node: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    match (children.pop(), children.is_empty()) {
        (Some(input), true) => Ok(input),
        _ => Err(DataFusionError::Internal(format!("{node} takes one child"))),
    }
}

/// The summary rows `(block, rows, bytes)` of a task's output.
pub fn summary_batch(blocks: Vec<u32>, rows: Vec<u64>, bytes: Vec<u64>) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(blocks)),
        Arc::new(UInt64Array::from(rows)),
        Arc::new(UInt64Array::from(bytes)),
    ];
    Ok(RecordBatch::try_new(summary_schema(), columns)?)
}

impl DisplayAs for ShuffleWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ShuffleWriterExec: stage={}, partitioning={:?}",
            self.stage_id, self.partitioning
        )
    }
}

impl ExecutionPlan for ShuffleWriterExec {
    plan_node_basics!("ShuffleWriterExec", input);

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.partitioning {
            OutputPartitioning::Hash(exprs, _) => crate::apply_each(exprs, f),
            _ => Ok(TreeNodeRecursion::Continue),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = one_child(children, "ShuffleWriterExec")?;
        Ok(Arc::new(ShuffleWriterExec::new(
            input,
            self.stage_id,
            self.partitioning.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let env = ShuffleTaskEnv::of(&context, "shuffle writer")?;
        let input = self.input.execute(partition, context)?;
        let num_input = self.input.properties().partitioning.partition_count();
        let stage = self.stage_id;
        let partitioning = self.partitioning.clone();
        let schema = self.input.schema();
        let fut = async move {
            write_blocks(
                input,
                &env,
                stage,
                partition,
                num_input,
                partitioning,
                schema,
            )
            .await
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            summary_schema(),
            futures::stream::once(fut),
        )))
    }
}

/// The rows of `batch` dealt out over `n` blocks in turn, the first row to
/// block `first % n`: `(block, its rows)` for every block that gets any.
fn deal_rows(batch: &RecordBatch, first: usize, n: usize) -> Result<Vec<(usize, RecordBatch)>> {
    let n = n.max(1);
    let rows = batch.num_rows();
    let mut out = Vec::new();
    for block in 0..n {
        // The first row that lands in `block`, then every n-th.
        let start = (block + n - first % n) % n;
        if start >= rows {
            continue;
        }
        let indices: UInt32Array = (start..rows).step_by(n).map(|i| i as u32).collect();
        let dealt = if batch.num_columns() == 0 {
            // `take` cannot size a batch without columns (`count(*)`
            // inputs): only its row count travels.
            let options = RecordBatchOptions::new().with_row_count(Some(indices.len()));
            RecordBatch::try_new_with_options(batch.schema(), vec![], &options)?
        } else {
            arrow::compute::take_record_batch(batch, &indices)?
        };
        out.push((block, dealt));
    }
    Ok(out)
}

struct BlockFile {
    writer: StreamWriter<FrameWriter<File>>,
    rows: u64,
}

async fn write_blocks(
    mut input: SendableRecordBatchStream,
    env: &ShuffleTaskEnv,
    stage: u32,
    map: usize,
    num_input: usize,
    partitioning: OutputPartitioning,
    schema: SchemaRef,
) -> Result<RecordBatch> {
    let n_blocks = partitioning.reduce_partitions();
    let dir = map_dir(&env.shuffle_dir, stage, map as u32, env.attempt);
    std::fs::create_dir_all(&dir)?;
    let options = match env.compression {
        ShuffleCompression::None => IpcWriteOptions::default(),
        ShuffleCompression::Lz4 => {
            IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?
        }
        ShuffleCompression::Zstd => {
            IpcWriteOptions::default().try_with_compression(Some(CompressionType::ZSTD))?
        }
    };
    let mut files: Vec<Option<BlockFile>> = (0..n_blocks).map(|_| None).collect();
    let mut partitioner = match &partitioning {
        OutputPartitioning::Hash(exprs, n) => Some(BatchPartitioner::try_new(
            Partitioning::Hash(exprs.clone(), *n),
            metrics::Time::new(),
            map,
            num_input,
        )?),
        OutputPartitioning::Single
        | OutputPartitioning::RoundRobin(_)
        | OutputPartitioning::RoundRobinBatch(_)
        | OutputPartitioning::PassThrough(_) => None,
    };
    let fixed_block = match &partitioning {
        OutputPartitioning::PassThrough(n) => {
            if map >= *n {
                return Err(DataFusionError::Internal(format!(
                    "map partition {map} beyond {n} pass-through blocks"
                )));
            }
            map
        }
        _ => 0,
    };
    let mut write = |block: usize, batch: RecordBatch| -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let slot = files
            .get_mut(block)
            .ok_or_else(|| DataFusionError::Internal(format!("block {block} out of range")))?;
        if slot.is_none() {
            let id = BlockId {
                stage,
                map: map as u32,
                attempt: env.attempt,
                block: block as u32,
            };
            let file = File::create(id.path(&env.shuffle_dir))?;
            // Unbuffered: the frame writer hands the file whole frames.
            let framed = FrameWriter::new(file)?;
            let mut writer = StreamWriter::try_new_with_options(framed, &schema, options.clone())?;
            // The schema message is the block's first checksummed frame.
            writer.get_mut().seal()?;
            *slot = Some(BlockFile { writer, rows: 0 });
        }
        if let Some(f) = slot.as_mut() {
            f.rows += batch.num_rows() as u64;
            f.writer.write(&compact_view_columns(batch)?)?;
            f.writer.get_mut().seal()?;
        }
        Ok(())
    };
    // Each map task starts dealing at its own block, so that tasks with
    // few rows do not all fill block 0.
    let mut next_row_block = map;
    let mut next_batch_block = map;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        match (partitioner.as_mut(), &partitioning) {
            (Some(p), _) => p.partition(batch, &mut write)?,
            (None, OutputPartitioning::RoundRobin(n)) => {
                for (block, rows) in deal_rows(&batch, next_row_block, *n)? {
                    write(block, rows)?;
                }
                next_row_block = (next_row_block + batch.num_rows()) % (*n).max(1);
            }
            (None, OutputPartitioning::RoundRobinBatch(n)) => {
                write(next_batch_block % (*n).max(1), batch)?;
                next_batch_block += 1;
            }
            (None, _) => write(fixed_block, batch)?,
        }
    }
    let mut blocks = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = Vec::new();
    for (i, slot) in files.into_iter().enumerate() {
        if let Some(mut f) = slot {
            f.writer.finish()?;
            let (_, len) = f.writer.into_inner()?.finish()?;
            blocks.push(i as u32);
            rows.push(f.rows);
            bytes.push(len);
        }
    }
    summary_batch(blocks, rows, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int32Array};

    fn values(b: &RecordBatch) -> Vec<i32> {
        let a = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    #[test]
    fn rows_are_dealt_out_in_turn_from_the_tasks_block() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from(vec![0, 1, 2, 3, 4]))],
        )
        .unwrap();
        let dealt: Vec<(usize, Vec<i32>)> = deal_rows(&batch, 1, 4)
            .unwrap()
            .iter()
            .map(|(b, rows)| (*b, values(rows)))
            .collect();
        assert_eq!(
            dealt,
            vec![(0, vec![3]), (1, vec![0, 4]), (2, vec![1]), (3, vec![2])]
        );
        // Fewer rows than blocks: only the blocks that get a row.
        let dealt: Vec<usize> = deal_rows(&batch.slice(0, 2), 3, 4)
            .unwrap()
            .iter()
            .map(|(b, _)| *b)
            .collect();
        assert_eq!(dealt, vec![0, 3]);
    }

    #[test]
    fn rows_without_columns_are_dealt_by_count() {
        let options = RecordBatchOptions::new().with_row_count(Some(5));
        let batch =
            RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).unwrap();
        let counts: Vec<(usize, usize)> = deal_rows(&batch, 0, 2)
            .unwrap()
            .iter()
            .map(|(b, rows)| (*b, rows.num_rows()))
            .collect();
        assert_eq!(counts, vec![(0, 3), (1, 2)]);
    }
}
