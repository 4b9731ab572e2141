//! The relations that set the partitioning of their input: Repartition
//! (`repartition(n)`, `coalesce(n)`), RepartitionByExpression, and the
//! partitioning hints (`df.hint("coalesce", n)`, `df.hint("repartition", ...)`).

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, LogicalPlan, Partitioning};

use crate::error::{ConnectError, Result};
use crate::expression::to_expr;
use crate::proto;
use crate::relation::Planner;

impl Planner<'_> {
    /// `repartition(n)` and `coalesce(n)`: round-robin into `n` partitions.
    pub(crate) async fn repartition(&mut self, r: &proto::Repartition) -> Result<LogicalPlan> {
        let input = self.input(&r.input).await?;
        let n = usize::try_from(r.num_partitions.max(1)).unwrap_or(1);
        Ok(self
            .df(input)
            .repartition(Partitioning::RoundRobinBatch(n))?
            .into_unoptimized_plan())
    }

    /// `repartition(n, cols...)`: hash partitioning on the expressions.
    pub(crate) async fn repartition_by_expression(
        &mut self,
        r: &proto::RepartitionByExpression,
    ) -> Result<LogicalPlan> {
        let input = self.input(&r.input).await?;
        let scope = self.scope(input.schema());
        let exprs = r
            .partition_exprs
            .iter()
            .map(|e| to_expr(e, &scope))
            .collect::<Result<Vec<_>>>()?;
        let n = r
            .num_partitions
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(self.state.config().target_partitions());
        let partitioning = if exprs.is_empty() {
            Partitioning::RoundRobinBatch(n)
        } else {
            Partitioning::Hash(exprs, n)
        };
        Ok(self
            .df(input)
            .repartition(partitioning)?
            .into_unoptimized_plan())
    }

    /// `df.hint(name, parameters...)`: `coalesce(n)` and `repartition(n)`,
    /// `repartition(n, cols...)` or `repartition(cols...)` partition as the
    /// relations of those names; other hints (broadcast, merge, ...) are
    /// accepted and left to Kiln's planner (its broadcast threshold decides).
    pub(crate) async fn hint(&mut self, h: &proto::Hint) -> Result<LogicalPlan> {
        let input = self.input(&h.input).await?;
        let name = h.name.to_ascii_lowercase();
        if name != "coalesce" && name != "repartition" {
            return Ok(input);
        }
        let scope = self.scope(input.schema());
        let mut n = None;
        let mut columns = vec![];
        for p in &h.parameters {
            match to_expr(p, &scope)? {
                Expr::Literal(ScalarValue::Int32(Some(v)), _) => n = Some(i64::from(v)),
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => n = Some(v),
                e => columns.push(e),
            }
        }
        let n = match n {
            Some(v) => Some(usize::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
                ConnectError::IllegalArgument(format!(
                    "the {name} hint's number of partitions must be positive, got {v}"
                ))
            })?),
            None => None,
        };
        let partitioning = match (name.as_str(), n, columns.is_empty()) {
            ("coalesce", Some(n), true) | ("repartition", Some(n), true) => {
                Partitioning::RoundRobinBatch(n)
            }
            ("repartition", n, false) => Partitioning::Hash(
                columns,
                n.unwrap_or(self.state.config().target_partitions()),
            ),
            _ => {
                return Err(ConnectError::IllegalArgument(format!(
                    "the {name} hint takes a number of partitions{}",
                    if name == "repartition" {
                        " and/or columns"
                    } else {
                        ""
                    }
                )))
            }
        };
        Ok(self
            .df(input)
            .repartition(partitioning)?
            .into_unoptimized_plan())
    }
}
