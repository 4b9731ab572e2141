//! `kiln-bench-compare A B`: checks that two engines wrote the same TPC-H
//! results, row by row and value by value. For every `qNN` folder under A
//! (Parquet written by `COPY` or Spark's writer), the folder `qNN` (or
//! `qNN-spark`) under B must hold the same rows: both sides are read whole,
//! each value normalised (integers exactly; floating-point and decimal
//! values as numbers; everything else as its text), the rows sorted, and
//! then compared pairwise. Numbers that are not both integers are equal
//! when they differ by at most 1e-6 of the larger magnitude (1e-6 absolute
//! below 1): engines sum floats in different orders, and a decimal average
//! is rounded to its last place by Spark and Kiln but truncated by
//! DataFusion, one unit of 1e-6 apart in TPC-H q1 (a relative slack of 1e-9
//! keeps that unit, read back as floats, inside the tolerance). Prints one
//! line per query; exits 1 on any difference.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

// Same allocator as the other bench binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Relative (and, below 1, absolute) tolerance of non-integer numbers.
const TOLERANCE: f64 = 1e-6;

/// One value, normalised across engines.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Number(f64),
    Text(String),
}

impl Cell {
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Int(a), Cell::Int(b)) => a == b,
            (Cell::Text(a), Cell::Text(b)) => a == b,
            (a, b) => match (a.number(), b.number()) {
                (Some(x), Some(y)) => {
                    (x - y).abs() <= TOLERANCE * (1.0 + 1e-9) * x.abs().max(y.abs()).max(1.0)
                }
                _ => false,
            },
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Number(f) => Some(*f),
            _ => None,
        }
    }

    /// Sort order: NULLs, then numbers, then text; numbers by value.
    fn order(&self, other: &Cell) -> Ordering {
        let rank = |c: &Cell| match c {
            Cell::Null => 0,
            Cell::Int(_) | Cell::Number(_) => 1,
            Cell::Text(_) => 2,
        };
        match (self, other) {
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (a, b) if rank(a) == 1 && rank(b) == 1 => {
                let (x, y) = (a.number().unwrap_or(0.0), b.number().unwrap_or(0.0));
                x.total_cmp(&y)
            }
            (a, b) => rank(a).cmp(&rank(b)),
        }
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

/// One column as cells.
fn cells(col: &ArrayRef) -> Result<Vec<Cell>, String> {
    let t = col.data_type();
    let out = if t.is_integer() {
        let ints = cast(col, &DataType::Int64).map_err(|e| e.to_string())?;
        let ints = ints
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or("integer column")?;
        (0..ints.len())
            .map(|i| match ints.is_null(i) {
                true => Cell::Null,
                false => Cell::Int(ints.value(i)),
            })
            .collect()
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        let f = cast(col, &DataType::Float64).map_err(|e| e.to_string())?;
        let f = f
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or("float column")?;
        (0..f.len())
            .map(|i| match f.is_null(i) {
                true => Cell::Null,
                false => Cell::Number(f.value(i)),
            })
            .collect()
    } else {
        (0..col.len())
            .map(|i| {
                if col.is_null(i) {
                    Ok(Cell::Null)
                } else {
                    array_value_to_string(col, i).map(Cell::Text)
                }
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    };
    Ok(out)
}

/// Every row of the Parquet files under `dir`, sorted.
async fn sorted_rows(dir: &Path) -> Result<Vec<Vec<Cell>>, String> {
    if !has_parquet(dir) {
        return Ok(vec![]);
    }
    let ctx = SessionContext::new();
    let path = format!("{}/", dir.display());
    let batches = ctx
        .read_parquet(&path, ParquetReadOptions::default())
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .collect()
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rows = Vec::new();
    for b in &batches {
        let columns: Vec<Vec<Cell>> = b.columns().iter().map(cells).collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(columns.iter().map(|c| c[i].clone()).collect::<Vec<_>>());
        }
    }
    rows.sort_by(|a, b| row_order(a, b));
    Ok(rows)
}

/// Rows ordered cell by cell.
fn row_order(a: &[Cell], b: &[Cell]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.order(y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(a.len().cmp(&b.len()))
}

/// The first difference between two sorted results, if any.
fn difference(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} rows vs {}", a.len(), b.len()));
    }
    for (i, (ra, rb)) in a.iter().zip(b).enumerate() {
        if ra.len() != rb.len() {
            return Some(format!("{} columns vs {}", ra.len(), rb.len()));
        }
        if let Some(j) = ra.iter().zip(rb).position(|(x, y)| !x.same(y)) {
            return Some(format!(
                "sorted row {i} column {j}: {:?} vs {:?}",
                ra[j], rb[j]
            ));
        }
    }
    None
}

/// The folder of query `q` under `root`: `q`, or Spark's `q-spark`.
fn folder(root: &str, q: &str) -> PathBuf {
    let plain = Path::new(root).join(q);
    let spark = Path::new(root).join(format!("{q}-spark"));
    if !plain.exists() && spark.exists() {
        spark
    } else {
        plain
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(a), Some(b)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: kiln-bench-compare RESULTS_A RESULTS_B");
        return ExitCode::from(2);
    };
    let mut queries: Vec<String> = match std::fs::read_dir(a) {
        Ok(d) => d
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .map(|n| n.trim_end_matches("-spark").to_string())
            .collect(),
        Err(e) => {
            eprintln!("error: {a}: {e}");
            return ExitCode::from(2);
        }
    };
    queries.sort();
    queries.dedup();
    let mut bad = 0;
    for q in &queries {
        let ra = sorted_rows(&folder(a, q)).await;
        let rb = sorted_rows(&folder(b, q)).await;
        let verdict = match (ra, rb) {
            (Ok(x), Ok(y)) => match difference(&x, &y) {
                None => format!("same ({} rows)", x.len()),
                Some(d) => format!("DIFFERENT: {d}"),
            },
            (Err(e), _) | (_, Err(e)) => format!("DIFFERENT: {e}"),
        };
        if verdict.starts_with("DIFFERENT") {
            bad += 1;
        }
        println!("{q}: {verdict}");
    }
    println!(
        "{} of {} results identical (sorted rows, value by value; numbers within {TOLERANCE:e} relative)",
        queries.len() - bad,
        queries.len()
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
