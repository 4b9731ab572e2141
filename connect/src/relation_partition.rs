//! The relations that set the partitioning of their input: Repartition
//! (`repartition(n)`, `coalesce(n)`) and RepartitionByExpression.

use datafusion::logical_expr::{LogicalPlan, Partitioning};

use crate::error::Result;
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
}
