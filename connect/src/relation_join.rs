//! Join relations: join conditions, `using` columns and the columns a
//! join keeps.

use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::coalesce;

use crate::error::Result;
use crate::expression::{columns_of, parse_identifier, resolve_column, to_expr};
use crate::proto;
use crate::relation::Planner;

impl Planner<'_> {
    pub(crate) async fn join(&mut self, j: &proto::Join) -> Result<LogicalPlan> {
        use proto::join::JoinType as J;
        let left = self.input(&j.left).await?;
        let right = self.input(&j.right).await?;
        let jt = match J::try_from(j.join_type).unwrap_or(J::Inner) {
            J::Unspecified | J::Inner => JoinType::Inner,
            J::FullOuter => JoinType::Full,
            J::LeftOuter => JoinType::Left,
            J::RightOuter => JoinType::Right,
            J::LeftAnti => JoinType::LeftAnti,
            J::LeftSemi => JoinType::LeftSemi,
            J::Cross => JoinType::Inner,
        };
        if !j.using_columns.is_empty() {
            return self.join_using(left, right, jt, &j.using_columns);
        }
        let mut joined_schema = left.schema().as_ref().clone();
        joined_schema.merge(right.schema());
        let cond = match &j.join_condition {
            Some(c) => vec![to_expr(c, &self.scope(&joined_schema))?],
            None => vec![],
        };
        Ok(LogicalPlanBuilder::from(left)
            .join_on(right, jt, cond)?
            .build()?)
    }

    /// `join(other, on=["k"])`: equal keys, each key once in the output (the
    /// left's, the right's for a right join, either for a full join).
    fn join_using(
        &mut self,
        left: LogicalPlan,
        right: LogicalPlan,
        jt: JoinType,
        using: &[String],
    ) -> Result<LogicalPlan> {
        // DataFusion refuses a join whose sides have a column of one name
        // once qualified and once not (an aggregate's output, an earlier
        // USING key): such a side gets a name of its own first.
        let mut named = |plan: LogicalPlan| {
            if plan.schema().iter().any(|(q, _)| q.is_none()) {
                self.leaf(plan)
            } else {
                Ok(plan)
            }
        };
        let left = named(left)?;
        let right = named(right)?;
        let ls = self.scope(left.schema());
        let rs = self.scope(right.schema());
        let mut keys = vec![];
        for name in using {
            let parts = parse_identifier(name)?;
            let l = resolve_column(&parts, None, &ls)?;
            let r = resolve_column(&parts, None, &rs)?;
            keys.push((name.clone(), l, r));
        }
        let cond: Vec<Expr> = keys
            .iter()
            .map(|(_, l, r)| l.clone().eq(r.clone()))
            .collect();
        let left_cols = columns_of(left.schema());
        let right_cols = columns_of(right.schema());
        let is_key = |e: &Expr, q: &Option<datafusion::common::TableReference>, n: &str| matches!(e, Expr::Column(c) if c.name == n && c.relation == *q);
        // Each side's key columns resolve against that side only: a key the
        // left has without a qualifier (a USING key of an earlier join)
        // would be ambiguous in a condition read against both sides.
        let columns: Option<(Vec<Column>, Vec<Column>)> = keys
            .iter()
            .map(|(_, l, r)| match (l, r) {
                (Expr::Column(l), Expr::Column(r)) => Some((l.clone(), r.clone())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|pairs| pairs.into_iter().unzip());
        let plan = match columns {
            Some(on) => LogicalPlanBuilder::from(left)
                .join(right, jt, on, None)?
                .build()?,
            None => LogicalPlanBuilder::from(left)
                .join_on(right, jt, cond)?
                .build()?,
        };
        if matches!(jt, JoinType::LeftSemi | JoinType::LeftAnti) {
            return Ok(plan);
        }
        // A key keeps the qualifier of the side whose column it stands for
        // (the left's for a full join): an unqualified key next to a
        // qualified column of the same name in a later join would be
        // ambiguous to DataFusion.
        let qualifier = |e: &Expr| match e {
            Expr::Column(c) => c.relation.clone(),
            _ => None,
        };
        let mut exprs: Vec<Expr> = keys
            .iter()
            .map(|(name, l, r)| match jt {
                JoinType::Right => r.clone().alias_qualified(qualifier(r), name),
                JoinType::Full => {
                    coalesce(vec![l.clone(), r.clone()]).alias_qualified(qualifier(l), name)
                }
                _ => l.clone().alias_qualified(qualifier(l), name),
            })
            .collect();
        for (q, n) in &left_cols {
            if !keys.iter().any(|(_, l, _)| is_key(l, q, n)) {
                exprs.push(Expr::Column(Column::new(q.clone(), n)));
            }
        }
        for (q, n) in &right_cols {
            if !keys.iter().any(|(_, _, r)| is_key(r, q, n)) {
                exprs.push(Expr::Column(Column::new(q.clone(), n)));
            }
        }
        Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
    }
}
