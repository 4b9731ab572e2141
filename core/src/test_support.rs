//! Helpers of core's unit tests: a Spark session and the batches a query
//! gives on it, as a job statement or as plain DataFusion SQL.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A Spark session with default settings.
pub fn session() -> SessionContext {
    crate::config::spark_session(SessionConfig::new(), Arc::new(RuntimeEnv::default()))
}

/// The batches of `sql` run through DataFusion's own SQL front end.
pub async fn sql_batches(sql: &str) -> Vec<RecordBatch> {
    let ctx = session();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// The batches of `sql` parsed and prepared as a job's statement is, or the
/// error's text.
pub async fn job_batches(sql: &str) -> Result<Vec<RecordBatch>, String> {
    let ctx = session();
    let mut stmts = crate::sql::parse_job(sql, "spark", "test").map_err(|e| e.to_string())?;
    crate::sql::prepare(&mut stmts[0].statement, &crate::sql::NameCatalog::default());
    let plan = ctx
        .state()
        .statement_to_plan(stmts.remove(0).statement)
        .await
        .map_err(|e| e.to_string())?;
    ctx.execute_logical_plan(plan)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())
}
