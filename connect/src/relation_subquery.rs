//! The planning of subquery expressions (the WithRelations relation):
//! `df.scalar()`, `df.exists()` and `col.isin(df)`, correlated or not, as
//! DataFusion subqueries, which its optimizer turns into joins (the
//! expressions themselves are [`crate::expression::subquery`]'s).
//!
//! WithRelations carries the subqueries' relations next to the root; an
//! expression names one by plan id. A subquery is planned when an
//! expression first needs it, against the schema of the relation that
//! expression belongs to: a column the subquery cannot resolve itself is
//! looked up there and becomes an outer reference (PySpark's `.outer()`
//! changes nothing on the wire: Spark's analyzer resolves outer columns
//! the same way).

use datafusion::common::DFSchemaRef;
use datafusion::logical_expr::LogicalPlan;

use crate::error::{ConnectError, Result};
use crate::expression::{Scope, SUBQUERY_PENDING};
use crate::proto;
use crate::relation::Planner;

impl Planner<'_> {
    /// WithRelations: the root, with the references kept for the subquery
    /// expressions that name them.
    pub(crate) async fn with_relations(&mut self, w: &proto::WithRelations) -> Result<LogicalPlan> {
        for r in &w.references {
            if let Some(id) = r.common.as_ref().and_then(|c| c.plan_id) {
                self.references.insert(id, r.clone());
            }
        }
        self.input(&w.root).await
    }

    /// `convert` run against `schema`, after planning the subqueries it
    /// asks for, with `schema` as their enclosing query's.
    pub(crate) async fn with_subqueries<T>(
        &mut self,
        schema: &DFSchemaRef,
        convert: impl Fn(&Scope) -> Result<T>,
    ) -> Result<T> {
        loop {
            let pending = match convert(&self.scope(schema)) {
                Err(ConnectError::Analysis { class, message }) if class == SUBQUERY_PENDING => {
                    message
                }
                other => return other,
            };
            let id = self
                .references
                .keys()
                .copied()
                .find(|id| pending == format!("the subquery of plan {id} is not planned"))
                .ok_or_else(|| {
                    ConnectError::IllegalArgument(format!("{pending} and has no relation"))
                })?;
            let rel = self.references.remove(&id).ok_or_else(|| {
                ConnectError::IllegalArgument(format!("{pending} and has no relation"))
            })?;
            let saved = self.outer.replace(schema.clone());
            let planned = self.plan(&rel).await;
            self.outer = saved;
            self.subqueries.insert(id, planned?);
        }
    }
}
