//! Running Spark SQL through a Kiln session in unit tests.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

struct Spin;

impl Wake for Spin {
    fn wake(self: Arc<Self>) {}
}

/// Runs `f` to completion on this thread, polling until it is ready; one
/// partition, so DataFusion needs no runtime to spawn on.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Spin));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn session(ansi: bool, spark_dialect: bool) -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(1);
    if spark_dialect {
        config.options_mut().sql_parser.dialect = datafusion::common::config::Dialect::Spark;
    }
    // Kiln's session settings (kiln_core::config): `1.5` is a DECIMAL.
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    config.options_mut().execution.enable_ansi_mode = ansi;
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    SessionContext::new_with_state(crate::with_spark_sql(builder).build())
}

fn run(sql: &str, ansi: bool) -> datafusion::common::Result<Vec<RecordBatch>> {
    run_in(sql, ansi, false)
}

fn run_in(
    sql: &str,
    ansi: bool,
    spark_dialect: bool,
) -> datafusion::common::Result<Vec<RecordBatch>> {
    let ctx = session(ansi, spark_dialect);
    block_on(async { ctx.sql(sql).await?.collect().await })
}

/// Every row of `sql` (ANSI mode), its columns shown as Arrow shows them
/// (NULL as `NULL`) and joined by `|`.
pub fn query(sql: &str) -> Vec<String> {
    query_with(sql, true)
}

/// [`query`] with ANSI mode on or off.
pub fn query_with(sql: &str, ansi: bool) -> Vec<String> {
    rows_of(sql, run(sql, ansi))
}

/// [`query`] in Spark's SQL dialect (lambdas `x -> x + 1`, `ARRAY<INT>`).
pub fn query_spark(sql: &str) -> Vec<String> {
    rows_of(sql, run_in(sql, true, true))
}

/// The error `sql` fails with in Spark's SQL dialect.
pub fn query_spark_err(sql: &str) -> String {
    match run_in(sql, true, true) {
        Ok(b) => panic!("{sql} should fail, gave {b:?}"),
        Err(e) => e.to_string(),
    }
}

fn rows_of(sql: &str, batches: datafusion::common::Result<Vec<RecordBatch>>) -> Vec<String> {
    let batches = batches.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

/// Checks each `(sql, want)`: `select {sql}` gives the one row `want`.
pub fn assert_selects(cases: &[(&str, &str)]) {
    for (sql, want) in cases {
        assert_eq!(
            query(&format!("select {sql}")),
            vec![want.to_string()],
            "{sql}"
        );
    }
}

/// The type of the single column of `sql`.
pub fn column_type(sql: &str) -> arrow::datatypes::DataType {
    let batches = run(sql, true).unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches[0].schema().field(0).data_type().clone()
}

/// The error `sql` fails with (ANSI mode).
pub fn query_err(sql: &str) -> String {
    query_err_with(sql, true)
}

/// [`query_err`] with ANSI mode on or off.
pub fn query_err_with(sql: &str, ansi: bool) -> String {
    match run(sql, ansi) {
        Ok(b) => panic!("{sql} should fail, gave {b:?}"),
        Err(e) => e.to_string(),
    }
}
