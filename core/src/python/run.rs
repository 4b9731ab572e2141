//! One partition of a Python node: a worker leased from the executor's
//! pool, the task's setup, the input streamed to it in Arrow batches of at
//! most `spark.sql.execution.arrow.maxRecordsPerBatch` rows while its
//! answers are read (both at once, so an iterator UDF can take several
//! batches before it answers), and the answers turned into the node's rows.
//!
//! Grouped operations (applyInPandas, cogroup, grouped aggregates, windows)
//! hold their partition's rows in memory, reserved from the executor's
//! memory pool, and send one group at a time. The worker's resident memory
//! is reserved from the same pool when the partition is done.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::OwnedRow;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::eval_type;
use super::groups::{arrow_err, group_rows, key_rows, pair_groups, Groups};
use super::logical::{PythonOp, UdfCall};
use super::protocol::{
    ipc_stream, kind, read_frame, read_ipc, write_frame, PythonError, PythonWorker, PythonWorkers,
};

/// Starts partition `partition` of a Python node: `op` over `inputs`,
/// sending batches of up to `batch_size` rows, giving rows of `schema`.
pub fn execute(
    op: &PythonOp,
    inputs: &[Arc<dyn ExecutionPlan>],
    batch_size: usize,
    schema: SchemaRef,
    partition: usize,
    ctx: Arc<TaskContext>,
) -> Result<SendableRecordBatchStream> {
    let pool = ctx
        .session_config()
        .get_extension::<PythonWorkers>()
        .ok_or_else(|| {
            DataFusionError::Plan(
                "Python UDFs run on Kiln executors, and this process has no Python worker pool"
                    .into(),
            )
        })?;
    let inputs = inputs
        .iter()
        .map(|i| i.execute(partition, ctx.clone()))
        .collect::<Result<Vec<_>>>()?;
    let job = Job {
        op: op.clone(),
        batch_size,
        schema: schema.clone(),
        held: MemoryConsumer::new(format!("PythonExec[{partition}] rows"))
            .register(ctx.memory_pool()),
        worker_memory: MemoryConsumer::new(format!("PythonExec[{partition}] worker"))
            .register(ctx.memory_pool()),
    };
    let mut builder = RecordBatchReceiverStreamBuilder::new(schema, 2);
    let tx = builder.tx();
    builder.spawn(async move { job.run(pool, inputs, tx).await });
    Ok(builder.build())
}

type Out = mpsc::Sender<Result<RecordBatch>>;
type Reader<'a> = &'a mut (dyn AsyncRead + Send + Unpin);
type Writer<'a> = &'a mut (dyn AsyncWrite + Send + Unpin);

/// Why talking to the worker stopped.
enum Stop {
    /// The worker said so (or its function raised).
    Python(PythonError),
    /// Its pipes broke: it died.
    Lost(String),
    /// Kiln's side failed (the input, the consumer).
    Other(DataFusionError),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Lost(e.to_string())
    }
}

impl From<DataFusionError> for Stop {
    fn from(e: DataFusionError) -> Self {
        Stop::Other(e)
    }
}

impl From<PythonError> for Stop {
    fn from(e: PythonError) -> Self {
        Stop::Python(e)
    }
}

struct Job {
    op: PythonOp,
    batch_size: usize,
    schema: SchemaRef,
    held: MemoryReservation,
    worker_memory: MemoryReservation,
}

impl Job {
    async fn run(
        mut self,
        pool: Arc<PythonWorkers>,
        inputs: Vec<SendableRecordBatchStream>,
        tx: Out,
    ) -> Result<()> {
        let mut worker = pool.0.acquire().await.map_err(PythonError::into_df)?;
        let outcome = self.talk(worker.as_mut(), inputs, &tx).await;
        match outcome {
            Ok(()) => {
                worker.release();
                Ok(())
            }
            Err(Stop::Python(e)) => Err(e.into_df()),
            Err(Stop::Lost(io)) => {
                let why = worker.lost().await;
                tracing::warn!("Python worker lost ({io}): {why}");
                Err(PythonError::WorkerLost(why).into_df())
            }
            Err(Stop::Other(e)) => Err(e),
        }
    }

