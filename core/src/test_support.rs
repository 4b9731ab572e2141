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

/// The batches of `sql`'s (last) statement, run as a job's statements
/// are ([`crate::sql::run_local`]), or the error's text.
pub async fn job_batches(sql: &str) -> Result<Vec<RecordBatch>, String> {
    let mut all = crate::sql::run_local(&session(), sql, "test")
        .await
        .map_err(|e| e.to_string())?;
    Ok(all.pop().unwrap_or_default())
}
