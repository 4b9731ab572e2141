//! The Spark Connect gRPC service: one Kiln driver serving every client
//! session. ExecutePlan runs in a task per operation (so `interrupt` and a
//! disconnecting client can stop it); the other RPCs answer at once.

use std::pin::Pin;
use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionContext;
use futures::Stream;
use kiln_driver::application::Driver;
use tokio::sync::{mpsc, watch, Mutex};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, Instrument};

use crate::error::{ConnectError, Result};
use crate::execute::{Executor, Responder};
use crate::proto::analyze_plan_request::Analyze;
use crate::proto::analyze_plan_response as ar;
use crate::proto::config_request::operation::OpType as ConfigOp;
use crate::proto::execute_plan_response::{ResponseType, ResultComplete};
use crate::proto::spark_connect_service_server::{SparkConnectService, SparkConnectServiceServer};
use crate::proto::*;
use crate::relation::Planner;
use crate::session::{Operation, Session, Sessions};
use crate::types;

/// The largest message either side sends, as the PySpark client's default.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// Kiln's Spark Connect service.
#[derive(Clone)]
pub struct ConnectService {
    executor: Executor,
    sessions: Sessions,
    template: SessionContext,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ExecutePlanResponse, Status>> + Send>>;

impl ConnectService {
    /// A service running every session's jobs on `driver`'s executors.
    pub fn new(driver: Driver) -> Self {
        let template = driver.new_session();
        ConnectService {
            executor: Executor {
                driver: Arc::new(Mutex::new(driver)),
            },
            sessions: Sessions::default(),
            template,
        }
    }

