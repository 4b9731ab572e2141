//! Reading one shuffle block: from this executor's disk, or over Arrow
//! Flight (`DoGet`) from the executor that wrote it.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::ipc::reader::StreamReader;
use arrow::record_batch::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::Ticket;
use datafusion::error::{DataFusionError, Result};
use futures::stream::BoxStream;
use futures::StreamExt;
use tonic::transport::{Channel, Endpoint};

use super::layout::BlockId;
use super::FetchFailed;

/// Largest Flight message accepted from a peer (one encoded batch).
pub const MAX_FLIGHT_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// One connection per peer executor, shared by every task of an executor.
#[derive(Debug, Default)]
pub struct FlightClients {
    channels: Mutex<HashMap<String, Channel>>,
}

impl FlightClients {
    /// A (lazily connecting) channel to `address`.
    pub fn channel(&self, address: &str) -> std::result::Result<Channel, String> {
        let mut map = self
            .channels
            .lock()
            .map_err(|_| "flight client pool poisoned".to_string())?;
        if let Some(c) = map.get(address) {
            return Ok(c.clone());
        }
        let ch = Endpoint::from_shared(address.to_string())
            .map_err(|e| format!("bad executor address `{address}`: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(10))
            .connect_lazy();
        map.insert(address.to_string(), ch.clone());
        Ok(ch)
    }
}

/// Reads a block from local disk as a stream of batches (sync I/O, one batch at a time).
pub fn read_local(path: &Path) -> std::io::Result<impl Iterator<Item = Result<RecordBatch>>> {
    let file = File::open(path)?;
    let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(reader.map(|r| r.map_err(|e| DataFusionError::ArrowError(Box::new(e), None))))
}

/// Fetches a block from a peer's Flight service. Any failure to connect,
/// transfer or decode becomes a [`FetchFailed`] so the driver recomputes the
/// map output instead of failing the job.
pub async fn fetch_remote(
    clients: &FlightClients,
    address: &str,
    executor_id: &str,
    id: BlockId,
) -> Result<BoxStream<'static, Result<(RecordBatch, usize)>>> {
    let fail = |message: String| {
        DataFusionError::External(Box::new(FetchFailed {
            stage_id: id.stage,
            map_partition: id.map,
            executor_id: executor_id.to_string(),
            message,
        }))
    };
    let channel = clients.channel(address).map_err(fail)?;
    let mut client = FlightServiceClient::new(channel)
        .max_decoding_message_size(MAX_FLIGHT_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_FLIGHT_MESSAGE_BYTES);
    let response = client
        .do_get(Ticket::new(id.ticket()))
        .await
        .map_err(|s| fail(format!("{}: {}", s.code(), s.message())))?;
    let executor_id = executor_id.to_string();
    // Count encoded bytes as they arrive, before decoding.
    let sizes = Arc::new(AtomicU64::new(0));
    let counter = sizes.clone();
    let flight_data = response.into_inner().map(move |r| match r {
        Ok(fd) => {
            counter.fetch_add(
                (fd.data_header.len() + fd.data_body.len()) as u64,
                Ordering::Relaxed,
            );
            Ok(fd)
        }
        Err(s) => Err(FlightError::Tonic(Box::new(s))),
    });
    let batches = FlightRecordBatchStream::new_from_flight_data(flight_data);
    let stage = id.stage;
    let map = id.map;
    Ok(batches
        .map(move |r| match r {
            Ok(b) => {
                let n = sizes.swap(0, Ordering::Relaxed) as usize;
                Ok((b, n))
            }
            Err(e) => Err(DataFusionError::External(Box::new(FetchFailed {
                stage_id: stage,
                map_partition: map,
                executor_id: executor_id.clone(),
                message: e.to_string(),
            }))),
        })
        .boxed())
}
