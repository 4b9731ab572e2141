//! The rows a query hands back through the driver: gathered while the job's
//! final step runs into a spool that keeps the first few MiB in memory and
//! spills the rest to an Arrow IPC file (the driver's memory does not grow
//! with the result), and handed out, batch by batch, only once the step
//! succeeded. A final step that is run again after a lost executor
//! therefore never shows a row twice, and a failed one shows none.
//!
//! Spark's `spark.driver.maxResultSize` (default 1g, `0` for no limit)
//! bounds the result: the encoded size of the blocks the final step is
//! about to read is checked before it starts (Spark's rule: the size of
//! what the tasks send the driver), and the rows it makes while it runs.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::spill_file::{SpillFile, SpillWriter};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use futures::StreamExt;
use kiln_core::shuffle::MapOutput;
use kiln_core::{KilnError, Result};

use kiln_core::config::MAX_RESULT_SIZE;

/// Bytes of a spool kept in memory before it spills to disk.
const IN_MEMORY_BYTES: usize = 8 << 20;

/// The error of a result over `spark.driver.maxResultSize`, in Spark's words.
pub fn too_large(what: &str, bytes: u64, limit: u64) -> KilnError {
    KilnError::JobFailed(format!(
        "Total size of {what} ({}) is bigger than {MAX_RESULT_SIZE} ({}); \
         write the result with COPY ... TO or INSERT instead, or raise the limit",
        human(bytes),
        human(limit)
    ))
}

/// Checks what a final step is about to read against the limit (Spark's
/// rule: the size of what the tasks send the driver), before it starts.
pub fn check_blocks<'a>(
    outputs: impl Iterator<Item = &'a MapOutput> + Clone,
    limit: Option<u64>,
) -> Result<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let bytes: u64 = outputs.clone().flat_map(|m| m.block_bytes.iter()).sum();
    if bytes > limit {
        let what = format!("the results of {} tasks", outputs.count());
        return Err(too_large(&what, bytes, limit));
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// Bytes a batch holds (its slices only, not the buffers they are cut from).
pub(crate) fn batch_bytes(b: &RecordBatch) -> usize {
    b.columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

/// The spill file of a spool and the Arrow IPC writer appending to it.
type Spill = (
    Arc<dyn SpillFile>,
    StreamWriter<BufWriter<Box<dyn SpillWriter>>>,
);

/// Rows being gathered while a final step runs.
pub struct ResultSpool {
    schema: SchemaRef,
    runtime: Arc<RuntimeEnv>,
    limit: Option<u64>,
    memory: Vec<RecordBatch>,
    memory_bytes: usize,
    spill: Option<Spill>,
    rows: u64,
    bytes: u64,
}

impl std::fmt::Debug for ResultSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultSpool")
            .field("rows", &self.rows)
            .field("bytes", &self.bytes)
            .field("spilled", &self.spill.is_some())
            .finish_non_exhaustive()
    }
}

impl ResultSpool {
    /// An empty spool of `schema` rows that spills through the disk manager
    /// of `runtime` and fails past `limit` bytes.
    pub fn new(schema: SchemaRef, runtime: Arc<RuntimeEnv>, limit: Option<u64>) -> Self {
        ResultSpool {
            schema,
            runtime,
            limit,
            memory: Vec::new(),
            memory_bytes: 0,
            spill: None,
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds a batch; an error once the result outgrows the limit.
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let n = batch_bytes(&batch);
        self.rows += batch.num_rows() as u64;
        self.bytes += n as u64;
        if let Some(limit) = self.limit {
            if self.bytes > limit {
                return Err(too_large("the result rows", self.bytes, limit));
            }
        }
        if let Some((_, writer)) = &mut self.spill {
            return writer.write(&batch).map_err(spill_error);
        }
        if self.memory_bytes + n <= IN_MEMORY_BYTES {
            self.memory_bytes += n;
            self.memory.push(batch);
            return Ok(());
        }
        let file = self
            .runtime
            .disk_manager
            .create_tmp_file("query result")
            .map_err(|e| KilnError::JobFailed(format!("cannot spill the query result: {e}")))?;
        let out = file
            .open_writer()
            .map_err(|e| KilnError::JobFailed(format!("cannot spill the query result: {e}")))?;
        let mut writer =
            StreamWriter::try_new(BufWriter::new(out), &self.schema).map_err(spill_error)?;
        writer.write(&batch).map_err(spill_error)?;
        self.spill = Some((file, writer));
        Ok(())
    }

    /// The gathered rows, to be read in order.
    pub fn finish(self) -> Result<QueryOutput> {
        let spilled = match self.spill {
            Some((file, mut writer)) => {
                writer.finish().map_err(spill_error)?;
                let mut out = writer.into_inner().map_err(spill_error)?;
                out.flush()
                    .map_err(|e| KilnError::io("cannot write the result spill file", e))?;
                out.into_inner()
                    .map_err(|e| {
                        KilnError::io("cannot write the result spill file", e.into_error())
                    })?
                    .finish()
                    .map_err(|e| {
                        KilnError::JobFailed(format!("cannot spill the query result: {e}"))
                    })?;
                Some(file)
            }
            None => None,
        };
        Ok(QueryOutput {
            schema: self.schema,
            rows: self.rows,
            memory: self.memory,
            spilled,
        })
    }
}

fn spill_error(e: arrow::error::ArrowError) -> KilnError {
    KilnError::JobFailed(format!("cannot spill the query result: {e}"))
}

/// Why the driver's final step produced no result.
#[derive(Debug)]
pub enum SpoolError {
    /// The step failed (a fetch failure among others: then it may run again).
    Run(datafusion::error::DataFusionError),
    /// The result outgrew `spark.driver.maxResultSize`, or could not be spooled.
    Limit(KilnError),
}

/// Runs a job's final step (`root` under `task_ctx`) and spools its rows;
/// nothing is handed out before it succeeded.
pub async fn spool_final_step(
    root: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    runtime: Arc<RuntimeEnv>,
    limit: Option<u64>,
) -> std::result::Result<QueryOutput, SpoolError> {
    let mut spool = ResultSpool::new(root.schema(), runtime, limit);
    let mut stream = execute_stream(root, task_ctx).map_err(SpoolError::Run)?;
    while let Some(batch) = stream.next().await {
        spool
            .push(batch.map_err(SpoolError::Run)?)
            .map_err(SpoolError::Limit)?;
    }
    spool.finish().map_err(SpoolError::Limit)
}

/// The rows of a query, ready to be read batch by batch (from memory, then
/// from the spill file if the result was large).
pub struct QueryOutput {
    /// Result schema.
    pub schema: SchemaRef,
    rows: u64,
    memory: Vec<RecordBatch>,
    spilled: Option<Arc<dyn SpillFile>>,
}

impl std::fmt::Debug for QueryOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryOutput")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .field("spilled", &self.spilled.is_some())
            .finish()
    }
}

