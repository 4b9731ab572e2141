//! `df.transpose(indexColumn)` (the Transpose relation) as Spark answers it:
//! the index column's values (as strings, ascending, NULLs left out) become
//! the column names, the other columns' names the rows of a first `key`
//! column, and their values, cast to their least common type, the cells.
//!
//! The output's columns depend on the data, so the input runs first (as
//! Spark collects it, up to `spark.sql.transposeMaxValues` index values);
//! the transposed rows then make a local relation.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{cast, Expr, ExprSchemable, LogicalPlan};

use crate::error::{ConnectError, Result};
use crate::expression::{named, to_expr};
use crate::proto;
use crate::relation::Planner;
use crate::types;

/// Spark's `spark.sql.transposeMaxValues` default.
const MAX_VALUES: usize = 500;

impl Planner<'_> {
    /// See the module documentation.
    pub(crate) async fn transpose(&mut self, t: &proto::Transpose) -> Result<LogicalPlan> {
        let input = self.input(&t.input).await?;
        let schema = input.schema().clone();
        let scope = self.scope(&schema);
        let index = match t.index_columns.first() {
            Some(e) => named(e, to_expr(e, &scope)?, &scope),
            None => {
                let (q, f) = schema.iter().next().ok_or_else(|| {
                    ConnectError::analysis("transpose() of a DataFrame without columns")
                })?;
                Expr::Column(Column::new(q.cloned(), f.name()))
            }
        };
        let index_name = match &index {
            Expr::Column(c) => c.name.clone(),
            Expr::Alias(a) => a.name.clone(),
            other => other.schema_name().to_string(),
        };
        let values: Vec<(String, Expr)> = schema
            .iter()
            .filter(|(_, f)| f.name() != &index_name)
            .map(|(q, f)| {
                (
                    f.name().clone(),
                    Expr::Column(Column::new(q.cloned(), f.name())),
                )
            })
            .collect();
        let value_types = values
            .iter()
            .map(|(_, e)| e.get_type(&schema))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let common = types::least_common_type(
            &value_types,
            "TRANSPOSE_NO_LEAST_COMMON_TYPE",
            |names| {
                format!(
                    "Transpose requires non-index columns to share a least common type, but {names} do not."
                )
            },
        )?;
        let mut select = vec![cast(index.clone().unalias(), DataType::Utf8).alias("__kiln_key")];
        for (i, (_, e)) in values.iter().enumerate() {
            select.push(cast(e.clone(), common.clone()).alias(format!("__kiln_v{i}")));
        }
        let index = index.unalias();
        let rows = self
            .df(input)
            .filter(index.clone().is_not_null())?
            .sort(vec![index.sort(true, true)])?
            .select(select)?
            .collect()
            .await?;
        let mut keys: Vec<String> = vec![];
        let mut cells: Vec<Vec<ScalarValue>> = vec![vec![]; values.len()];
        for b in &rows {
            let key = b.column(0);
            for r in 0..b.num_rows() {
                keys.push(ScalarValue::try_from_array(key, r)?.to_string());
                for (i, cell) in cells.iter_mut().enumerate() {
                    cell.push(ScalarValue::try_from_array(b.column(i + 1), r)?);
                }
            }
        }
        if keys.len() > MAX_VALUES {
            return Err(ConnectError::Analysis {
                class: "TRANSPOSE_EXCEED_ROW_LIMIT",
                message: format!(
                    "The number of rows exceeds the allowed limit of {MAX_VALUES} for TRANSPOSE."
                ),
            });
        }
        let mut fields = vec![Field::new("key", DataType::Utf8, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
            values.iter().map(|(n, _)| n.as_str()),
        ))];
        for (j, k) in keys.iter().enumerate() {
            fields.push(Field::new(k, common.clone(), true));
            let column: Vec<ScalarValue> = cells.iter().map(|c| c[j].clone()).collect();
            columns.push(if column.is_empty() {
                arrow::array::new_empty_array(&common)
            } else {
                ScalarValue::iter_to_array(column)?
            });
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| ConnectError::Execution(e.to_string()))?;
        let table = MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = self
            .ctx
            .read_table(Arc::new(table))?
            .into_unoptimized_plan();
        self.leaf(plan)
    }
}
