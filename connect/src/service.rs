//! The Spark Connect gRPC service: one Kiln driver serving every client
//! session. ExecutePlan starts an [`Operation`] that runs in a task of its
//! own (several sessions' jobs run at once on the shared executors) and
//! attaches a response stream to it; ReattachExecute attaches another,
//! ReleaseExecute drops what the client read, Interrupt and ReleaseSession
//! stop operations. A background sweep drops operations their client
//! abandoned and idle sessions.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use futures::Stream;
use kiln_driver::application::Driver;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, Instrument};

use crate::conf::ServerConf;
use crate::error::{ConnectError, Result};
use crate::execute::{Executor, Responder};
use crate::operation::Operation;
use crate::proto::execute_plan_request::request_option::RequestOption;
use crate::proto::execute_plan_response::{ResponseType, ResultComplete};
use crate::proto::spark_connect_service_server::{SparkConnectService, SparkConnectServiceServer};
use crate::proto::*;
use crate::session::{Session, Sessions};

/// The largest message either side sends, as the PySpark client's default.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// How often abandoned operations and idle sessions are looked for.
const SWEEP_PERIOD: Duration = Duration::from_millis(500);

/// Kiln's Spark Connect service.
#[derive(Clone)]
pub struct ConnectService {
    executor: Executor,
    sessions: Sessions,
    template: SessionContext,
    conf: Arc<ServerConf>,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ExecutePlanResponse, Status>> + Send>>;

impl ConnectService {
    /// A service running every session's jobs on `driver`'s executors,
    /// with the server settings `conf`.
    pub fn new(driver: Driver, conf: ServerConf) -> Self {
        let template = driver.new_session();
        ConnectService {
            executor: Executor {
                driver: Arc::new(driver),
            },
            sessions: Sessions::default(),
            template,
            conf: Arc::new(conf),
        }
    }

    /// The tonic server of this service, with the client's message limits.
    /// Starts the sweep of abandoned operations (it ends with the service).
    pub fn server(self) -> SparkConnectServiceServer<Self> {
        let sessions = self.sessions.downgrade();
        let conf = self.conf.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_PERIOD).await;
                let Some(sessions) = Sessions::upgrade(&sessions) else {
                    return;
                };
                sessions.sweep(conf.detached_timeout, conf.session_timeout);
            }
        });
        SparkConnectServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Stops every operation of every session (the server is stopping):
    /// their streams end with an error, so the server can finish.
    pub fn shutdown(&self) {
        self.sessions.release_all();
    }

    fn session(&self, id: &str, observed: Option<&str>) -> Result<Arc<Session>> {
        self.sessions.get_or_create(id, observed, || {
            let state = self.template.state();
            let ctx = kiln_core::config::spark_session(
                state.config().clone(),
                state.runtime_env().clone(),
            );
            let partitions = state.config().target_partitions();
            (ctx, partitions)
        })
    }

    /// A session that must exist already (reattach, release).
    fn existing_session(&self, id: &str, observed: Option<&str>) -> Result<Arc<Session>> {
        let s = self.sessions.get(id).ok_or_else(|| {
            ConnectError::handle(
                "INVALID_HANDLE.SESSION_NOT_FOUND",
                format!("Session {id} not found: it was released or the server restarted."),
            )
        })?;
        // Same checks as for any request of the session.
        self.session(&s.id, observed)
    }

    /// Starts operation `op` of `session` running `plan`.
    fn start(&self, session: Arc<Session>, op: Arc<Operation>, plan: Plan) {
        let executor = self.executor.clone();
        let span = tracing::info_span!("operation", session = %session.id, operation = %op.id);
        tokio::spawn(
            async move {
                let out = Responder {
                    op: &op,
                    session: &session,
                };
                let outcome = tokio::select! {
                    r = executor.run(&out, plan) => Some(r),
                    // Dropping the run cancels its job's tasks.
                    _ = op.cancelled() => None,
                };
                let error = match outcome {
                    Some(Ok(())) => out
                        .send(ResponseType::ResultComplete(ResultComplete {}), None)
                        .await
                        .err(),
                    Some(Err(e)) => Some(e),
                    None => Some(ConnectError::cancelled()),
                };
                let error = match error {
                    Some(_) if op.is_stopped_by_shutdown() => Some(ConnectError::ServerStopping),
                    e => e,
                };
                if let Some(e) = &error {
                    info!("operation failed: {e}");
                }
                op.finish(error.map(|e| e.to_status()));
            }
            .instrument(span),
        );
    }
}

