//! Reading one shuffle block: from this executor's disk, or its file's bytes
//! over a Flight `DoGet` from the executor that wrote it (Kiln's framing in
//! `data_body`, not Arrow-encoded `FlightData`). Either way the bytes go
//! through a [`BlockDecoder`], so both paths check the writer's checksums.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::Ticket;
use datafusion::error::{DataFusionError, Result};
use futures::stream::BoxStream;
use futures::StreamExt;

use super::block::{BlockDecoder, BlockError};
use super::layout::BlockId;
use super::FetchFailed;
use crate::security::{AuthChannel, Transport};
use crate::settings::SHUFFLE_CONNECTION_TIMEOUT;

/// Size of the pieces a block is read from disk or sent over Flight in.
pub const BLOCK_CHUNK_BYTES: usize = 1024 * 1024;

/// One connection per peer executor, shared by every task of an executor;
/// every call carries the application secret.
#[derive(Debug)]
pub struct FlightClients {
    transport: Transport,
    channels: Mutex<HashMap<String, AuthChannel>>,
    message_timeout: Duration,
}

impl FlightClients {
    /// A pool whose channels use `transport`; a fetch fails when its peer
    /// sends nothing for `message_timeout`
    /// (`spark.shuffle.io.connectionTimeout`).
    pub fn new(transport: Transport, message_timeout: Duration) -> Self {
        FlightClients {
            transport,
            channels: Mutex::new(HashMap::new()),
            message_timeout,
        }
    }

    /// A Flight client for the executor at `address` (connecting lazily).
    pub fn client(
        &self,
        address: &str,
    ) -> std::result::Result<FlightServiceClient<AuthChannel>, String> {
        let mut map = self
            .channels
            .lock()
            .map_err(|_| "flight client pool poisoned".to_string())?;
        let channel = match map.get(address) {
            Some(c) => c.clone(),
            None => {
                let c = self.transport.channel(address)?;
                map.insert(address.to_string(), c.clone());
                c
            }
        };
        let max = self.transport.max_message_bytes;
        Ok(FlightServiceClient::new(channel)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max))
    }
}

/// A block read from local disk, checked frame by frame (sync I/O). Each
/// frame is read from the file straight into the buffer its arrays will
/// live in.
#[derive(Debug)]
pub struct LocalBlock {
    file: Option<File>,
    decoder: BlockDecoder,
}

impl Iterator for LocalBlock {
    type Item = std::result::Result<RecordBatch, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.decoder.next_batch() {
                return Some(Ok(b));
            }
            let file = self.file.as_mut()?;
            let step = match self.decoder.read_from(file) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    self.file = None;
                    self.decoder.finish()
                }
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                self.file = None;
                return Some(Err(e));
            }
        }
    }
}

/// Opens a block on local disk that the map task reported as `expected_len` bytes.
pub fn read_local(path: &Path, expected_len: u64) -> std::result::Result<LocalBlock, BlockError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < expected_len {
        return Err(BlockError::Truncated(format!(
            "{} has {len} of {expected_len} bytes",
            path.display()
        )));
    }
    Ok(LocalBlock {
        file: Some(file),
        decoder: BlockDecoder::new(expected_len),
    })
}

/// Fetches a block of `expected_len` bytes from a peer's Flight service and
/// checks it. Any failure to connect, transfer or verify becomes a
/// [`FetchFailed`] so the driver recomputes the map output instead of
/// failing the job. Items carry the bytes received for each batch.
///
/// The reply to `DoGet` and every later message must come within the
/// pool's message timeout: HTTP/2 keepalive catches a peer whose connection
/// is dead, this catches one that keeps the connection alive but stops
/// sending (a stuck disk, a proxy that holds the stream).
pub async fn fetch_remote(
    clients: &FlightClients,
    address: &str,
    executor_id: &str,
    id: BlockId,
    expected_len: u64,
) -> Result<BoxStream<'static, Result<(RecordBatch, usize)>>> {
    let executor_id = executor_id.to_string();
    let fail = move |message: String| {
        DataFusionError::External(Box::new(FetchFailed {
            stage_id: id.stage,
            map_partition: id.map,
            executor_id: executor_id.clone(),
            message,
        }))
    };
    let mut client = clients.client(address).map_err(&fail)?;
    let deadline = clients.message_timeout;
    let peer = address.to_string();
    let silent =
        move || format!("no reply from {peer} within {deadline:?} ({SHUFFLE_CONNECTION_TIMEOUT})");
    let response = tokio::time::timeout(deadline, client.do_get(Ticket::new(id.ticket())))
        .await
        .map_err(|_| fail(silent()))?
        .map_err(|s| fail(format!("{}: {}", s.code(), s.message())))?;
    struct State {
        messages: tonic::Streaming<arrow_flight::FlightData>,
        decoder: BlockDecoder,
        unreported: usize,
        done: bool,
    }
    let state = State {
        messages: response.into_inner(),
        decoder: BlockDecoder::new(expected_len),
        unreported: 0,
        done: false,
    };
    let stream = futures::stream::unfold(state, move |mut st| {
        let fail = fail.clone();
        let silent = silent.clone();
        async move {
            loop {
                if let Some(b) = st.decoder.next_batch() {
                    let n = std::mem::take(&mut st.unreported);
                    return Some((Ok((b, n)), st));
                }
                if st.done {
                    return None;
                }
                let Ok(next) = tokio::time::timeout(deadline, st.messages.message()).await else {
                    st.done = true;
                    return Some((Err(fail(silent())), st));
                };
                let step = match next {
                    Ok(Some(fd)) => {
                        st.unreported += fd.data_body.len();
                        st.decoder.push(&fd.data_body)
                    }
                    Ok(None) => {
                        st.done = true;
                        st.decoder.finish()
                    }
                    Err(s) => {
                        st.done = true;
                        return Some((Err(fail(format!("{}: {}", s.code(), s.message()))), st));
                    }
                };
                if let Err(e) = step {
                    st.done = true;
                    return Some((Err(fail(e.to_string())), st));
                }
            }
        }
    });
    Ok(stream.boxed())
}
