//! Hive partition folders (`table/store=3/part-0.parquet`) as Spark reads
//! them: each `name=value` level is a column after the files' own, typed
//! by what its values hold (integers, then longs, then doubles, else
//! strings; `__HIVE_DEFAULT_PARTITION__` is NULL).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::error::Result;

/// Spark's folder name of a NULL partition value.
const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// The partition columns of the local folder `path`, in folder order, with
/// Spark's inferred types; none for a file, a remote path or a folder
/// without `name=value` levels.
pub fn partition_columns(path: &str) -> Vec<(String, DataType)> {
    let local = path.strip_prefix("file://").unwrap_or(path);
    if local.contains("://") {
        return vec![];
    }
    let mut columns: Vec<(String, BTreeSet<String>)> = vec![];
    collect(Path::new(local), 0, &mut columns);
    columns
        .into_iter()
        .map(|(name, values)| (name, infer(&values)))
        .collect()
}

/// `df` (a scan of a listing table) with its Hive partition columns
/// declared nullable, as Spark declares them.
pub fn nullable(
    ctx: &SessionContext,
    df: DataFrame,
    partitions: &[(String, DataType)],
) -> Result<DataFrame> {
    let LogicalPlan::TableScan(scan) = df.logical_plan() else {
        return Ok(df);
    };
    if partitions.is_empty() {
        return Ok(df);
    }
    let inner = source_as_provider(&scan.source)?;
    let names: Vec<String> = partitions.iter().map(|(n, _)| n.clone()).collect();
    let table = kiln_core::nullable_partitions::NullablePartitions::new(inner, &names);
    Ok(ctx.read_table(Arc::new(table))?)
}

fn collect(dir: &Path, depth: usize, columns: &mut Vec<(String, BTreeSet<String>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.path().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((key, value)) = name.split_once('=') else {
            continue;
        };
        if key.is_empty() || key.starts_with(['.', '_']) {
            continue;
        }
        match columns.get_mut(depth) {
            Some((k, values)) if k == key => {
                values.insert(value.to_string());
            }
            // Levels that disagree on their names are not partitions.
            Some(_) => continue,
            None => columns.push((key.to_string(), BTreeSet::from([value.to_string()]))),
        }
        collect(&e.path(), depth + 1, columns);
    }
}

fn infer(values: &BTreeSet<String>) -> DataType {
    let present: Vec<&String> = values.iter().filter(|v| *v != NULL_VALUE).collect();
    if present.is_empty() {
        return DataType::Utf8;
    }
    if present.iter().all(|v| v.parse::<i32>().is_ok()) {
        DataType::Int32
    } else if present.iter().all(|v| v.parse::<i64>().is_ok()) {
        DataType::Int64
    } else if present.iter().all(|v| v.parse::<f64>().is_ok()) {
        DataType::Float64
    } else {
        DataType::Utf8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_levels_become_typed_columns() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "store=1/day=2024-01-01",
            "store=12/day=2024-01-02",
            "_temporary/x=1",
        ] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let cols = partition_columns(&dir.path().to_string_lossy());
        assert_eq!(
            cols,
            vec![
                ("store".to_string(), DataType::Int32),
                ("day".to_string(), DataType::Utf8)
            ]
        );
        assert!(partition_columns("s3://bucket/t").is_empty());
    }
}
