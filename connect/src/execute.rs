//! ExecutePlan: a client's relation or command run as Kiln jobs, and the
//! responses it streams back (Arrow batches with the Spark schema, command
//! results, then `ResultComplete`).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use futures::StreamExt;
use kiln_driver::application::{sql_plans, Driver};
use kiln_driver::job::QueryStream;

use crate::error::{ConnectError, Result};
use crate::operation::Operation;
use crate::proto::command::CommandType;
use crate::proto::execute_plan_response::{ArrowBatch, ResponseType, SqlCommandResult};
use crate::proto::plan::OpType;
use crate::proto::relation::RelType;
use crate::proto::{self, ExecutePlanResponse, Relation};
use crate::relation::Planner;
use crate::session::Session;
use crate::types;

/// Arrow payloads above this many bytes are split into several responses
/// (the client's message limit is 128 MiB; smaller messages stream better).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Where one operation's responses go.
pub struct Responder<'a> {
    /// The operation: its buffer of responses.
    pub op: &'a Arc<Operation>,
    /// The session the operation runs in.
    pub session: &'a Session,
}

impl Responder<'_> {
    fn response(&self, r: ResponseType, schema: Option<proto::DataType>) -> ExecutePlanResponse {
        ExecutePlanResponse {
            session_id: self.session.id.clone(),
            server_side_session_id: self.session.server_side_id.clone(),
            operation_id: self.op.id.clone(),
            response_id: uuid::Uuid::new_v4().to_string(),
            response_type: Some(r),
            metrics: None,
            observed_metrics: vec![],
            schema,
        }
    }

    /// Adds one response to the operation's; waits while its buffer is
    /// full, fails once the operation is cancelled.
    pub async fn send(&self, r: ResponseType, schema: Option<proto::DataType>) -> Result<()> {
        self.op.push(self.response(r, schema)).await
    }

    /// Sends the rows of a result as they come: the Spark schema with the
    /// first batch, and at least one (maybe empty) batch, so the client
    /// knows the columns. `schema` names the columns as the client sees
    /// them; the batches' own types win.
    pub async fn send_stream(&self, schema: &SchemaRef, mut rows: QueryStream) -> Result<()> {
        let mut sender = RowSender::new(self, schema);
        while let Some(batch) = rows.next().await {
            let batch = batch.map_err(ConnectError::from_kiln)?;
            sender.send(&batch).await?;
        }
        sender.finish().await
    }

    /// Sends rows already at hand (see [`Responder::send_stream`]).
    pub async fn send_rows(&self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
        let mut sender = RowSender::new(self, schema);
        for b in batches {
            sender.send(b).await?;
        }
        sender.finish().await
    }
}

/// Sends one result's batches, numbering their rows.
struct RowSender<'a, 'b> {
    out: &'a Responder<'b>,
    names: SchemaRef,
    client_schema: Option<SchemaRef>,
    spark_schema: Option<proto::DataType>,
    offset: i64,
    sent_any: bool,
    max_rows: usize,
}