    fn mode(&self) -> &'static str {
        match &self.op {
            PythonOp::Eval { udfs }
                if udfs.len() == 1 && eval_type::is_iterator(udfs[0].function.eval_type) =>
            {
                "scalar_iter"
            }
            PythonOp::Eval { .. } => "scalar",
            PythonOp::MapPartitions { .. } => "map",
            PythonOp::GroupMap { .. } => "group",
            PythonOp::CoGroupMap { .. } => "cogroup",
            PythonOp::Aggregate { .. } | PythonOp::Window { .. } => "agg",
        }
    }

    /// The setup frame, the commands, and the schema the worker answers in.
    async fn setup(&self, w: Writer<'_>, udfs: &[UdfCall], reply: &SchemaRef) -> Result<(), Stop> {
        let functions = self.op.functions();
        let first = functions.first().map_or(0, |f| f.eval_type);
        let udf_json: Vec<serde_json::Value> = udfs
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.function.name,
                    "eval_type": u.function.eval_type,
                    "args": u.args,
                })
            })
            .collect();
        let mut setup = serde_json::json!({
            "mode": self.mode(),
            "eval_type": first,
            "commands": functions.len(),
            "python_ver": functions.first().map(|f| f.python_ver.clone()).unwrap_or_default(),
            "udfs": udf_json,
        });
        match &self.op {
            PythonOp::GroupMap { keys, values, .. } => {
                setup["keys"] = serde_json::json!(keys);
                setup["values"] = serde_json::json!(values);
            }
            PythonOp::CoGroupMap {
                keys,
                values,
                right_keys,
                right_values,
                ..
            } => {
                setup["keys"] = serde_json::json!(keys);
                setup["values"] = serde_json::json!(values);
                setup["right_keys"] = serde_json::json!(right_keys);
                setup["right_values"] = serde_json::json!(right_values);
            }
            _ => {}
        }
        write_frame(w, kind::SETUP, setup.to_string().as_bytes()).await?;
        for f in functions {
            write_frame(w, kind::COMMAND, &f.command).await?;
        }
        write_frame(w, kind::SCHEMA, &ipc_stream(reply, &[])?).await?;
        Ok(())
    }

    async fn talk(
        &mut self,
        worker: &mut dyn PythonWorker,
        inputs: Vec<SendableRecordBatchStream>,
        tx: &Out,
    ) -> Result<(), Stop> {
        let op = self.op.clone();
        match &op {
            PythonOp::Eval { udfs } => self.eval(worker, udfs, inputs, tx).await,
            PythonOp::MapPartitions { .. } => self.map(worker, inputs, tx).await,
            PythonOp::GroupMap { keys, .. } => {
                let groups = self.collect_groups(inputs, 0, keys).await?;
                self.groups(worker, vec![groups], tx).await
            }
            PythonOp::CoGroupMap {
                keys, right_keys, ..
            } => {
                let mut inputs = inputs.into_iter();
                let (Some(left), Some(right)) = (inputs.next(), inputs.next()) else {
                    return Err(Stop::Other(DataFusionError::Internal(
                        "a cogroup needs two inputs".into(),
                    )));
                };
                let l = self.collect_groups(vec![left], 0, keys).await?;
                let r = self.collect_groups(vec![right], 0, right_keys).await?;
                self.groups(worker, vec![l, r], tx).await
            }
            PythonOp::Aggregate { udfs, keys } | PythonOp::Window { udfs, keys } => {
                let groups = self.collect_groups(inputs, 0, keys).await?;
                self.aggregate(worker, udfs, keys, groups, tx).await
            }
        }
    }

    fn account(&mut self, worker: &dyn PythonWorker) -> Result<(), Stop> {
        if let Some(rss) = worker.rss_bytes() {
            self.worker_memory.try_resize(rss as usize).map_err(|e| {
                Stop::Other(DataFusionError::ResourcesExhausted(format!(
                    "the Python worker uses {rss} bytes, more than the executor's memory \
                     (spark.executor.memory) has left: {e}"
                )))
            })?;
        }
        Ok(())
    }

    /// Scalar UDFs: each answer's rows beside the input rows they came from.
    async fn eval(
        &mut self,
        worker: &mut dyn PythonWorker,
        udfs: &[UdfCall],
        mut inputs: Vec<SendableRecordBatchStream>,
        tx: &Out,
    ) -> Result<(), Stop> {
        let mut input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("no input".into()))?;
        // Only the argument columns travel.
        let mut needed: Vec<usize> = udfs.iter().flat_map(|u| u.args.clone()).collect();
        needed.sort_unstable();
        needed.dedup();
        let sent: Vec<UdfCall> = udfs
            .iter()
            .map(|u| UdfCall {
                args: u
                    .args
                    .iter()
                    .map(|a| needed.iter().position(|n| n == a).unwrap_or(0))
                    .collect(),
                ..u.clone()
            })
            .collect();
        let reply = Arc::new(Schema::new(
            udfs.iter()
                .map(|u| Field::new(&u.output, u.function.return_type.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch_size = self.batch_size;
        let schema = self.schema.clone();
        let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<RecordBatch>();
        let (r, w) = worker.io();
        self.setup(w, &sent, &reply).await?;
        let writer = async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                for chunk in chunks(&batch, batch_size) {
                    let args = chunk
                        .project(&needed)
                        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
                    let _ = pending_tx.send(chunk);
                    write_frame(w, kind::BATCH, &ipc_stream(&args.schema(), &[args])?).await?;
                }
            }
            end_input(w).await
        };
        let reader = async {
            let mut queue: VecDeque<RecordBatch> = VecDeque::new();
            loop {
                let Some(result) = next_batch(r, &reply).await? else {
                    return Ok::<(), Stop>(());
                };
                let n = result.num_rows();
                let mut rows = vec![];
                let mut have = 0;
                while have < n {
                    if queue.is_empty() {
                        match pending_rx.recv().await {
                            Some(b) => queue.push_back(b),
                            None => {
                                return Err(Stop::Python(PythonError::UserCode(format!(
                                    "the Python UDF returned more rows than it was given ({n} \
                                     more than the input had left)"
                                ))))
                            }
                        }
                    }
                    let Some(front) = queue.pop_front() else {
                        break;
                    };
                    let take_n = (n - have).min(front.num_rows());
                    rows.push(front.slice(0, take_n));
                    if take_n < front.num_rows() {
                        queue.push_front(front.slice(take_n, front.num_rows() - take_n));
                    }
                    have += take_n;
                }
                let input_rows = concat_batches(&input_schema(&schema, udfs.len()), &rows)
                    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
                let mut columns = input_rows.columns().to_vec();
                columns.extend(result.columns().iter().cloned());
                let out = RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
                if tx.send(Ok(out)).await.is_err() {
                    return Ok(());
                }
            }
        };
        both(writer, reader).await?;
        self.account(worker)
    }

    /// mapInPandas / mapInArrow: the function's batches.
    async fn map(
        &mut self,
        worker: &mut dyn PythonWorker,
        mut inputs: Vec<SendableRecordBatchStream>,
        tx: &Out,
    ) -> Result<(), Stop> {
        let mut input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("no input".into()))?;
        let batch_size = self.batch_size;
        let schema = self.schema.clone();
        let (r, w) = worker.io();
        self.setup(w, &[], &schema).await?;
        let writer = async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                for chunk in chunks(&batch, batch_size) {
                    write_frame(w, kind::BATCH, &ipc_stream(&chunk.schema(), &[chunk])?).await?;
                }
            }
            end_input(w).await
        };
        let reader = forward(r, &schema, tx);
        both(writer, reader).await?;
        self.account(worker)
    }

    /// All rows of input `inputs`, grouped by the columns `keys`.
    async fn collect_groups(
        &mut self,
        inputs: Vec<SendableRecordBatchStream>,
        which: usize,
        keys: &[usize],
    ) -> Result<Groups, Stop> {
        let Some(mut input) = inputs.into_iter().nth(which) else {
            return Err(Stop::Other(DataFusionError::Internal("no input".into())));
        };
        let schema = input.schema();
        let mut batches = vec![];
        while let Some(b) = input.next().await {
            let b = b?;
            self.held.try_grow(b.get_array_memory_size())?;
            batches.push(b);
        }
        let rows = concat_batches(&schema, &batches)
            .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
        drop(batches);
        let groups = if keys.is_empty() {
            vec![(0..rows.num_rows() as u32).collect()]
        } else {
            let key_rows = key_rows(&rows, keys)?;
            let mut by_key: BTreeMap<OwnedRow, Vec<u32>> = BTreeMap::new();
            for i in 0..rows.num_rows() {
                by_key
                    .entry(key_rows.row(i).owned())
                    .or_default()
                    .push(i as u32);
            }
            by_key.into_values().collect()
        };
        Ok(Groups { rows, groups })
    }

    /// applyInPandas (one input) or cogroup (two): each group's (or each
    /// key's pair of groups') rows to the function, its batches back.
    async fn groups(
        &mut self,
        worker: &mut dyn PythonWorker,
        inputs: Vec<Groups>,
        tx: &Out,
    ) -> Result<(), Stop> {
        let schema = self.schema.clone();
        let (r, w) = worker.io();
        self.setup(w, &[], &schema).await?;
        let op = self.op.clone();
        let writer = async move {
            match (&op, inputs.as_slice()) {
                (
                    PythonOp::CoGroupMap {
                        keys, right_keys, ..
                    },
                    [left, right],
                ) => {
                    for (l, rr) in pair_groups(left, keys, right, right_keys)? {
                        let lb = ipc_stream(&left.rows.schema(), &[group_rows(&left.rows, &l)?])?;
                        let rb =
                            ipc_stream(&right.rows.schema(), &[group_rows(&right.rows, &rr)?])?;
                        let mut payload = (lb.len() as u32).to_be_bytes().to_vec();
                        payload.extend(lb);
                        payload.extend(rb);
                        write_frame(w, kind::COGROUP, &payload).await?;
                    }
                }
                (_, [one]) => {
                    for g in &one.groups {
                        let b = group_rows(&one.rows, g)?;
                        write_frame(w, kind::BATCH, &ipc_stream(&b.schema(), &[b])?).await?;
                    }
                }
                _ => return Err(Stop::Other(DataFusionError::Internal("bad inputs".into()))),
            }
            end_input(w).await
        };
        let reader = forward(r, &schema, tx);
        both(writer, reader).await?;
        self.account(worker)
    }

    /// Grouped aggregates: one value per group and call; an aggregate
    /// answers the keys and the values, a window every input row with its
    /// group's values.
    async fn aggregate(
        &mut self,
        worker: &mut dyn PythonWorker,
        udfs: &[UdfCall],
        keys: &[usize],
        groups: Groups,
        tx: &Out,
    ) -> Result<(), Stop> {
        let reply = Arc::new(Schema::new(
            udfs.iter()
                .map(|u| Field::new(&u.output, u.function.return_type.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let (r, w) = worker.io();
        self.setup(w, udfs, &reply).await?;
        let writer = async {
            for g in &groups.groups {
                let b = group_rows(&groups.rows, g)?;
                write_frame(w, kind::BATCH, &ipc_stream(&b.schema(), &[b])?).await?;
            }
            end_input(w).await
        };
        let reader = async {
            let mut results = vec![];
            while let Some(b) = next_batch(r, &reply).await? {
                results.push(b);
            }
            Ok::<Vec<RecordBatch>, Stop>(results)
        };
        let (wres, rres) = futures::join!(writer, reader);
        let results = rres?;
        wres?;
        let values = concat_batches(&reply, &results)
            .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
        if values.num_rows() != groups.groups.len() {
            return Err(Stop::Python(PythonError::Protocol(format!(
                "{} aggregate values for {} groups",
                values.num_rows(),
                groups.groups.len()
            ))));
        }
        let out = if matches!(self.op, PythonOp::Window { .. }) {
            // Each row gets its group's value.
            let mut group_of = vec![0u32; groups.rows.num_rows()];
            for (gi, g) in groups.groups.iter().enumerate() {
                for &row in g {
                    group_of[row as usize] = gi as u32;
                }
            }
            let idx = UInt32Array::from(group_of);
            let mut columns = groups.rows.columns().to_vec();
            for c in values.columns() {
                columns.push(take(c.as_ref(), &idx, None).map_err(arrow_err)?);
            }
            columns
        } else {
            let firsts = UInt32Array::from(
                groups
                    .groups
                    .iter()
                    .map(|g| g.first().copied().unwrap_or(0))
                    .collect::<Vec<_>>(),
            );
            let mut columns = vec![];
            for &k in keys {
                columns
                    .push(take(groups.rows.column(k).as_ref(), &firsts, None).map_err(arrow_err)?);
            }
            columns.extend(values.columns().iter().cloned());
            columns
        };
        let n = out.first().map_or(values.num_rows(), |c| c.len());
        let out = RecordBatch::try_new_with_options(
            self.schema.clone(),
            out,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(arrow_err)?;
        let _ = tx.send(Ok(out)).await;
        self.account(worker)
    }
}

/// The input columns of an eval node's output schema.
fn input_schema(schema: &SchemaRef, udfs: usize) -> SchemaRef {
    let n = schema.fields().len().saturating_sub(udfs);
    Arc::new(Schema::new(schema.fields()[..n].to_vec()))
}

/// `batch` in slices of at most `size` rows (none when it is empty).
fn chunks(batch: &RecordBatch, size: usize) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(size.max(1))
        .map(|start| batch.slice(start, size.min(batch.num_rows() - start)))
        .collect()
}

/// Ends the input the worker reads: the end frame, flushed.
async fn end_input(w: Writer<'_>) -> Result<(), Stop> {
    write_frame(w, kind::END, &[]).await?;
    w.flush().await?;
    Ok(())
}

/// Forwards the worker's result batches to the node's output until the
/// worker ends its stream, or until nobody reads the output any more.
async fn forward(r: Reader<'_>, schema: &SchemaRef, tx: &Out) -> Result<(), Stop> {
    while let Some(out) = next_batch(r, schema).await? {
        if tx.send(Ok(out)).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The next batch the worker answers, with `schema`'s types; `None` at its
/// end of output.
async fn next_batch(r: Reader<'_>, schema: &SchemaRef) -> Result<Option<RecordBatch>, Stop> {
    let Some((k, payload)) = read_frame(r).await? else {
        return Err(Stop::Lost("the worker closed its output".into()));
    };
    match k {
        kind::BATCH => {
            let batches = read_ipc(&payload)?;
            let b = concat_batches(
                &batches
                    .first()
                    .map_or_else(|| schema.clone(), |b| b.schema()),
                &batches,
            )
            .map_err(arrow_err)?;
            Ok(Some(conform(b, schema)?))
        }
        kind::END => Ok(None),
        kind::ERROR => Err(Stop::Python(PythonError::UserCode(
            String::from_utf8_lossy(&payload).into_owned(),
        ))),
        other => Err(Stop::Python(PythonError::Protocol(format!(
            "unexpected frame {:?}",
            other as char
        )))),
    }
}

/// `b` with `schema`'s names and types (the worker's arrays cast if needed).
fn conform(b: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, Stop> {
    if b.num_columns() != schema.fields().len() {
        return Err(Stop::Python(PythonError::Protocol(format!(
            "the worker answered {} columns, {} expected",
            b.num_columns(),
            schema.fields().len()
        ))));
    }
    let columns = crate::cast_columns::cast_columns(&b, schema, |_, e| arrow_err(e))?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
    )
    .map_err(arrow_err)?)
}

/// Runs the writer and the reader of one exchange at once. When the
/// writer's pipe breaks, the worker's last words (a traceback) decide.
async fn both<W, R>(writer: W, reader: R) -> Result<(), Stop>
where
    W: std::future::Future<Output = Result<(), Stop>>,
    R: std::future::Future<Output = Result<(), Stop>>,
{
    tokio::pin!(writer);
    tokio::pin!(reader);
    tokio::select! {
        r = &mut reader => {
            r?;
            writer.await
        }
        w = &mut writer => match w {
            Ok(()) => reader.await,
            Err(e) => match tokio::time::timeout(std::time::Duration::from_secs(5), reader).await {
                Ok(Err(r)) => Err(r),
                _ => Err(e),
            },
        },
    }
}
