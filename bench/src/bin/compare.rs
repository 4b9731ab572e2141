//! `kiln-bench-compare A B`: checks that two engines wrote the same TPC-H
//! results. For every `qNN` folder under A (Parquet written by `COPY`), the
//! same folder under B must hold the same number of rows, the same sum of
//! every numeric column (relative tolerance 1e-6) and the same distinct
//! count, minimum and maximum of every other column. Prints one line per
//! query; exits 1 on any difference.

use std::path::Path;
use std::process::ExitCode;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

// Same allocator as the other bench binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One fingerprint value: a number compared with tolerance, or text.
#[derive(Debug)]
enum Value {
    Number(f64),
    Text(String),
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Text(x), Value::Text(y)) => x == y,
        _ => false,
    }
}

/// Whether `dir` holds any Parquet file (an empty result may be written as
/// no file at all, or as only a `_SUCCESS` marker).
fn has_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
    })
}

async fn fingerprint(dir: &Path) -> Result<Vec<(String, Value)>, String> {
    if !has_parquet(dir) {
        return Ok(vec![("rows".to_string(), Value::Number(0.0))]);
    }
    let ctx = SessionContext::new();
    let path = format!("{}/", dir.display());
    ctx.register_parquet("t", &path, ParquetReadOptions::default())
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let schema = ctx
        .table("t")
        .await
        .map_err(|e| e.to_string())?
        .schema()
        .as_arrow()
        .clone();
    let mut exprs = vec![(
        "rows".to_string(),
        "CAST(count(*) AS DOUBLE)".to_string(),
        true,
    )];
    for f in schema.fields().iter() {
        let col = format!("\"{}\"", f.name().replace('"', "\"\""));
        let numeric =
            f.data_type().is_numeric() || matches!(f.data_type(), DataType::Decimal128(..));
        if numeric {
            exprs.push((
                format!("sum({})", f.name()),
                format!("CAST(sum(CAST({col} AS DOUBLE)) AS DOUBLE)"),
                true,
            ));
        } else {
            exprs.push((
                format!("distinct({})", f.name()),
                format!("CAST(count(DISTINCT {col}) AS DOUBLE)"),
                true,
            ));
            exprs.push((
                format!("min({})", f.name()),
                format!("CAST(min({col}) AS VARCHAR)"),
                false,
            ));
            exprs.push((
                format!("max({})", f.name()),
                format!("CAST(max({col}) AS VARCHAR)"),
                false,
            ));
        }
    }
    let select = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, e, _))| format!("{e} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let batches = ctx
        .sql(&format!("SELECT {select} FROM t"))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let batch = batches.first().ok_or("no result")?;
    let mut out = Vec::new();
    for (i, (name, _, number)) in exprs.into_iter().enumerate() {
        let text = array_value_to_string(batch.column(i), 0).map_err(|e| e.to_string())?;
        let value = if number {
            Value::Number(text.parse().unwrap_or(0.0))
        } else {
            Value::Text(text)
        };
        out.push((name, value));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(a), Some(b)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: kiln-bench-compare RESULTS_A RESULTS_B");
        return ExitCode::from(2);
    };
    let mut queries: Vec<_> = match std::fs::read_dir(a) {
        Ok(d) => d
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect(),
        Err(e) => {
            eprintln!("error: {a}: {e}");
            return ExitCode::from(2);
        }
    };
    queries.sort();
    let mut bad = 0;
    for q in &queries {
        let fa = fingerprint(&Path::new(a).join(q)).await;
        let fb = fingerprint(&Path::new(b).join(q)).await;
        let verdict = match (fa, fb) {
            (Ok(x), Ok(y)) => {
                let diffs: Vec<String> = x
                    .iter()
                    .zip(y.iter())
                    .filter(|((_, va), (_, vb))| !same(va, vb))
                    .map(|((n, va), (_, vb))| format!("{n}: {va:?} vs {vb:?}"))
                    .collect();
                let rows = |f: &[(String, Value)]| match f.first() {
                    Some((_, Value::Number(n))) => *n as u64,
                    _ => 0,
                };
                if rows(&x) == 0 && rows(&y) == 0 {
                    // Empty on both sides, however each engine wrote it.
                    "same (0 rows)".to_string()
                } else if x.len() != y.len() {
                    format!("DIFFERENT columns ({} vs {})", x.len(), y.len())
                } else if diffs.is_empty() {
                    let rows = match &x[0].1 {
                        Value::Number(n) => *n as u64,
                        Value::Text(_) => 0,
                    };
                    format!("same ({rows} rows)")
                } else {
                    format!("DIFFERENT: {}", diffs.join("; "))
                }
            }
            (Err(e), _) | (_, Err(e)) => format!("DIFFERENT: {e}"),
        };
        if verdict.starts_with("DIFFERENT") {
            bad += 1;
        }
        println!("{q}: {verdict}");
    }
    println!(
        "{} of {} results identical",
        queries.len() - bad,
        queries.len()
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