    /// The tonic server of this service, with the client's message limits.
    pub fn server(self) -> SparkConnectServiceServer<Self> {
        SparkConnectServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
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

    async fn plan_of(&self, session: &Session, plan: Option<&Plan>) -> Result<LogicalPlan> {
        match plan.and_then(|p| p.op_type.as_ref()) {
            Some(plan::OpType::Root(rel)) => Planner::new(&session.ctx).plan(rel).await,
            _ => Err(ConnectError::IllegalArgument(
                "analyze needs a relation".into(),
            )),
        }
    }

    async fn analyze(&self, req: AnalyzePlanRequest) -> Result<AnalyzePlanResponse> {
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let result = match req.analyze {
            Some(Analyze::Schema(s)) => {
                let plan = self.plan_of(&session, s.plan.as_ref()).await?;
                let schema = types::client_schema(analyzed_schema(&session, &plan)?.as_ref());
                ar::Result::Schema(ar::Schema {
                    schema: Some(types::schema_to_spark(&schema)),
                })
            }
            Some(Analyze::Explain(e)) => {
                let plan = self.plan_of(&session, e.plan.as_ref()).await?;
                let state = session.ctx.state();
                let optimized = state.optimize(&plan)?;
                let physical = state.create_physical_plan(&plan).await?;
                let physical = displayable(physical.as_ref()).indent(false).to_string();
                let extended =
                    e.explain_mode != analyze_plan_request::explain::ExplainMode::Simple as i32;
                let text = if extended {
                    format!(
                        "== Parsed Logical Plan ==\n{}\n\n== Optimized Logical Plan ==\n{}\n\n== Physical Plan ==\n{physical}\n",
                        plan.display_indent(),
                        optimized.display_indent()
                    )
                } else {
                    format!("== Physical Plan ==\n{physical}\n")
                };
                ar::Result::Explain(ar::Explain {
                    explain_string: text,
                })
            }
            Some(Analyze::TreeString(t)) => {
                let plan = self.plan_of(&session, t.plan.as_ref()).await?;
                let schema = types::client_schema(analyzed_schema(&session, &plan)?.as_ref());
                ar::Result::TreeString(ar::TreeString {
                    tree_string: tree_string(&schema, t.level),
                })
            }
            Some(Analyze::IsLocal(l)) => ar::Result::IsLocal(ar::IsLocal {
                is_local: matches!(
                    l.plan.as_ref().and_then(|p| p.op_type.as_ref()),
                    Some(plan::OpType::Root(Relation {
                        rel_type: Some(relation::RelType::LocalRelation(_)),
                        ..
                    }))
                ),
            }),
            Some(Analyze::IsStreaming(_)) => ar::Result::IsStreaming(ar::IsStreaming {
                is_streaming: false,
            }),
            Some(Analyze::InputFiles(f)) => {
                let mut files = vec![];
                if let Some(plan::OpType::Root(rel)) =
                    f.plan.as_ref().and_then(|p| p.op_type.as_ref())
                {
                    input_paths(rel, &mut files);
                }
                ar::Result::InputFiles(ar::InputFiles { files })
            }
            Some(Analyze::SparkVersion(_)) => ar::Result::SparkVersion(ar::SparkVersion {
                version: crate::SPARK_VERSION.to_string(),
            }),
            Some(Analyze::DdlParse(d)) => {
                // A schema (`a int, b string`) or, as Spark, a bare type
                // (`boolean`: a UDF's return type).
                let parsed = types::to_spark(&types::parse_ddl(&d.ddl_string)?);
                ar::Result::DdlParse(ar::DdlParse {
                    parsed: Some(parsed),
                })
            }
            Some(Analyze::SameSemantics(s)) => {
                let a = self.plan_of(&session, s.target_plan.as_ref()).await?;
                let b = self.plan_of(&session, s.other_plan.as_ref()).await?;
                let state = session.ctx.state();
                let same = state.optimize(&a)?.display_indent().to_string()
                    == state.optimize(&b)?.display_indent().to_string();
                ar::Result::SameSemantics(ar::SameSemantics { result: same })
            }
            Some(Analyze::SemanticHash(h)) => {
                use std::hash::{Hash, Hasher};
                let plan = self.plan_of(&session, h.plan.as_ref()).await?;
                let text = session
                    .ctx
                    .state()
                    .optimize(&plan)?
                    .display_indent()
                    .to_string();
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut hasher);
                ar::Result::SemanticHash(ar::SemanticHash {
                    result: hasher.finish() as i32,
                })
            }
            // Kiln keeps no cached partitions yet: a persisted DataFrame is
            // recomputed by each action (docs/pyspark.md says so).
            Some(Analyze::Persist(_)) => ar::Result::Persist(ar::Persist {}),
            Some(Analyze::Unpersist(_)) => ar::Result::Unpersist(ar::Unpersist {}),
            Some(Analyze::GetStorageLevel(_)) => ar::Result::GetStorageLevel(ar::GetStorageLevel {
                storage_level: Some(StorageLevel {
                    use_disk: true,
                    use_memory: true,
                    use_off_heap: false,
                    deserialized: true,
                    replication: 1,
                }),
            }),
            Some(Analyze::JsonToDdl(_)) => {
                return Err(ConnectError::Unsupported("JsonToDDL".into()))
            }
            None => {
                return Err(ConnectError::IllegalArgument(
                    "an empty analyze request".into(),
                ))
            }
        };
        Ok(AnalyzePlanResponse {
            session_id: session.id.clone(),
            server_side_session_id: session.server_side_id.clone(),
            result: Some(result),
        })
    }