impl<'a, 'b> RowSender<'a, 'b> {
    fn new(out: &'a Responder<'b>, names: &SchemaRef) -> Self {
        RowSender {
            out,
            names: names.clone(),
            client_schema: None,
            spark_schema: None,
            offset: 0,
            sent_any: false,
            max_rows: out
                .session
                .conf()
                .get("spark.sql.execution.arrow.maxRecordsPerBatch")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// The schema the client reads, fixed by the first batch: the client's
    /// names, the types the job ran with (the analyzer may change them).
    fn schema_for(&mut self, batch_schema: &SchemaRef) -> SchemaRef {
        if let Some(s) = &self.client_schema {
            return s.clone();
        }
        let s = types::client_schema(&with_types_of(&self.names, batch_schema));
        self.spark_schema = Some(types::schema_to_spark(&s));
        self.client_schema = Some(s.clone());
        s
    }

    async fn send(&mut self, batch: &RecordBatch) -> Result<()> {
        let schema = self.schema_for(&batch.schema());
        let named = types::batch_of(
            &with_types_of(&self.names, &batch.schema()),
            batch.columns().to_vec(),
            batch.num_rows(),
        )?;
        let b = types::client_batch(&named, &schema)?;
        for piece in split(&b, self.max_rows) {
            if piece.num_rows() == 0 && self.sent_any {
                continue;
            }
            self.piece(&schema, &piece).await?;
        }
        Ok(())
    }

    async fn piece(&mut self, schema: &SchemaRef, piece: &RecordBatch) -> Result<()> {
        let rows = piece.num_rows() as i64;
        let data = ipc_bytes(schema, piece)?;
        self.out
            .send(
                ResponseType::ArrowBatch(ArrowBatch {
                    row_count: rows,
                    data: data.into(),
                    start_offset: Some(self.offset),
                    chunk_index: None,
                    num_chunks_in_batch: None,
                }),
                self.spark_schema.take(),
            )
            .await?;
        self.offset += rows;
        self.sent_any = true;
        Ok(())
    }

    async fn finish(mut self) -> Result<()> {
        if self.sent_any {
            return Ok(());
        }
        let names = self.names.clone();
        let schema = self.schema_for(&names);
        let empty = RecordBatch::new_empty(schema.clone());
        self.piece(&schema, &empty).await
    }
}

/// `b` in pieces of at most `max_rows` rows (Spark's
/// `spark.sql.execution.arrow.maxRecordsPerBatch`; 0: any) and about
/// [`MAX_BATCH_BYTES`] bytes.
fn split(b: &RecordBatch, max_rows: usize) -> Vec<RecordBatch> {
    let size = b.get_array_memory_size();
    let by_size = b.num_rows().div_ceil(size.div_ceil(MAX_BATCH_BYTES).max(1));
    let per = match max_rows {
        0 => by_size,
        n => by_size.min(n),
    }
    .max(1);
    if b.num_rows() <= per {
        return vec![b.clone()];
    }
    (0..b.num_rows())
        .step_by(per)
        .map(|start| b.slice(start, per.min(b.num_rows() - start)))
        .collect()
}

/// One Arrow IPC stream (schema, batch, end) as the client reads a batch.
pub fn ipc_bytes(schema: &SchemaRef, batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = vec![];
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
        w.write(batch)
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
        w.finish()
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
    }
    Ok(buf)
}

/// The fields of `names` with the types and nullability of the fields of
/// `types` at the same places (`names` as it is if their widths differ).
pub(crate) fn with_types_of(names: &SchemaRef, types: &SchemaRef) -> SchemaRef {
    if names.fields().len() != types.fields().len() {
        return Arc::clone(names);
    }
    let fields: Vec<Field> = names
        .fields()
        .iter()
        .zip(types.fields().iter())
        .map(|(n, t)| {
            n.as_ref()
                .clone()
                .with_data_type(t.data_type().clone())
                .with_nullable(n.is_nullable() || t.is_nullable())
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, names.metadata().clone()))
}

/// Runs plans as jobs on the cluster (several at once).
#[derive(Clone)]
pub struct Executor {
    /// The driver every session's jobs run on.
    pub driver: Arc<Driver>,
}

impl Executor {
    /// Runs `plan` in `session` and returns all its rows.
    pub async fn collect(
        &self,
        session: &Session,
        plan: LogicalPlan,
        what: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let logical: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let rows = self.stream(session, plan, what).await?;
        let schema = rows.schema();
        let batches = rows.collect().await.map_err(ConnectError::from_kiln)?;
        // The logical names are the client's: the physical plan may name
        // the same columns differently (`count(Int64(1))`). The types are
        // the physical plan's: the plan as first built has a CASE of its
        // first branch's type and a UNION of its first input's, which the
        // analyzer's coercion changes.
        let schema = with_types_of(&logical, &schema);
        let batches = batches
            .into_iter()
            .map(|b| types::batch_of(&schema, b.columns().to_vec(), b.num_rows()))
            .collect::<Result<Vec<_>>>()?;
        Ok((schema, batches))
    }

    /// Runs `plan` in `session`; its rows come as the job produces them.
    pub async fn stream(
        &self,
        session: &Session,
        plan: LogicalPlan,
        what: &str,
    ) -> Result<QueryStream> {
        self.driver
            .execute_stream(&session.ctx, plan, what)
            .await
            .map_err(ConnectError::from_kiln)
    }

    /// Runs one ExecutePlan request's plan.
    pub async fn run(&self, out: &Responder<'_>, plan: proto::Plan) -> Result<()> {
        match plan.op_type {
            Some(OpType::Root(rel)) => self.root(out, &rel).await,
            Some(OpType::Command(cmd)) => self.command(out, cmd).await,
            Some(OpType::CompressedOperation(_)) => Err(ConnectError::Unsupported(
                "compressed plans (spark.connect.session.planCompression)".into(),
            )),
            None => Err(ConnectError::IllegalArgument(
                "a plan without an operation".into(),
            )),
        }
    }

