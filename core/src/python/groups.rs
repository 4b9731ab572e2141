//! Grouping a partition's rows by key for the grouped Python nodes
//! (applyInPandas, cogroup, grouped aggregates and windows): groups in key
//! order, and the two sides of a cogroup matched by key.

use std::collections::BTreeMap;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::compute::{cast, take};
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::error::{DataFusionError, Result};

/// An Arrow error as the error a plan node returns.
pub(super) fn arrow_err(e: arrow::error::ArrowError) -> DataFusionError {
    DataFusionError::ArrowError(Box::new(e), None)
}

/// Rows grouped by key, in key order: each group's row indices.
pub(super) struct Groups {
    /// The rows.
    pub rows: RecordBatch,
    /// Each group's row indices.
    pub groups: Vec<Vec<u32>>,
}

/// The row form of `rows`' columns `keys` (comparable, orderable).
pub(super) fn key_rows(rows: &RecordBatch, keys: &[usize]) -> Result<arrow::row::Rows> {
    let columns: Vec<ArrayRef> = keys.iter().map(|&k| rows.column(k).clone()).collect();
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(arrow_err)?;
    converter.convert_columns(&columns).map_err(arrow_err)
}

/// The rows `idx` of `rows`.
pub(super) fn group_rows(rows: &RecordBatch, idx: &[u32]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(idx.to_vec());
    let columns = rows
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(arrow_err)?;
    RecordBatch::try_new_with_options(
        rows.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(idx.len())),
    )
    .map_err(arrow_err)
}

/// The groups of two inputs matched by key (keys cast to the first's types),
/// in key order; a key on one side only gets an empty group on the other.
pub(super) fn pair_groups(
    left: &Groups,
    keys: &[usize],
    right: &Groups,
    right_keys: &[usize],
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    if keys.len() != right_keys.len() {
        return Err(DataFusionError::Plan(
            "cogroup: both sides must group by the same number of columns".into(),
        ));
    }
    let key_types: Vec<_> = keys
        .iter()
        .map(|&k| left.rows.schema().field(k).data_type().clone())
        .collect();
    let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())
        .map_err(arrow_err)?;
    let rows_of = |g: &Groups, ks: &[usize]| -> Result<arrow::row::Rows> {
        let cols = ks
            .iter()
            .zip(&key_types)
            .map(|(&k, t)| cast(g.rows.column(k).as_ref(), t))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(arrow_err)?;
        converter.convert_columns(&cols).map_err(arrow_err)
    };
    let (lr, rr) = (rows_of(left, keys)?, rows_of(right, right_keys)?);
    let mut by_key: BTreeMap<OwnedRow, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for g in &left.groups {
        if let Some(&first) = g.first() {
            by_key.entry(lr.row(first as usize).owned()).or_default().0 = g.clone();
        }
    }
    for g in &right.groups {
        if let Some(&first) = g.first() {
            by_key.entry(rr.row(first as usize).owned()).or_default().1 = g.clone();
        }
    }
    Ok(by_key.into_values().collect())
}
