//! The shuffle service: serves this executor's shuffle blocks to its peers
//! (and the driver) over Arrow Flight `DoGet`. A ticket names one block as
//! `stage/map/attempt/block`; nothing outside the shuffle directory can be
//! named. The reply is the block file's bytes in 1 MiB `data_body` pieces
//! (Kiln's checksummed framing, see `kiln_core::shuffle::block`), not
//! Arrow-encoded `FlightData`: the fetching side checks the writer's
//! checksums itself, and the block is never decoded here (why, with the
//! numbers: docs/architecture.md, "Shuffle integrity"). Callers must present the application secret (checked
//! in front of this service).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use kiln_core::shuffle::fetch::BLOCK_CHUNK_BYTES;
use kiln_core::shuffle::layout::BlockId;
use kiln_ui::prometheus::ExecutorMetrics;
use tokio::io::AsyncReadExt;
use tonic::{Request, Response, Status, Streaming};

/// Serves blocks under one shuffle directory.
#[derive(Debug, Clone)]
pub struct ShuffleService {
    shuffle_dir: PathBuf,
    metrics: Arc<ExecutorMetrics>,
}

impl ShuffleService {
    /// A service over `shuffle_dir`, counting the bytes it serves in
    /// `metrics`.
    pub fn new(shuffle_dir: PathBuf, metrics: Arc<ExecutorMetrics>) -> Self {
        ShuffleService {
            shuffle_dir,
            metrics,
        }
    }
}

type Stream<T> = BoxStream<'static, Result<T, Status>>;

#[tonic::async_trait]
impl FlightService for ShuffleService {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;
    type DoExchangeStream = Stream<FlightData>;

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket = request.into_inner().ticket;
        let id = BlockId::from_ticket(&ticket).ok_or_else(|| {
            Status::invalid_argument("malformed shuffle ticket: expected stage/map/attempt/block")
        })?;
        let path = id.path(&self.shuffle_dir);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Status::not_found(format!("no shuffle block {}", id.ticket()))
                }
                _ => Status::internal(format!("cannot read shuffle block {}: {e}", id.ticket())),
            })?;
        // The block's bytes go out as they are on disk, checksums included,
        // so the fetching side verifies what the map task wrote.
        let ticket = id.ticket();
        let metrics = self.metrics.clone();
        let stream = futures::stream::try_unfold(Some(file), move |file| {
            let ticket = ticket.clone();
            let metrics = metrics.clone();
            async move {
                let Some(mut file) = file else {
                    return Ok(None);
                };
                let mut buf = vec![0u8; BLOCK_CHUNK_BYTES];
                let n = file.read(&mut buf).await.map_err(|e| {
                    Status::internal(format!("cannot read shuffle block {ticket}: {e}"))
                })?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                metrics.served(n as u64);
                let data = FlightData {
                    data_body: buf.into(),
                    ..Default::default()
                };
                Ok(Some((data, Some(file))))
            }
        });
        Ok(Response::new(stream.boxed()))
    }

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("handshake"))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented("list_flights"))
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("get_flight_info"))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info"))
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("get_schema"))
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::unimplemented("do_put"))
    }

    async fn do_action(
        &self,
        _request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented("do_action"))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Err(Status::unimplemented("list_actions"))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("do_exchange"))
    }
}