impl QueryOutput {
    /// A result already in memory (a statement the driver ran itself).
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        QueryOutput {
            rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
            schema,
            memory: batches,
            spilled: None,
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> u64 {
        self.rows
    }

    /// The same rows under `schema` (same columns, other names).
    pub fn with_schema(self, schema: SchemaRef) -> Self {
        QueryOutput { schema, ..self }
    }

    /// The batches in order. Reading the spill file can fail; the error
    /// says so. Every batch carries [`QueryOutput::schema`].
    pub fn batches(self) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send> {
        let schema = self.schema.clone();
        let disk = match &self.spilled {
            Some(file) => {
                let path = file.path().ok_or_else(|| {
                    KilnError::JobFailed(
                        "the query result was spilled where it cannot be read back as a local file"
                            .into(),
                    )
                })?;
                let f = File::open(path).map_err(|e| {
                    KilnError::io(
                        format!("cannot read the result spill file {}", path.display()),
                        e,
                    )
                })?;
                Some(StreamReader::try_new(BufReader::new(f), None).map_err(spill_error)?)
            }
            None => None,
        };
        // The file is deleted once the iterator (which owns it) is dropped.
        let keep = self.spilled;
        let rename = move |b: RecordBatch| -> Result<RecordBatch> {
            if b.schema() == schema {
                return Ok(b);
            }
            RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                .map_err(|e| KilnError::JobFailed(format!("query result: {e}")))
        };
        let from_disk = disk.into_iter().flatten().map(move |r| {
            let _ = &keep;
            r.map_err(spill_error)
        });
        Ok(self
            .memory
            .into_iter()
            .map(Ok)
            .chain(from_disk)
            .map(move |r| r.and_then(&rename)))
    }

    /// Every batch, in memory: for results known to be small.
    pub fn collect(self) -> Result<Vec<RecordBatch>> {
        self.batches()?.collect()
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, from: i64, n: usize, pad: usize) -> RecordBatch {
        let ids = Int64Array::from_iter_values(from..from + n as i64);
        let text = StringArray::from_iter_values((0..n).map(|_| "x".repeat(pad)));
        RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(text)]).unwrap()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("pad", DataType::Utf8, false),
        ]))
    }

    fn runtime() -> Arc<RuntimeEnv> {
        kiln_core::config::runtime_env(None, None).unwrap()
    }

    #[test]
    fn a_large_result_spills_and_reads_back_in_order() {
        let s = schema();
        let mut spool = ResultSpool::new(s.clone(), runtime(), None);
        // 40 batches of about 1 MiB: most of them go to disk.
        for i in 0..40 {
            spool.push(batch(&s, i * 1000, 1000, 1000)).unwrap();
        }
        let out = spool.finish().unwrap();
        assert!(out.spilled.is_some(), "nothing spilled");
        assert_eq!(out.num_rows(), 40_000);
        let mut next = 0i64;
        for b in out.batches().unwrap() {
            let b = b.unwrap();
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for v in ids.values() {
                assert_eq!(*v, next);
                next += 1;
            }
        }
        assert_eq!(next, 40_000);
    }

    #[test]
    fn a_result_over_the_limit_fails_naming_the_setting() {
        let s = schema();
        let mut spool = ResultSpool::new(s.clone(), runtime(), Some(3 << 20));
        let e = (0..10)
            .map(|i| spool.push(batch(&s, i * 1000, 1000, 1000)))
            .find_map(|r| r.err())
            .expect("the limit is enforced");
        assert!(e.to_string().contains(MAX_RESULT_SIZE), "{e}");
    }

    #[test]
    fn renamed_columns_reach_every_batch() {
        let s = schema();
        let mut spool = ResultSpool::new(s.clone(), runtime(), None);
        spool.push(batch(&s, 0, 3, 1)).unwrap();
        let shown = Arc::new(Schema::new(vec![
            Field::new("ID", DataType::Int64, false),
            Field::new("pad", DataType::Utf8, false),
        ]));
        let out = spool.finish().unwrap().with_schema(shown.clone());
        let batches = out.collect().unwrap();
        assert_eq!(batches[0].schema(), shown);
    }
}
