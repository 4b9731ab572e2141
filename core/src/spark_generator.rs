//! Spark's generators on DataFusion's `unnest`:
//!
//! - `SELECT explode(a)`: a row per element of `a` (Spark names the column
//!   `col`).
//! - `FROM t LATERAL VIEW explode(a) e AS x`: each row of `t` joined with
//!   the elements of its `a`, as `FROM (SELECT t.*, unnest(a) AS x FROM t)
//!   AS t`; references `e.x` become `t.x`. Several lateral views nest, one
//!   derived table each, which gives Spark's cross product of the elements.
//!
//! Only `explode` over one table (no joins in the `FROM`) is rewritten;
//! other forms (`posexplode`, `inline`, `OUTER`) keep DataFusion's error.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectNamePart, Select, SelectItem, Statement, TableAlias, TableFactor, TableWithJoins,
};
use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `explode(a)` in a select list as `unnest(a)`.
pub fn explode_as_unnest(expr: &mut Expr) {
    if let Some(arg) = explode_argument(expr) {
        let arg = arg.clone();
        if let Expr::Function(f) = expr {
            f.name.0 = vec![ObjectNamePart::Identifier(Ident::new("unnest"))];
            f.args =
                FunctionArguments::List(datafusion::sql::sqlparser::ast::FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
                    clauses: vec![],
                });
        }
    }
}

/// The argument of a plain one-argument `explode(...)` call.
fn explode_argument(expr: &Expr) -> Option<&Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = crate::spark_expr_name::called(f)?;
    if f.name.0.len() != 1 || !name.eq_ignore_ascii_case("explode") || f.over.is_some() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
        _ => None,
    }
}

/// Names an unaliased `explode(...)` item of `select` `col`, as Spark does.
pub fn name_explode_items(select: &mut Select) {
    for item in &mut select.projection {
        if let SelectItem::UnnamedExpr(e) = item {
            if explode_argument(e).is_some() {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new("col"),
                };
            }
        }
    }
}

/// Rewrites the `LATERAL VIEW explode(...)` clauses of `select` into
/// derived tables over its one `FROM` table.
pub fn lateral_views_as_unnest(select: &mut Select) {
    if select.lateral_views.is_empty() || select.from.len() != 1 || !select.from[0].joins.is_empty()
    {
        return;
    }
    let Some(base) = relation_name(&select.from[0].relation) else {
        return;
    };
    let views = std::mem::take(&mut select.lateral_views);
    let mut renamed = vec![];
    for (i, view) in views.iter().enumerate() {
        let arg = explode_argument(&view.lateral_view);
        let ok = !view.outer && view.lateral_col_alias.len() == 1 && arg.is_some();
        let derived = arg.filter(|_| ok).and_then(|arg| {
            let sql = format!(
                "SELECT {base}.*, unnest({arg}) AS {col} FROM {from}",
                base = quoted(&base),
                col = view.lateral_col_alias[0],
                from = select.from[0],
            );
            let mut stmts = Parser::parse_sql(&SparkSqlDialect, &sql).ok()?;
            let Some(Statement::Query(query)) = stmts.pop() else {
                return None;
            };
            Some(query)
        });
        let Some(query) = derived else {
            // Leave the unsupported view (and those after it) to DataFusion.
            select.lateral_views = views[i..].to_vec();
            break;
        };
        select.from[0] = TableWithJoins {
            relation: TableFactor::Derived {
                lateral: false,
                subquery: query,
                alias: Some(TableAlias {
                    explicit: true,
                    name: Ident::with_quote('`', &base),
                    columns: vec![],
                    at: None,
                }),
                sample: None,
            },
            joins: vec![],
        };
        if let Some(name) = view.lateral_view_name.0.last().and_then(|p| p.as_ident()) {
            renamed.push(name.value.to_lowercase());
        }
    }
    // `e.x` of a rewritten view is a column of the derived table now.
    let _ = visit_expressions_mut(select, |e| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() == 2 && renamed.contains(&parts[0].value.to_lowercase()) {
                parts[0] = Ident::with_quote('`', &base);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn relation_name(t: &TableFactor) -> Option<String> {
    match t {
        TableFactor::Table { name, alias, .. } => Some(match alias {
            Some(a) => a.name.value.clone(),
            None => name.0.last()?.as_ident()?.value.clone(),
        }),
        TableFactor::Derived { alias: Some(a), .. } => Some(a.name.value.clone()),
        _ => None,
    }
}

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use crate::spark_sql::rewritten;

    #[test]
    fn lateral_views_are_derived_tables() {
        let sql = rewritten(
            "SELECT t.id, e.x, f.y FROM t LATERAL VIEW explode(t.a) e AS x LATERAL VIEW explode(t.b) f AS y",
        );
        assert!(sql.contains("unnest(t.a) AS x FROM t"), "{sql}");
        assert!(sql.contains("unnest(t.b) AS y FROM (SELECT"), "{sql}");
        assert!(sql.starts_with("SELECT t.id, `t`.x, `t`.y FROM"), "{sql}");
    }

    #[test]
    fn explode_in_a_select_list_is_unnest() {
        assert!(rewritten("SELECT explode(array(1, 2)) AS v").contains("unnest(array(1, 2)) AS v"));
        assert!(rewritten("SELECT explode(a) FROM t").contains("unnest(a) AS col"));
        // OUTER and posexplode stay as they are.
        assert!(
            rewritten("SELECT * FROM t LATERAL VIEW OUTER explode(a) e AS x")
                .contains("LATERAL VIEW OUTER")
        );
    }
}
