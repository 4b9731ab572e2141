//! Shuffle: how one stage's output reaches the next.
//!
//! A map task ends in a [`ShuffleWriterExec`] that splits its partition's rows
//! into one Arrow IPC block per reduce partition on the executor's local disk
//! ([`layout`]). A reduce task starts at a [`ShuffleReaderExec`] that reads
//! block `p` of every map output of its parent stage: from local disk when the
//! block is on the same executor, or on another executor whose shuffle folder
//! this process sees (the same host: [`layout::host_local_dir`]), else from
//! the executor that owns it, its file's bytes streamed over a Flight `DoGet`
//! ([`fetch`]; not Arrow `FlightData`, see docs/architecture.md). Every block carries checksums ([`block`]) that
//! both paths verify; a damaged block is a [`FetchFailed`]. Where the blocks
//! are comes in with the task, as a [`ShuffleTaskEnv`] extension of the
//! task's session config.

pub mod block;
pub mod compact;
pub mod fetch;
pub mod layout;
pub mod reader;
pub mod writer;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use fetch::FlightClients;
pub use reader::ShuffleReaderExec;
pub use writer::{OutputPartitioning, ShuffleWriterExec};

use crate::settings::ShuffleCompression;

/// Where one map task's output lives.
#[derive(Debug, Clone, PartialEq)]
pub struct MapOutput {
    /// The map task's partition index.
    pub map_partition: u32,
    /// The attempt that wrote the blocks (part of their path).
    pub attempt: u32,
    /// The executor holding the blocks.
    pub executor_id: String,
    /// Flight endpoint of that executor.
    pub address: String,
    /// Encoded size of each block; 0 means the block is empty and absent.
    pub block_bytes: Vec<u64>,
    /// Rows the task wrote over all its blocks (for a write stage: the rows
    /// of its files).
    pub rows: u64,
    /// That executor's shuffle folder, where a reader on the same file
    /// system reads the blocks directly (empty: over Flight only).
    pub shuffle_dir: String,
}

/// Everything a task needs to read and write shuffle data, carried into the
/// plan's `execute` calls as a session-config extension.
#[derive(Debug)]
pub struct ShuffleTaskEnv {
    /// The executor running the task (decides local versus remote reads).
    pub executor_id: String,
    /// Root of this executor's shuffle files.
    pub shuffle_dir: PathBuf,
    /// Attempt number of the running task (part of written paths).
    pub attempt: u32,
    /// Compression of written blocks.
    pub compression: ShuffleCompression,
    /// Map outputs of every parent stage, by stage id.
    pub inputs: HashMap<u32, Vec<MapOutput>>,
    /// Connections to peer executors' Flight services.
    pub clients: Arc<FlightClients>,
    /// Counters the task reports when it ends.
    pub metrics: ShuffleMetrics,
}

impl ShuffleTaskEnv {
    /// The environment of the task running a plan node; `node` names the
    /// node in the error when there is none (a plan run outside a task).
    pub fn of(
        context: &datafusion::execution::TaskContext,
        node: &str,
    ) -> datafusion::error::Result<Arc<ShuffleTaskEnv>> {
        context
            .session_config()
            .get_extension::<ShuffleTaskEnv>()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!(
                    "{node} run without a task environment"
                ))
            })
    }
}

/// Byte and row counters of one task's shuffle traffic.
#[derive(Debug, Default)]
pub struct ShuffleMetrics {
    /// Bytes read from blocks on this executor's disk.
    pub local_bytes: AtomicU64,
    /// Bytes fetched from other executors.
    pub remote_bytes: AtomicU64,
    /// Rows read by shuffle readers.
    pub rows_read: AtomicU64,
}

impl ShuffleMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A shuffle block could not be read: the map output must be recomputed.
#[derive(Debug, Clone)]
pub struct FetchFailed {
    /// Stage that produced the block.
    pub stage_id: u32,
    /// Map task that produced the block.
    pub map_partition: u32,
    /// Executor that should have served it.
    pub executor_id: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for FetchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fetch failed: stage {} map {} on executor {}: {}",
            self.stage_id, self.map_partition, self.executor_id, self.message
        )
    }
}

impl std::error::Error for FetchFailed {}

/// Finds a [`FetchFailed`] anywhere in a DataFusion error chain.
pub fn find_fetch_failure(e: &datafusion::error::DataFusionError) -> Option<FetchFailed> {
    use datafusion::error::DataFusionError as E;
    match e {
        E::External(inner) => inner
            .downcast_ref::<FetchFailed>()
            .cloned()
            .or_else(|| inner.downcast_ref::<E>().and_then(find_fetch_failure)),
        E::Context(_, inner) => find_fetch_failure(inner),
        E::Shared(inner) => find_fetch_failure(inner),
        E::ArrowError(inner, _) => match inner.as_ref() {
            arrow::error::ArrowError::ExternalError(x) => x
                .downcast_ref::<FetchFailed>()
                .cloned()
                .or_else(|| x.downcast_ref::<E>().and_then(find_fetch_failure)),
            _ => None,
        },
        E::Collection(v) => v.iter().find_map(find_fetch_failure),
        _ => None,
    }
}
