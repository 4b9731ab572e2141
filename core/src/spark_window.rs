//! Spark's window-function forms that DataFusion's planner accepts but
//! reads differently, rewritten on the AST so the answers are Spark's:
//!
//! - `OVER (w ORDER BY ...)`, a window that names a `WINDOW w AS (...)`
//!   definition inside its parentheses: DataFusion dropped the name, and
//!   with it the definition's `PARTITION BY` and `ORDER BY` (a sum over the
//!   whole table instead of a running sum per partition).
//! - `agg(x) FILTER (WHERE c) OVER (...)`: DataFusion ignored the filter of
//!   a window aggregate. For aggregates that skip NULLs it is the same as
//!   `agg(CASE WHEN c THEN x END)`.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, CaseWhen, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    NamedWindowExpr, Select, Value, WindowSpec, WindowType,
};

/// Replaces `OVER (w ...)` in the items of `select` by the named window's
/// definition, refined by what the parentheses add (as Spark does).
pub fn inline_named_windows(select: &mut Select) {
    if select.named_window.is_empty() {
        return;
    }
    let mut defs: HashMap<String, WindowSpec> = HashMap::new();
    // Definitions may name earlier ones (`WINDOW w2 AS w1`); a few passes
    // resolve chains without recursion.
    for _ in 0..select.named_window.len() {
        for d in &select.named_window {
            let key = d.0.value.to_lowercase();
            let spec = match &d.1 {
                NamedWindowExpr::WindowSpec(s) => Some(merge(s, &defs)),
                NamedWindowExpr::NamedWindow(r) => defs.get(&r.value.to_lowercase()).cloned(),
            };
            if let Some(spec) = spec {
                defs.insert(key, spec);
            }
        }
    }
    for item in &mut select.projection {
        let _ = visit_expressions_mut(item, |e| {
            if let Expr::Function(f) = e {
                if let Some(WindowType::WindowSpec(spec)) = &f.over {
                    if spec.window_name.is_some() {
                        f.over = Some(WindowType::WindowSpec(merge(spec, &defs)));
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
}

/// `spec` with the definition it names (if known) filled in under it.
fn merge(spec: &WindowSpec, defs: &HashMap<String, WindowSpec>) -> WindowSpec {
    let Some(base) = spec
        .window_name
        .as_ref()
        .and_then(|n| defs.get(&n.value.to_lowercase()))
    else {
        return spec.clone();
    };
    WindowSpec {
        window_name: None,
        partition_by: if spec.partition_by.is_empty() {
            base.partition_by.clone()
        } else {
            spec.partition_by.clone()
        },
        order_by: if spec.order_by.is_empty() {
            base.order_by.clone()
        } else {
            spec.order_by.clone()
        },
        window_frame: spec
            .window_frame
            .clone()
            .or_else(|| base.window_frame.clone()),
    }
}

/// `agg(x) FILTER (WHERE c) OVER ...` as `agg(CASE WHEN c THEN x END) OVER
/// ...`, for the aggregates that skip NULLs (others are left alone).
pub fn filter_as_case(expr: &mut Expr) {
    let Expr::Function(f) = expr else {
        return;
    };
    if f.over.is_none() || f.filter.is_none() {
        return;
    }
    let Some(name) = crate::spark_expr_name::called(f) else {
        return;
    };
    let skips_nulls = matches!(
        name.to_ascii_lowercase().as_str(),
        "sum"
            | "avg"
            | "mean"
            | "min"
            | "max"
            | "count"
            | "stddev"
            | "stddev_samp"
            | "stddev_pop"
            | "variance"
            | "var_samp"
            | "var_pop"
            | "collect_list"
            | "collect_set"
            | "array_agg"
            | "bool_and"
            | "bool_or"
            | "every"
            | "any"
            | "some"
    );
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if !skips_nulls || !list.clauses.is_empty() {
        return;
    }
    let Some(condition) = f.filter.take() else {
        return;
    };
    for arg in &mut list.args {
        let FunctionArg::Unnamed(a) = arg else {
            continue;
        };
        let value = match a {
            FunctionArgExpr::Expr(e) => e.clone(),
            // count(*) counts the rows the filter keeps.
            FunctionArgExpr::Wildcard => Expr::value(Value::Number("1".into(), false)),
            _ => continue,
        };
        *a = FunctionArgExpr::Expr(Expr::Case {
            case_token: AttachedToken::empty(),
            end_token: AttachedToken::empty(),
            operand: None,
            conditions: vec![CaseWhen {
                condition: condition.as_ref().clone(),
                result: value,
            }],
            else_result: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::Statement as DFStatement;
    use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmts = Parser::parse_sql(&SparkSqlDialect, sql).unwrap();
        let mut stmt = DFStatement::Statement(Box::new(stmts.remove(0)));
        crate::spark_sql::rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn a_named_window_in_parentheses_is_its_definition() {
        let sql = rewritten(
            "SELECT sum(v) OVER (w) AS a, sum(v) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS b \
             FROM t WINDOW w AS (PARTITION BY k ORDER BY v)",
        );
        assert!(
            sql.contains("sum(v) OVER (PARTITION BY k ORDER BY v) AS a"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "OVER (PARTITION BY k ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS b"
            ),
            "{sql}"
        );
    }

    #[test]
    fn window_filters_become_cases() {
        let sql = rewritten(
            "SELECT sum(v) FILTER (WHERE k = 'a') OVER (ORDER BY v) AS s, \
             count(*) FILTER (WHERE v > 1) OVER () AS n, sum(v) FILTER (WHERE v > 1) AS plain FROM t",
        );
        assert!(
            sql.contains("sum(CASE WHEN k = 'a' THEN v END) OVER (ORDER BY v) AS s"),
            "{sql}"
        );
        assert!(
            sql.contains("count(CASE WHEN v > 1 THEN 1 END) OVER () AS n"),
            "{sql}"
        );
        // A plain aggregate's FILTER is DataFusion's own and stays.
        assert!(
            sql.contains("sum(v) FILTER (WHERE v > 1) AS plain"),
            "{sql}"
        );
    }
}
