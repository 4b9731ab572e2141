//! What Kiln and its Python worker script say to each other, and the
//! executor's pool of workers as the Python nodes see it.
//!
//! Frames in both directions: `kind (1 byte) | length (u32, big endian) |
//! payload`. A task sends `S` (setup, JSON), one `C` per function (the
//! client's cloudpickled command), `T` (the output schema as an Arrow IPC
//! stream), then `B` (an Arrow IPC stream: a batch or one group), `G` (two
//! IPC streams, the sides of a cogroup, the first one's length first) and
//! `E` (end of input). The worker answers `B` batches and `E`, or `X` with
//! a Python traceback (after which it exits). The worker script is
//! `executor/src/python_worker/worker.py`.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Frame kinds.
pub mod kind {
    /// Setup of a task (JSON).
    pub const SETUP: u8 = b'S';
    /// One function's command.
    pub const COMMAND: u8 = b'C';
    /// The output schema.
    pub const SCHEMA: u8 = b'T';
    /// A batch (or a group).
    pub const BATCH: u8 = b'B';
    /// The two sides of a cogroup.
    pub const COGROUP: u8 = b'G';
    /// End of input, or end of output.
    pub const END: u8 = b'E';
    /// The function raised: a traceback.
    pub const ERROR: u8 = b'X';
}

/// How an exception of the user's Python code starts, as in Spark.
pub const PYTHON_EXCEPTION: &str = "An exception was thrown from the Python worker";

/// What can go wrong running Python.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The user's function raised (or returned what it declared it would not).
    #[error(
        "An exception was thrown from the Python worker. Please see the stack trace below.\n{0}"
    )]
    UserCode(String),
    /// The worker died or stopped answering (killed, crashed, `os._exit`).
    #[error("Python worker exited unexpectedly ({0})")]
    WorkerLost(String),
    /// The worker could not be started.
    #[error("cannot start the Python worker: {0}")]
    Start(String),
    /// The worker said something Kiln does not understand.
    #[error("Python worker protocol error: {0}")]
    Protocol(String),
}

impl PythonError {
    /// As the error a plan node returns.
    pub fn into_df(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

/// Whether `e` is (or wraps) an exception of the user's Python code, which
/// no retry can fix.
pub fn is_user_code_error(e: &DataFusionError) -> bool {
    match e {
        DataFusionError::External(inner) => inner
            .downcast_ref::<PythonError>()
            .is_some_and(|p| matches!(p, PythonError::UserCode(_))),
        DataFusionError::Context(_, inner) => is_user_code_error(inner),
        DataFusionError::Shared(inner) => is_user_code_error(inner),
        _ => false,
    }
}

/// One Python worker process leased to one partition of a task.
pub trait PythonWorker: Send {
    /// Its output (to read frames from) and input (to write frames to).
    fn io(
        &mut self,
    ) -> (
        &mut (dyn AsyncRead + Send + Unpin),
        &mut (dyn AsyncWrite + Send + Unpin),
    );
    /// Its resident memory now, in bytes, where the platform tells.
    fn rss_bytes(&self) -> Option<u64>;
    /// Why it stopped answering (its exit status), after a broken pipe.
    fn lost(&mut self) -> BoxFuture<'_, String>;
    /// Gives a worker that finished its task cleanly back to the pool.
    /// Dropping it instead kills it.
    fn release(self: Box<Self>);
}

/// The executor's pool of Python workers.
pub trait PythonWorkerPool: Send + Sync + fmt::Debug {
    /// An idle worker, or a new one.
    fn acquire(&self) -> BoxFuture<'_, Result<Box<dyn PythonWorker>, PythonError>>;
}

/// The pool a task's Python nodes take workers from: an extension of the
/// task's `SessionConfig`, set by the executor.
#[derive(Debug, Clone)]
pub struct PythonWorkers(pub Arc<dyn PythonWorkerPool>);

/// Writes one frame.
pub async fn write_frame(
    w: &mut (dyn AsyncWrite + Send + Unpin),
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let len =
        u32::try_from(payload.len()).map_err(|_| std::io::Error::other("a frame above 4 GiB"))?;
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&head).await?;
    w.write_all(payload).await
}

/// Reads one frame; `None` at the end of the stream.
pub async fn read_frame(
    r: &mut (dyn AsyncRead + Send + Unpin),
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((head[0], payload)))
}

/// `batches` as one Arrow IPC stream (the schema alone when there are none).
pub fn ipc_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, PythonError> {
    let mut buf = vec![];
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)
        .map_err(|e| PythonError::Protocol(e.to_string()))?;
    for b in batches {
        w.write(b)
            .map_err(|e| PythonError::Protocol(e.to_string()))?;
    }
    w.finish()
        .map_err(|e| PythonError::Protocol(e.to_string()))?;
    drop(w);
    Ok(buf)
}

/// The batches of one Arrow IPC stream.
pub fn read_ipc(payload: &[u8]) -> Result<Vec<RecordBatch>, PythonError> {
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(payload), None)
        .map_err(|e| PythonError::Protocol(e.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PythonError::Protocol(e.to_string()))
}
