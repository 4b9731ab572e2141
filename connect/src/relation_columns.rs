//! The relations that rename, add, drop or deduplicate columns of their
//! input: ToDF, WithColumnsRenamed, WithColumns, Drop and Deduplicate.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};

use crate::error::{ConnectError, Result};
use crate::expression::{parse_identifier, resolve_column, to_expr};
use crate::proto;
use crate::relation::{required_box, Planner};

impl Planner<'_> {
    /// `toDF(names...)`: every column renamed, in order.
    pub(crate) async fn rename_all(&mut self, t: &proto::ToDf) -> Result<LogicalPlan> {
        let input = self.input(&t.input).await?;
        if t.column_names.len() != input.schema().fields().len() {
            return Err(ConnectError::IllegalArgument(format!(
                "toDF: {} names for {} columns",
                t.column_names.len(),
                input.schema().fields().len()
            )));
        }
        let exprs: Vec<Expr> = input
            .schema()
            .iter()
            .zip(&t.column_names)
            .map(|((q, f), n)| Expr::Column(Column::new(q.cloned(), f.name())).alias(n))
            .collect();
        Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
    }

    /// `withColumnsRenamed` / `withColumnRenamed`: names matched case-insensitively.
    pub(crate) async fn with_columns_renamed(
        &mut self,
        w: &proto::WithColumnsRenamed,
    ) -> Result<LogicalPlan> {
        let input = self.input(&w.input).await?;
        let mut renames: Vec<(String, String)> = w
            .renames
            .iter()
            .map(|r| (r.col_name.clone(), r.new_col_name.clone()))
            .collect();
        renames.extend(
            w.rename_columns_map
                .iter()
                .map(|(a, b)| (a.clone(), b.clone())),
        );
        let exprs: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(q, f)| {
                let c = Expr::Column(Column::new(q.cloned(), f.name()));
                match renames
                    .iter()
                    .find(|(old, _)| old.eq_ignore_ascii_case(f.name()))
                {
                    Some((_, new)) => c.alias(new),
                    None => c,
                }
            })
            .collect();
        Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
    }

    /// `withColumn(s)`: a new column, or one of the same name replaced in place.
    pub(crate) async fn with_columns(&mut self, w: &proto::WithColumns) -> Result<LogicalPlan> {
        let input = self.input(&w.input).await?;
        let scope = self.scope(input.schema());
        let mut exprs: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        let names: Vec<String> = input
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for a in &w.aliases {
            let name = a.name.join(".");
            let value = to_expr(required_box(&a.expr, "the new column")?, &scope)?;
            // `withMetadata`: the column's Spark metadata (a JSON object).
            let value =
                crate::types::alias_with_spark_metadata(value, &name, a.metadata.as_deref());
            match names.iter().position(|n| n.eq_ignore_ascii_case(&name)) {
                Some(i) => exprs[i] = value,
                None => exprs.push(value),
            }
        }
        Ok(self.df(input).select(exprs)?.into_unoptimized_plan())
    }

    /// `drop(cols...)`: by name, or by column (a DataFrame's own column after a join).
    pub(crate) async fn drop(&mut self, d: &proto::Drop) -> Result<LogicalPlan> {
        let input = self.input(&d.input).await?;
        let scope = self.scope(input.schema());
        let mut dropped: Vec<Column> = vec![];
        for c in &d.columns {
            // Spark drops nothing for a column it cannot find, but refuses
            // an ambiguous one.
            match to_expr(c, &scope) {
                Ok(Expr::Column(col)) => dropped.push(col),
                Err(
                    e @ ConnectError::Analysis {
                        class: "AMBIGUOUS_REFERENCE",
                        ..
                    },
                ) => return Err(e),
                _ => {}
            }
        }
        let exprs: Vec<Expr> = input
            .schema()
            .iter()
            .filter(|(q, f)| {
                !d.column_names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(f.name()))
                    && !dropped
                        .iter()
                        .any(|c| c.name == *f.name() && c.relation.as_ref() == *q)
            })
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
    }

    /// `distinct()` and `dropDuplicates(subset)`.
    pub(crate) async fn deduplicate(&mut self, d: &proto::Deduplicate) -> Result<LogicalPlan> {
        let input = self.input(&d.input).await?;
        if d.column_names.is_empty() || d.all_columns_as_keys == Some(true) {
            return Ok(self.df(input).distinct()?.into_unoptimized_plan());
        }
        let scope = self.scope(input.schema());
        let on = d
            .column_names
            .iter()
            .map(|n| resolve_column(&parse_identifier(n)?, None, &scope))
            .collect::<Result<Vec<_>>>()?;
        let all: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        Ok(self
            .df(input)
            .distinct_on(on, all, None)?
            .into_unoptimized_plan())
    }
}
