//! What Connect expressions are translated against: the session, the
//! input's schema, the plans' ids for `df.col` references, and the
//! translator itself ([`Translate`]).
//!
//! The modules that translate parts of an expression (function calls,
//! windows, UDFs, lambdas, result names) recurse into their arguments
//! through [`Scope::expr`] and [`Scope::name`], not by naming
//! [`crate::expression`], which dispatches to them: the recursion goes
//! through the trait object, and the modules' import graph stays acyclic.

use std::collections::HashMap;

use datafusion::common::{DFSchema, TableReference};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};

use crate::error::{ConnectError, Result};
use crate::proto::expression as pe;
use crate::proto::Expression;

/// The columns each plan id (`df.x` references) stands for: qualifier and name.
pub type PlanIds = HashMap<i64, Vec<(Option<TableReference>, String)>>;

/// The subqueries of a request that are planned, by plan id.
pub type Subqueries = HashMap<i64, LogicalPlan>;

/// Translates whole Connect expressions (implemented by
/// [`crate::expression::Translator`]).
pub trait Translate: Sync {
    /// The DataFusion expression of `e` in `scope`.
    fn to_expr(&self, e: &Expression, scope: &Scope) -> Result<Expr>;
    /// The expressions of `e`, which may be several (a `*`).
    fn to_exprs(&self, e: &Expression, scope: &Scope) -> Result<Vec<Expr>>;
    /// Spark's name for the result column of `e` when it has no alias.
    fn spark_name(&self, e: &Expression, scope: &Scope) -> String;
}

/// What expressions are resolved against.
pub struct Scope<'a> {
    /// The session (its functions).
    pub state: &'a SessionState,
    /// The input's schema.
    pub schema: &'a DFSchema,
    /// Columns of the plans with ids, for references by DataFrame.
    pub plan_ids: &'a PlanIds,
    /// Inside a subquery: the enclosing query's schema (outer references).
    pub outer: Option<&'a DFSchema>,
    /// The subqueries planned so far, by plan id.
    pub subqueries: &'a Subqueries,
    /// The translator of nested expressions.
    pub translator: &'a dyn Translate,
}

impl Scope<'_> {
    /// The DataFusion expression of `e`.
    pub fn expr(&self, e: &Expression) -> Result<Expr> {
        self.translator.to_expr(e, self)
    }

    /// The expressions of `e`, several for a `*`.
    pub fn exprs(&self, e: &Expression) -> Result<Vec<Expr>> {
        self.translator.to_exprs(e, self)
    }

    /// Spark's name of `e` as a result column.
    pub fn name(&self, e: &Expression) -> String {
        self.translator.spark_name(e, self)
    }

    /// This scope over another schema.
    pub fn with_schema<'b>(&'b self, schema: &'b DFSchema) -> Scope<'b> {
        Scope {
            state: self.state,
            schema,
            plan_ids: self.plan_ids,
            outer: self.outer,
            subqueries: self.subqueries,
            translator: self.translator,
        }
    }
}

/// Splits a Spark identifier (`a.b`, `` `a.b`.c ``) into its parts.
pub fn parse_identifier(s: &str) -> Result<Vec<String>> {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '`' if quoted && chars.peek() == Some(&'`') => {
                chars.next();
                cur.push('`');
            }
            '`' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(ConnectError::Parse(format!(
            "[PARSE_SYNTAX_ERROR] unclosed backtick in the name `{s}`"
        )));
    }
    parts.push(cur);
    Ok(parts)
}

/// The required sub-message `x`, or an error naming `what`.
pub(crate) fn required_box<'a, T>(x: &'a Option<Box<T>>, what: &str) -> Result<&'a T> {
    x.as_deref()
        .ok_or_else(|| ConnectError::IllegalArgument(format!("{what} is missing")))
}

/// Converts a sort order.
pub fn sort_expr(o: &pe::SortOrder, scope: &Scope) -> Result<SortExpr> {
    let child = scope.expr(required_box(&o.child, "the sort key")?)?;
    let asc = o.direction != pe::sort_order::SortDirection::Descending as i32;
    // Spark: NULLs first when ascending, last when descending, unless said.
    let nulls_first = match o.null_ordering {
        n if n == pe::sort_order::NullOrdering::SortNullsFirst as i32 => true,
        n if n == pe::sort_order::NullOrdering::SortNullsLast as i32 => false,
        _ => asc,
    };
    Ok(child.sort(asc, nulls_first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_identifiers_with_backticks() {
        assert_eq!(parse_identifier("a.b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_identifier("`a.b`.c").unwrap(), vec!["a.b", "c"]);
        assert_eq!(parse_identifier("`x``y`").unwrap(), vec!["x`y"]);
        assert!(parse_identifier("`a").is_err());
    }
}