    async fn root(&self, out: &Responder<'_>, rel: &Relation) -> Result<()> {
        if let Some(RelType::ShowString(s)) = &rel.rel_type {
            let input = s
                .input
                .as_deref()
                .ok_or_else(|| ConnectError::IllegalArgument("show() of nothing".into()))?;
            let plan = Planner::new(&out.session.ctx).plan(input).await?;
            let names = crate::relation::column_names(&plan);
            let n = usize::try_from(s.num_rows.max(0)).unwrap_or(0);
            let limited = LogicalPlanBuilder::from(plan)
                .limit(0, Some(n + 1))?
                .build()?;
            let (_, batches) = self.collect(out.session, limited, "show()").await?;
            let truncate = usize::try_from(s.truncate.max(0)).unwrap_or(0);
            let text = crate::show::show_string(&names, &batches, n, truncate, s.vertical);
            return self.send_string(out, "show_string", text).await;
        }
        if let Some(RelType::Tail(t)) = &rel.rel_type {
            return self.tail(out, t).await;
        }
        let plan = Planner::new(&out.session.ctx).plan(rel).await?;
        let names: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let rows = self.stream(out.session, plan, "DataFrame action").await?;
        out.send_stream(&names, rows).await
    }

    /// `df.tail(n)`: the last `n` rows, kept while the rows stream by (as
    /// Spark, an action at the root of a plan).
    async fn tail(&self, out: &Responder<'_>, t: &proto::Tail) -> Result<()> {
        let input = t
            .input
            .as_deref()
            .ok_or_else(|| ConnectError::IllegalArgument("tail() of nothing".into()))?;
        let n = usize::try_from(t.limit)
            .map_err(|_| ConnectError::IllegalArgument(format!("tail({}) is negative", t.limit)))?;
        let plan = Planner::new(&out.session.ctx).plan(input).await?;
        let names: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let mut rows = self.stream(out.session, plan, "tail()").await?;
        let mut kept: std::collections::VecDeque<RecordBatch> = Default::default();
        let mut count = 0;
        while let Some(batch) = rows.next().await {
            let batch = batch.map_err(ConnectError::from_kiln)?;
            count += batch.num_rows();
            kept.push_back(batch);
            while let Some(first) = kept.front() {
                if count - first.num_rows() < n {
                    break;
                }
                count -= first.num_rows();
                kept.pop_front();
            }
        }
        let mut last: Vec<RecordBatch> = kept.into();
        if let Some(first) = last.first_mut() {
            let skip = count.saturating_sub(n);
            *first = first.slice(skip, first.num_rows() - skip);
        }
        out.send_rows(&names, &last).await
    }

    async fn send_string(&self, out: &Responder<'_>, name: &str, text: String) -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
        let col: ArrayRef = Arc::new(StringArray::from(vec![text]));
        let batch = RecordBatch::try_new(schema.clone(), vec![col])
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
        out.send_rows(&schema, &[batch]).await
    }

    async fn command(&self, out: &Responder<'_>, cmd: proto::Command) -> Result<()> {
        match cmd.command_type {
            Some(CommandType::SqlCommand(c)) => self.sql_command(out, c).await,
            Some(CommandType::CreateDataframeView(v)) => {
                let input = v
                    .input
                    .as_ref()
                    .ok_or_else(|| ConnectError::IllegalArgument("a view of nothing".into()))?;
                let plan = Planner::new(&out.session.ctx).plan(input).await?;
                let ctx = &out.session.ctx;
                let local = v.name.strip_prefix("global_temp.").unwrap_or(&v.name);
                let global = format!("{}.{local}", crate::relation_catalog::GLOBAL_TEMP);
                let name = if v.is_global { global.as_str() } else { local };
                if !v.replace && ctx.table_exist(name)? {
                    return Err(ConnectError::Analysis {
                        class: "TEMP_TABLE_OR_VIEW_ALREADY_EXISTS",
                        message: format!(
                            "Cannot create the temporary view `{name}` because it already exists."
                        ),
                    });
                }
                ctx.deregister_table(name)?;
                ctx.register_table(name, Arc::new(ViewTable::new(plan, None)))?;
                Ok(())
            }
            Some(CommandType::WriteOperation(w)) => {
                crate::write::write(&self.driver, out.session, w).await
            }
            Some(CommandType::WriteOperationV2(w)) => {
                crate::write::write_v2(&self.driver, out.session, w).await
            }
            Some(CommandType::RegisterFunction(f)) => crate::udf::register(&out.session.ctx, &f),
            Some(other) => Err(ConnectError::Unsupported(format!(
                "the command {}",
                format!("{other:?}").split('(').next().unwrap_or("unknown")
            ))),
            None => Err(ConnectError::IllegalArgument(
                "a command without a type".into(),
            )),
        }
    }

