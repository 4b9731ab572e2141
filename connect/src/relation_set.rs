//! Set operations: union (by position or by name), intersect and except.

use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};

use crate::error::{ConnectError, Result};
use crate::proto;
use crate::relation::Planner;

impl Planner<'_> {
    pub(crate) async fn set_op(&mut self, s: &proto::SetOperation) -> Result<LogicalPlan> {
        use proto::set_operation::SetOpType as S;
        let left = self.input(&s.left_input).await?;
        let right = self.input(&s.right_input).await?;
        let all = s.is_all.unwrap_or(false);
        let by_name = s.by_name.unwrap_or(false);
        let op = S::try_from(s.set_op_type).unwrap_or(S::Unspecified);
        if op != S::Union && left.schema().fields().len() != right.schema().fields().len() {
            return Err(ConnectError::Analysis {
                class: "NUM_COLUMNS_MISMATCH",
                message: format!(
                    "{} can only be performed on inputs with the same number of columns, but \
                     the first input has {} columns and the second input has {} columns.",
                    match op {
                        S::Intersect => "INTERSECT",
                        _ => "EXCEPT",
                    },
                    left.schema().fields().len(),
                    right.schema().fields().len()
                ),
            });
        }
        let plan = match op {
            S::Union => {
                if by_name {
                    if s.allow_missing_columns != Some(true) {
                        let names = |p: &LogicalPlan| {
                            let mut v: Vec<String> = p
                                .schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().to_lowercase())
                                .collect();
                            v.sort();
                            v
                        };
                        if names(&left) != names(&right) {
                            return Err(ConnectError::Analysis {
                                class: "NUM_COLUMNS_MISMATCH",
                                message: "unionByName: the inputs have different columns (use \
                                          allowMissingColumns=True)"
                                    .into(),
                            });
                        }
                    }
                    LogicalPlanBuilder::from(left)
                        .union_by_name(right)?
                        .build()?
                } else {
                    if left.schema().fields().len() != right.schema().fields().len() {
                        return Err(ConnectError::Analysis {
                            class: "NUM_COLUMNS_MISMATCH",
                            message: format!(
                                "UNION can only be performed on inputs with the same number of \
                                 columns, but the first input has {} columns and the second \
                                 input has {} columns.",
                                left.schema().fields().len(),
                                right.schema().fields().len()
                            ),
                        });
                    }
                    let b = LogicalPlanBuilder::from(left);
                    if all {
                        b.union(right)?.build()?
                    } else {
                        b.union_distinct(right)?.build()?
                    }
                }
            }
            S::Intersect => LogicalPlanBuilder::intersect(left, right, all)?,
            S::Except => LogicalPlanBuilder::except(left, right, all)?,
            S::Unspecified => {
                return Err(ConnectError::IllegalArgument(
                    "a set operation without a type".into(),
                ))
            }
        };
        Ok(plan)
    }
}
