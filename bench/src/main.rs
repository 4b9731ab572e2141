//! `kiln-bench-datafusion`: the single-node DataFusion baseline of the
//! benchmark. Runs the statements of a SQL file in one in-process session
//! with N target partitions and writes per-statement timings as JSON (the
//! shape of `kiln run --summary-json`).

use std::time::Instant;

use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;

// The allocator datafusion-cli ships with, so the baseline is DataFusion as users run it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: kiln-bench-datafusion APP.sql OUT.json [PARTITIONS]";
    let sql_path = args.get(1).ok_or(usage)?;
    let json_path = args.get(2).ok_or(usage)?;
    let partitions: usize = args.get(3).map(|p| p.parse()).transpose()?.unwrap_or(2);
    let start = Instant::now();
    let sql = std::fs::read_to_string(sql_path)?;
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    let mut statements = Vec::new();
    for (i, stmt) in DFParser::parse_sql(&sql)?.into_iter().enumerate() {
        let t0 = Instant::now();
        let label: String = stmt.to_string().chars().take(40).collect();
        let plan = ctx.state().statement_to_plan(stmt).await?;
        ctx.execute_logical_plan(plan).await?.collect().await?;
        statements.push(format!(
            "{{\"index\": {}, \"seconds\": {}, \"label\": {:?}}}",
            i + 1,
            t0.elapsed().as_secs_f64(),
            label
        ));
    }
    let json = format!(
        "{{\"wall_seconds\": {}, \"statements\": [{}]}}",
        start.elapsed().as_secs_f64(),
        statements.join(", ")
    );
    std::fs::write(json_path, json)?;
    Ok(())
}