    #[allow(deprecated)] // `sql` is how older clients send the text
    async fn sql_command(&self, out: &Responder<'_>, c: proto::SqlCommand) -> Result<()> {
        let text = match c.input.as_ref().and_then(|r| r.rel_type.as_ref()) {
            Some(RelType::Sql(s)) => s.query.clone(),
            _ => c.sql.clone(),
        };
        if let Some(result) = set_statement(out.session, &text)? {
            return self.command_result(out, result).await;
        }
        let ctx = &out.session.ctx;
        let plans = sql_plans(ctx, &text, "spark.sql")
            .await
            .map_err(|e| ConnectError::from_sql(e, &text))?;
        let [plans] = <[Vec<LogicalPlan>; 1]>::try_from(plans).map_err(|p| {
            ConnectError::Parse(format!("spark.sql takes one statement, got {}", p.len()))
        })?;
        let eager = |plan: &LogicalPlan| {
            matches!(
                plan,
                LogicalPlan::Ddl(_)
                    | LogicalPlan::Statement(_)
                    | LogicalPlan::Dml(_)
                    | LogicalPlan::Copy(_)
            )
        };
        let relation = if plans.len() != 1 || plans.iter().all(eager) {
            // Commands run now; a statement of several plans (`CREATE
            // TABLE ... AS SELECT`) runs them in order and shows the last.
            let mut result = (Arc::new(Schema::empty()), vec![]);
            for plan in plans {
                // A write answers with no columns in Spark (Kiln's driver
                // gives the count of rows written: not the client's).
                let writes = matches!(plan, LogicalPlan::Dml(_) | LogicalPlan::Copy(_));
                result = self.collect(out.session, plan, "spark.sql").await?;
                if writes {
                    result = (Arc::new(Schema::empty()), vec![]);
                }
            }
            local_relation(&result.0, &result.1)?
        } else {
            // A query stays lazy: the client sends it back with its actions.
            // It was planned above (its mistakes are reported now, as
            // Spark's analysis does); planning it again would only cost.
            match c.input {
                Some(r) => r,
                None => Relation {
                    common: None,
                    rel_type: Some(RelType::Sql(proto::Sql {
                        query: text,
                        ..Default::default()
                    })),
                },
            }
        };
        out.send(
            ResponseType::SqlCommandResult(SqlCommandResult {
                relation: Some(relation),
            }),
            None,
        )
        .await
    }

    async fn command_result(&self, out: &Responder<'_>, rel: Relation) -> Result<()> {
        out.send(
            ResponseType::SqlCommandResult(SqlCommandResult {
                relation: Some(rel),
            }),
            None,
        )
        .await
    }
}

/// A relation holding `batches` inline.
fn local_relation(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Relation> {
    let client_schema = types::client_schema(schema);
    let mut buf = vec![];
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &client_schema)
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
        for b in batches {
            w.write(&types::client_batch(b, &client_schema)?)
                .map_err(|e| ConnectError::Execution(e.to_string()))?;
        }
        w.finish()
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
    }
    Ok(Relation {
        common: None,
        rel_type: Some(RelType::LocalRelation(proto::LocalRelation {
            data: Some(buf.into()),
            schema: None,
        })),
    })
}

/// `SET key=value` / `SET key` / `SET` with Spark's keys, answered from the
/// session's settings (DataFusion's SET knows only its own keys).
fn set_statement(session: &Session, sql: &str) -> Result<Option<Relation>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let Some(rest) = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("set "))
        .map(|_| text[4..].trim())
    else {
        if text.eq_ignore_ascii_case("set") {
            let all = session.conf().all();
            return key_values(all.into_iter().collect()).map(Some);
        }
        return Ok(None);
    };
    let (key, value) = match rest.split_once('=') {
        Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
        None => (rest.to_string(), None),
    };
    let key = key.trim_matches('`').to_string();
    match value {
        Some(v) => {
            let mut state = session.ctx.state_ref().write().clone();
            session.conf().set(&key, &v, state.config_mut())?;
            *session.ctx.state_ref().write() = state;
            key_values(vec![(key, v)]).map(Some)
        }
        None => {
            let v = session
                .conf()
                .get(&key)
                .unwrap_or_else(|| "<undefined>".to_string());
            key_values(vec![(key, v)]).map(Some)
        }
    }
}

fn key_values(pairs: Vec<(String, String)>) -> Result<Relation> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
    ]));
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| &p.0)));
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| &p.1)));
    let batch = RecordBatch::try_new(schema.clone(), vec![keys, values])
        .map_err(|e| ConnectError::Execution(e.to_string()))?;
    local_relation(&schema, &[batch])
}