#[tonic::async_trait]
impl SparkConnectService for ConnectService {
    type ExecutePlanStream = ResponseStream;
    type ReattachExecuteStream = ResponseStream;

    async fn execute_plan(
        &self,
        request: Request<ExecutePlanRequest>,
    ) -> std::result::Result<Response<Self::ExecutePlanStream>, Status> {
        let req = request.into_inner();
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let operation_id = match req.operation_id {
            Some(id) if uuid::Uuid::parse_str(&id).is_err() => {
                return Err(ConnectError::handle(
                    "INVALID_HANDLE.FORMAT",
                    format!("The operation id {id} is not a UUID."),
                )
                .into())
            }
            Some(id) => id,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let reattachable = req.request_options.iter().any(|o| {
            matches!(&o.request_option, Some(RequestOption::ReattachOptions(r)) if r.reattachable)
        });
        let plan = req
            .plan
            .ok_or_else(|| ConnectError::IllegalArgument("ExecutePlan without a plan".into()))?;
        let limits = self.conf.stream_limits(&session.conf())?;
        let op = Arc::new(Operation::new(
            operation_id,
            req.tags,
            reattachable,
            self.conf.replay_buffer_bytes,
        ));
        session.start_operation(op.clone())?;
        let stream = op.attach(None, limits)?;
        self.start(session, op, plan);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn analyze_plan(
        &self,
        request: Request<AnalyzePlanRequest>,
    ) -> std::result::Result<Response<AnalyzePlanResponse>, Status> {
        let req = request.into_inner();
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        Ok(Response::new(crate::analyze::analyze(&session, req).await?))
    }

    async fn config(
        &self,
        request: Request<ConfigRequest>,
    ) -> std::result::Result<Response<ConfigResponse>, Status> {
        let req = request.into_inner();
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let op = req
            .operation
            .and_then(|o| o.op_type)
            .ok_or_else(|| ConnectError::IllegalArgument("an empty config request".into()))?;
        let (pairs, warnings) = crate::session::config_rpc(&session, op)?;
        Ok(Response::new(ConfigResponse {
            session_id: session.id.clone(),
            server_side_session_id: session.server_side_id.clone(),
            pairs,
            warnings,
        }))
    }

    async fn add_artifacts(
        &self,
        _request: Request<Streaming<AddArtifactsRequest>>,
    ) -> std::result::Result<Response<AddArtifactsResponse>, Status> {
        Err(
            ConnectError::Unsupported("artifacts (addArtifacts, large local relations)".into())
                .into(),
        )
    }

    async fn artifact_status(
        &self,
        _request: Request<ArtifactStatusesRequest>,
    ) -> std::result::Result<Response<ArtifactStatusesResponse>, Status> {
        Err(ConnectError::Unsupported("artifacts".into()).into())
    }

    async fn interrupt(
        &self,
        request: Request<InterruptRequest>,
    ) -> std::result::Result<Response<InterruptResponse>, Status> {
        use interrupt_request::{Interrupt, InterruptType};
        let req = request.into_inner();
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let kind =
            InterruptType::try_from(req.interrupt_type).unwrap_or(InterruptType::Unspecified);
        let ids = match (kind, req.interrupt) {
            (InterruptType::All, _) => session.interrupt(|_| true),
            (InterruptType::Tag, Some(Interrupt::OperationTag(tag))) => {
                session.interrupt(|op| op.tags.contains(&tag))
            }
            (InterruptType::OperationId, Some(Interrupt::OperationId(id))) => {
                session.interrupt(|op| op.id == id)
            }
            _ => {
                return Err(ConnectError::IllegalArgument(
                    "interrupt: say all, a tag or an operation id".into(),
                )
                .into())
            }
        };
        info!(session = %session.id, "interrupted {} operation(s)", ids.len());
        Ok(Response::new(InterruptResponse {
            session_id: session.id.clone(),
            server_side_session_id: session.server_side_id.clone(),
            interrupted_ids: ids,
        }))
    }

    async fn reattach_execute(
        &self,
        request: Request<ReattachExecuteRequest>,
    ) -> std::result::Result<Response<Self::ReattachExecuteStream>, Status> {
        let req = request.into_inner();
        let session = self.existing_session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let op = session.operation(&req.operation_id)?;
        if !op.reattachable {
            return Err(ConnectError::handle(
                "INVALID_CURSOR.NOT_REATTACHABLE",
                format!("Operation {} is not reattachable.", op.id),
            )
            .into());
        }
        let limits = self.conf.stream_limits(&session.conf())?;
        let stream = op.attach(req.last_response_id.as_deref(), limits)?;
        info!(session = %session.id, operation = %op.id, "client reattached");
        Ok(Response::new(Box::pin(stream)))
    }

    async fn release_execute(
        &self,
        request: Request<ReleaseExecuteRequest>,
    ) -> std::result::Result<Response<ReleaseExecuteResponse>, Status> {
        use release_execute_request::Release;
        let req = request.into_inner();
        let session = self.existing_session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        // Releasing an operation already gone is nothing to do.
        match req.release {
            Some(Release::ReleaseUntil(u)) => {
                if let Ok(op) = session.operation(&req.operation_id) {
                    op.release_until(&u.response_id);
                }
            }
            Some(Release::ReleaseAll(_)) | None => session.release_operation(&req.operation_id),
        }
        Ok(Response::new(ReleaseExecuteResponse {
            session_id: session.id.clone(),
            server_side_session_id: session.server_side_id.clone(),
            operation_id: Some(req.operation_id),
        }))
    }

    async fn release_session(
        &self,
        request: Request<ReleaseSessionRequest>,
    ) -> std::result::Result<Response<ReleaseSessionResponse>, Status> {
        let req = request.into_inner();
        let released = self.sessions.release(&req.session_id);
        if let Some(s) = &released {
            info!(session = %s.id, "session released");
        }
        Ok(Response::new(ReleaseSessionResponse {
            session_id: req.session_id,
            server_side_session_id: released
                .map(|s| s.server_side_id.clone())
                .unwrap_or_default(),
        }))
    }

    async fn fetch_error_details(
        &self,
        request: Request<FetchErrorDetailsRequest>,
    ) -> std::result::Result<Response<FetchErrorDetailsResponse>, Status> {
        let req = request.into_inner();
        // Errors carry everything in their ErrorInfo (no errorId), so there
        // is nothing more to fetch.
        Ok(Response::new(FetchErrorDetailsResponse {
            server_side_session_id: String::new(),
            session_id: req.session_id,
            root_error_idx: None,
            errors: vec![],
        }))
    }

    async fn clone_session(
        &self,
        _request: Request<CloneSessionRequest>,
    ) -> std::result::Result<Response<CloneSessionResponse>, Status> {
        Err(ConnectError::Unsupported("cloneSession".into()).into())
    }

    async fn get_status(
        &self,
        _request: Request<GetStatusRequest>,
    ) -> std::result::Result<Response<GetStatusResponse>, Status> {
        Err(ConnectError::Unsupported("getStatus".into()).into())
    }
}