    fn config_op(&self, req: ConfigRequest) -> Result<ConfigResponse> {
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
        let kv = |key: String, value: Option<String>| KeyValue { key, value };
        let op = req
            .operation
            .and_then(|o| o.op_type)
            .ok_or_else(|| ConnectError::IllegalArgument("an empty config request".into()))?;
        let mut warnings = vec![];
        let pairs = match op {
            ConfigOp::Set(s) => {
                let mut state = session.ctx.state_ref().read().clone();
                for p in &s.pairs {
                    let value = p.value.clone().unwrap_or_default();
                    session.conf().set(&p.key, &value, state.config_mut())?;
                }
                *session.ctx.state_ref().write() = state;
                vec![]
            }
            ConfigOp::Get(g) => {
                let conf = session.conf();
                g.keys
                    .into_iter()
                    .map(|k| {
                        let v = conf.get_required(&k)?;
                        Ok(kv(k, Some(v)))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            ConfigOp::GetWithDefault(g) => {
                let conf = session.conf();
                g.pairs
                    .into_iter()
                    .map(|p| {
                        let v = conf.get(&p.key).or(p.value);
                        kv(p.key, v)
                    })
                    .collect()
            }
            ConfigOp::GetOption(g) => {
                let conf = session.conf();
                g.keys
                    .into_iter()
                    .map(|k| {
                        let v = conf.get(&k);
                        kv(k, v)
                    })
                    .collect()
            }
            ConfigOp::GetAll(g) => {
                let prefix = g.prefix.unwrap_or_default();
                session
                    .conf()
                    .all()
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| kv(k, Some(v)))
                    .collect()
            }
            ConfigOp::Unset(u) => {
                let mut state = session.ctx.state_ref().read().clone();
                for k in &u.keys {
                    session.conf().unset(k, state.config_mut())?;
                }
                *session.ctx.state_ref().write() = state;
                vec![]
            }
            ConfigOp::IsModifiable(m) => m
                .keys
                .into_iter()
                .map(|k| {
                    let modifiable = crate::conf::SparkConf::is_modifiable(&k);
                    kv(k, Some(modifiable.to_string()))
                })
                .collect(),
        };
        if pairs.is_empty() {
            warnings.clear();
        }
        Ok(ConfigResponse {
            session_id: session.id.clone(),
            server_side_session_id: session.server_side_id.clone(),
            pairs,
            warnings,
        })
    }
}

fn input_paths(rel: &Relation, out: &mut Vec<String>) {
    use relation::RelType;
    if let Some(RelType::Read(Read {
        read_type: Some(read::ReadType::DataSource(ds)),
        ..
    })) = &rel.rel_type
    {
        out.extend(ds.paths.iter().cloned());
    }
    // Children: every relation field of the message.
    let mut children: Vec<&Relation> = vec![];
    match &rel.rel_type {
        Some(RelType::Project(p)) => children.extend(p.input.as_deref()),
        Some(RelType::Filter(p)) => children.extend(p.input.as_deref()),
        Some(RelType::Sort(p)) => children.extend(p.input.as_deref()),
        Some(RelType::Limit(p)) => children.extend(p.input.as_deref()),
        Some(RelType::Aggregate(p)) => children.extend(p.input.as_deref()),
        Some(RelType::Join(j)) => {
            children.extend(j.left.as_deref());
            children.extend(j.right.as_deref());
        }
        Some(RelType::SetOp(s)) => {
            children.extend(s.left_input.as_deref());
            children.extend(s.right_input.as_deref());
        }
        _ => {}
    }
    for c in children {
        input_paths(c, out);
    }
}

/// The schema a plan's rows will have: its names, and the types after
/// the analyzer's coercions (Spark's among them), which the rows are
/// computed with (`date - date` is planned as a count of days and
/// analyzed into an interval).
fn analyzed_schema(
    session: &crate::session::Session,
    plan: &datafusion::logical_expr::LogicalPlan,
) -> Result<arrow::datatypes::SchemaRef> {
    let state = session.ctx.state();
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let names = std::sync::Arc::new(plan.schema().as_arrow().clone());
    let types = std::sync::Arc::new(analyzed.schema().as_arrow().clone());
    Ok(crate::execute::with_types_of(&names, &types))
}

/// `printSchema()`'s text, as Spark prints it.
fn tree_string(schema: &arrow::datatypes::Schema, level: Option<i32>) -> String {
    fn field(
        out: &mut String,
        prefix: &str,
        name: &str,
        t: &arrow::datatypes::DataType,
        nullable: bool,
        depth: i32,
        max: i32,
    ) {
        use arrow::datatypes::DataType as A;
        let type_name = types::type_name(t);
        out.push_str(&format!(
            "{prefix}-- {name}: {type_name} (nullable = {nullable})\n"
        ));
        if max > 0 && depth >= max {
            return;
        }
        let child_prefix = format!("{prefix}    |");
        match t {
            A::Struct(fs) => {
                for f in fs {
                    field(
                        out,
                        &child_prefix,
                        f.name(),
                        f.data_type(),
                        f.is_nullable(),
                        depth + 1,
                        max,
                    );
                }
            }
            A::List(f) | A::LargeList(f) => {
                field_element(
                    out,
                    &child_prefix,
                    "element",
                    f.data_type(),
                    f.is_nullable(),
                    "containsNull",
                    depth,
                    max,
                );
            }
            A::Map(entries, _) => {
                if let A::Struct(kv) = entries.data_type() {
                    if kv.len() == 2 {
                        out.push_str(&format!(
                            "{child_prefix}-- key: {}\n",
                            types::type_name(kv[0].data_type())
                        ));
                        field_element(
                            out,
                            &child_prefix,
                            "value",
                            kv[1].data_type(),
                            kv[1].is_nullable(),
                            "valueContainsNull",
                            depth,
                            max,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn field_element(
        out: &mut String,
        prefix: &str,
        name: &str,
        t: &arrow::datatypes::DataType,
        nullable: bool,
        label: &str,
        depth: i32,
        max: i32,
    ) {
        let mut inner = String::new();
        field(&mut inner, prefix, name, t, nullable, depth + 1, max);
        out.push_str(&inner.replacen(
            &format!("(nullable = {nullable})"),
            &format!("({label} = {nullable})"),
            1,
        ));
    }
    let max = level.unwrap_or(0);
    let mut out = "root\n".to_string();
    for f in schema.fields() {
        field(
            &mut out,
            " |",
            f.name(),
            f.data_type(),
            f.is_nullable(),
            1,
            max,
        );
    }
    out
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
        let operation_id = req
            .operation_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let plan = req
            .plan
            .ok_or_else(|| ConnectError::IllegalArgument("ExecutePlan without a plan".into()))?;
        let (tx, rx) = mpsc::channel(8);
        let (cancel, mut cancelled) = watch::channel(false);
        session.start_operation(
            &operation_id,
            Operation {
                tags: req.tags.clone(),
                cancel,
            },
        );
        let executor = self.executor.clone();
        let span =
            tracing::info_span!("operation", session = %session.id, operation = %operation_id);
        tokio::spawn(
            async move {
                let out = Responder {
                    tx: &tx,
                    session: &session,
                    operation_id: &operation_id,
                };
                let outcome = tokio::select! {
                    r = executor.run(&out, plan) => Some(r),
                    _ = cancelled.wait_for(|c| *c) => None,
                    // A client that went away stops its operation.
                    _ = tx.closed() => {
                        info!("client disconnected; operation cancelled");
                        session.end_operation(&operation_id);
                        return;
                    }
                };
                match outcome {
                    Some(Ok(())) => {
                        let _ = out
                            .send(ResponseType::ResultComplete(ResultComplete {}), None)
                            .await;
                    }
                    Some(Err(e)) => {
                        info!("operation failed: {e}");
                        let _ = tx.send(Err(e.to_status())).await;
                    }
                    None => {
                        let e = ConnectError::Analysis {
                            class: "OPERATION_CANCELED",
                            message: "Operation has been cancelled.".into(),
                        };
                        let _ = tx.send(Err(e.to_status())).await;
                    }
                }
                session.end_operation(&operation_id);
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn analyze_plan(
        &self,
        request: Request<AnalyzePlanRequest>,
    ) -> std::result::Result<Response<AnalyzePlanResponse>, Status> {
        Ok(Response::new(self.analyze(request.into_inner()).await?))
    }

    async fn config(
        &self,
        request: Request<ConfigRequest>,
    ) -> std::result::Result<Response<ConfigResponse>, Status> {
        Ok(Response::new(self.config_op(request.into_inner())?))
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
            (InterruptType::All, _) => session.interrupt(|_, _| true),
            (InterruptType::Tag, Some(Interrupt::OperationTag(tag))) => {
                session.interrupt(|_, op| op.tags.contains(&tag))
            }
            (InterruptType::OperationId, Some(Interrupt::OperationId(id))) => {
                session.interrupt(|op_id, _| op_id == id)
            }
            _ => {
                return Err(ConnectError::IllegalArgument(
                    "interrupt: say all, a tag or an operation id".into(),
                )
                .into())
            }
        };
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
        // Every operation's stream ends with ResultComplete or an error, so a
        // client only reattaches after a broken connection; Kiln keeps no
        // replay buffer yet.
        Err(ConnectError::Session(format!(
            "[INVALID_HANDLE.OPERATION_NOT_FOUND] Operation not found: {} (Kiln cannot reattach to an operation yet)",
            req.operation_id
        ))
        .into())
    }

    async fn release_execute(
        &self,
        request: Request<ReleaseExecuteRequest>,
    ) -> std::result::Result<Response<ReleaseExecuteResponse>, Status> {
        let req = request.into_inner();
        let session = self.session(
            &req.session_id,
            req.client_observed_server_side_session_id.as_deref(),
        )?;
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
