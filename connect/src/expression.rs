//! Connect expressions to DataFusion expressions, resolved against the input
//! plan's schema as Spark resolves them (case-insensitive names, plan ids
//! for `df.col` references, ambiguity errors). Function calls are
//! [`crate::call`]'s, windows [`crate::window`]'s, result column names
//! [`crate::names`]'. Subquery expressions refer to plans the planner makes
//! first ([`crate::relation_subquery`]).

use std::collections::HashMap;

use arrow::datatypes::DataType;
use datafusion::common::Spans;
use datafusion::common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::{
    cast, lit, try_cast, Expr, LogicalPlan, LogicalPlanBuilder, SortExpr, Subquery,
};

use crate::error::{ConnectError, Result};
use crate::names::spark_name;
use crate::proto::expression::{self as pe, ExprType};
use crate::proto::subquery_expression::SubqueryType;
use crate::proto::Expression;
use crate::types;

/// The columns each plan id (`df.x` references) stands for: qualifier and name.
pub type PlanIds = HashMap<i64, Vec<(Option<TableReference>, String)>>;

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

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The column `parts` names in `scope`, with Spark's errors when none or
/// several match.
pub fn resolve_column(parts: &[String], plan_id: Option<i64>, scope: &Scope) -> Result<Expr> {
    let fields: Vec<(Option<&TableReference>, &str)> = scope
        .schema
        .iter()
        .map(|(q, f)| (q, f.name().as_str()))
        .collect();
    // Longest match first: `t.a` as qualifier `t` and column `a`, then as
    // column `t` and struct field `a`.
    for split in [2usize, 1] {
        if parts.len() < split {
            continue;
        }
        let mut hits: Vec<(Option<&TableReference>, &str)> = fields
            .iter()
            .copied()
            .filter(|(q, name)| {
                let name_ok = name.eq_ignore_ascii_case(&parts[split - 1]);
                if split == 2 {
                    name_ok && q.is_some_and(|q| q.table().eq_ignore_ascii_case(&parts[0]))
                } else {
                    name_ok
                }
            })
            .collect();
        if hits.len() > 1 {
            if let Some(cols) = plan_id.and_then(|id| scope.plan_ids.get(&id)) {
                hits.retain(|(q, n)| {
                    cols.iter()
                        .any(|(cq, cn)| cn == n && cq.as_ref() == q.as_deref())
                });
            }
        }
        if hits.len() > 1 {
            // Exact-case matches win over case-insensitive ones.
            let exact: Vec<_> = hits
                .iter()
                .copied()
                .filter(|(_, n)| *n == parts[split - 1])
                .collect();
            if exact.len() == 1 {
                hits = exact;
            }
        }
        match hits.as_slice() {
            [] => continue,
            [(q, name)] => {
                let mut e = Expr::Column(Column::new(q.cloned(), *name));
                for field in &parts[split..] {
                    e = datafusion::functions::core::expr_fn::get_field(e, field.as_str());
                }
                return Ok(e);
            }
            _ => {
                return Err(ConnectError::Analysis {
                    class: "AMBIGUOUS_REFERENCE",
                    message: format!(
                        "Reference {} is ambiguous, could be: [{}].",
                        quote(&parts.join(".")),
                        hits.iter()
                            .map(|(q, n)| match q {
                                Some(q) => format!("{}.{}", quote(q.table()), quote(n)),
                                None => quote(n),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            }
        }
    }
    if let Some(outer) = outer_column(parts, scope) {
        return Ok(outer);
    }
    let names: Vec<String> = fields.iter().map(|(_, n)| n.to_string()).collect();
    Err(ConnectError::unresolved_column(parts, &names))
}

pub(crate) fn required_box<'a, T>(x: &'a Option<Box<T>>, what: &str) -> Result<&'a T> {
    x.as_deref()
        .ok_or_else(|| ConnectError::IllegalArgument(format!("{what} is missing")))
}

/// A literal as a DataFusion scalar.
pub fn literal(l: &pe::Literal) -> Result<ScalarValue> {
    use pe::literal::LiteralType as L;
    let Some(t) = &l.literal_type else {
        return Ok(ScalarValue::Null);
    };
    Ok(match t {
        L::Null(dt) => ScalarValue::try_from(&types::from_spark(dt)?)?,
        L::Binary(b) => ScalarValue::Binary(Some(b.to_vec())),
        L::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        L::Byte(v) => ScalarValue::Int8(Some(*v as i8)),
        L::Short(v) => ScalarValue::Int16(Some(*v as i16)),
        L::Integer(v) => ScalarValue::Int32(Some(*v)),
        L::Long(v) => ScalarValue::Int64(Some(*v)),
        L::Float(v) => ScalarValue::Float32(Some(*v)),
        L::Double(v) => ScalarValue::Float64(Some(*v)),
        L::Decimal(d) => {
            let text = d.value.trim();
            let scale = d
                .scale
                .unwrap_or_else(|| text.split_once('.').map_or(0, |(_, f)| f.len() as i32));
            let digits = text.replace('.', "");
            let precision = d
                .precision
                .unwrap_or_else(|| (digits.trim_start_matches('-').len() as i32).max(1));
            let unscaled: i128 = {
                let (int, frac) = text.split_once('.').unwrap_or((text, ""));
                let mut frac = frac.to_string();
                while (frac.len() as i32) < scale {
                    frac.push('0');
                }
                format!("{int}{frac}").parse().map_err(|_| {
                    ConnectError::IllegalArgument(format!("invalid decimal literal `{text}`"))
                })?
            };
            ScalarValue::Decimal128(Some(unscaled), precision as u8, scale as i8)
        }
        L::String(s) => ScalarValue::Utf8(Some(s.clone())),
        L::Date(d) => ScalarValue::Date32(Some(*d)),
        L::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(*t), Some("UTC".into())),
        L::TimestampNtz(t) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        L::Array(a) => {
            let values = a.elements.iter().map(literal).collect::<Result<Vec<_>>>()?;
            let elem_type = values.first().map_or(DataType::Null, |v| v.data_type());
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &elem_type))
        }
        other => {
            return Err(ConnectError::Unsupported(format!(
                "the literal {:?}",
                std::mem::discriminant(other)
            )))
        }
    })
}

/// Converts `e`, whose result may be a list (a `*`), against `scope`.
pub fn to_exprs(e: &Expression, scope: &Scope) -> Result<Vec<Expr>> {
    if let Some(ExprType::UnresolvedStar(s)) = &e.expr_type {
        return star(s, scope);
    }
    let call = |f: &pe::UnresolvedFunction| crate::call::function(f, scope);
    if let Some(columns) = crate::call_docs::generator_columns(e, &call)? {
        return Ok(columns);
    }
    if let Some(ExprType::UnresolvedRegex(r)) = &e.expr_type {
        return regex_columns(r, scope);
    }
    Ok(vec![to_expr(e, scope)?])
}

fn star(s: &pe::UnresolvedStar, scope: &Scope) -> Result<Vec<Expr>> {
    let target = s
        .unparsed_target
        .as_deref()
        .map(|t| t.trim_end_matches(".*").to_string());
    let cols: Vec<Expr> = scope
        .schema
        .iter()
        .filter(|(q, f)| match (&target, q) {
            (None, _) => s.plan_id.is_none_or(|id| {
                scope.plan_ids.get(&id).is_none_or(|cols| {
                    cols.iter()
                        .any(|(cq, cn)| cn == f.name() && cq.as_ref() == *q)
                })
            }),
            (Some(t), Some(q)) => q.table().eq_ignore_ascii_case(t),
            (Some(_), None) => false,
        })
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    if cols.is_empty() {
        if let Some(t) = target {
            return Err(ConnectError::Analysis {
                class: "CANNOT_RESOLVE_STAR_EXPAND",
                message: format!("Cannot resolve {}.* given input columns.", quote(&t)),
            });
        }
    }
    Ok(cols)
}

/// Converts one expression against `scope`.
pub fn to_expr(e: &Expression, scope: &Scope) -> Result<Expr> {
    let Some(t) = &e.expr_type else {
        return Err(ConnectError::IllegalArgument(
            "an expression without a type".into(),
        ));
    };
    match t {
        ExprType::Literal(l) => Ok(lit(literal(l)?)),
        ExprType::UnresolvedAttribute(a) => {
            let parts = parse_identifier(&a.unparsed_identifier)?;
            resolve_column(&parts, a.plan_id, scope)
        }
        ExprType::Alias(a) => {
            let inner = to_expr(required_box(&a.expr, "the aliased expression")?, scope)?;
            Ok(inner.alias(a.name.join(".")))
        }
        ExprType::ExpressionString(s) => expression_string(&s.expression, scope),
        ExprType::Cast(c) => {
            let inner = to_expr(required_box(&c.expr, "the cast's input")?, scope)?;
            let to = match &c.cast_to_type {
                Some(pe::cast::CastToType::Type(t)) => types::from_spark(t)?,
                Some(pe::cast::CastToType::TypeStr(s)) => types::parse_type(s)?,
                None => {
                    return Err(ConnectError::IllegalArgument(
                        "a cast without a target type".into(),
                    ))
                }
            };
            if c.eval_mode == pe::cast::EvalMode::Try as i32 {
                Ok(try_cast(inner, to))
            } else {
                Ok(cast(inner, to))
            }
        }
        ExprType::UnresolvedFunction(f) => crate::call::function(f, scope),
        // `F.call_function(name, ...)`: a function by its SQL name.
        ExprType::CallFunction(c) => crate::call::function(
            &pe::UnresolvedFunction {
                function_name: c.function_name.clone(),
                arguments: c.arguments.clone(),
                ..Default::default()
            },
            scope,
        ),
        ExprType::UnresolvedStar(_) => Err(ConnectError::analysis(
            "`*` is only allowed in a select list or in count(*)",
        )),
        ExprType::UnresolvedExtractValue(x) => {
            let child = to_expr(required_box(&x.child, "the extracted value")?, scope)?;
            let key = required_box(&x.extraction, "the extraction")?;
            match &key.expr_type {
                Some(ExprType::Literal(l)) => match literal(l)? {
                    ScalarValue::Utf8(Some(name)) => {
                        Ok(datafusion::functions::core::expr_fn::get_field(child, name))
                    }
                    ScalarValue::Int32(Some(i)) => {
                        Ok(datafusion::functions_nested::expr_fn::array_element(
                            child,
                            lit(i64::from(i) + 1),
                        ))
                    }
                    other => Ok(datafusion::functions::core::expr_fn::get_field(
                        child,
                        other.to_string(),
                    )),
                },
                _ => Err(ConnectError::Unsupported(
                    "extracting a value by a non-literal key".into(),
                )),
            }
        }
        ExprType::Window(w) => crate::window::window(w, scope),
        ExprType::SortOrder(_) => Err(ConnectError::analysis(
            "a sort order is only allowed in orderBy/sort or a window's orderBy",
        )),
        ExprType::UnresolvedRegex(_) => Err(ConnectError::Unsupported("colRegex".into())),
        ExprType::SubqueryExpression(q) => subquery(q, scope),
        ExprType::LambdaFunction(_) | ExprType::UnresolvedNamedLambdaVariable(_) => Err(
            ConnectError::Unsupported("lambda functions (higher-order functions)".into()),
        ),
        ExprType::CommonInlineUserDefinedFunction(f) => crate::udf::udf_expr(f, scope),
        _ => Err(ConnectError::Unsupported(format!(
            "the expression {}",
            spark_name(e, scope)
        ))),
    }
}

/// `expr("...")` / `selectExpr("...")`: the text parsed and planned as
/// `spark.sql` plans a select item (Spark's literals, rewrites and result
/// names), against the input's columns.
fn expression_string(text: &str, scope: &Scope) -> Result<Expr> {
    use datafusion::sql::parser::Statement as DFStatement;
    use datafusion::sql::sqlparser::ast::ExprWithAlias;
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, Statement};
    let select = format!("SELECT {text}");
    let mut parsed = kiln_core::sql::parse_job(&select, "spark", "expr")
        .map_err(|e| ConnectError::Parse(e.to_string()))?;
    let mut names = kiln_core::sql::NameCatalog::default();
    for f in scope.schema.fields() {
        names.add(f.name());
    }
    let item = match parsed.as_mut_slice() {
        [one] => {
            kiln_core::sql::prepare(&mut one.statement, &names);
            match &one.statement {
                DFStatement::Statement(st) => match st.as_ref() {
                    Statement::Query(q) => match q.body.as_ref() {
                        SetExpr::Select(s) if s.projection.len() == 1 => {
                            Some(s.projection[0].clone())
                        }
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    let with_alias = match item {
        Some(SelectItem::UnnamedExpr(expr)) => ExprWithAlias { expr, alias: None },
        Some(SelectItem::ExprWithAlias { expr, alias }) => ExprWithAlias {
            expr,
            alias: Some(alias),
        },
        _ => {
            return Err(ConnectError::Parse(format!(
                "[PARSE_SYNTAX_ERROR] `{text}` is not one expression"
            )))
        }
    };
    Ok(scope
        .state
        .create_logical_expr_from_sql_expr(with_alias, scope.schema)?)
}

/// Converts a sort order.
pub fn sort_expr(o: &pe::SortOrder, scope: &Scope) -> Result<SortExpr> {
    let child = to_expr(required_box(&o.child, "the sort key")?, scope)?;
    let asc = o.direction != pe::sort_order::SortDirection::Descending as i32;
    // Spark: NULLs first when ascending, last when descending, unless said.
    let nulls_first = match o.null_ordering {
        n if n == pe::sort_order::NullOrdering::SortNullsFirst as i32 => true,
        n if n == pe::sort_order::NullOrdering::SortNullsLast as i32 => false,
        _ => asc,
    };
    Ok(child.sort(asc, nulls_first))
}

/// A sort key from any expression (a bare column sorts ascending).
pub fn sort_key(e: &Expression, scope: &Scope) -> Result<SortExpr> {
    match &e.expr_type {
        Some(ExprType::SortOrder(o)) => sort_expr(o, scope),
        _ => Ok(to_expr(e, scope)?.sort(true, true)),
    }
}

/// The columns of `schema`, for plan-id lookups.
pub fn columns_of(schema: &DFSchema) -> Vec<(Option<TableReference>, String)> {
    schema
        .iter()
        .map(|(q, f)| (q.cloned(), f.name().clone()))
        .collect()
}

/// `e` named as Spark names it: aliased expressions keep their alias,
/// bare columns their name, anything else gets Spark's generated name.
pub fn named(e: &Expression, converted: Expr, scope: &Scope) -> Expr {
    match (&e.expr_type, &converted) {
        (Some(ExprType::Alias(_)), _) | (_, Expr::Column(_)) | (_, Expr::Alias(_)) => converted,
        (Some(ExprType::ExpressionString(_)), _) => converted,
        _ => converted.alias(spark_name(e, scope)),
    }
}

/// The subqueries of a request that are planned, by plan id.
pub type Subqueries = HashMap<i64, LogicalPlan>;

/// The error class of an expression that needs a subquery not yet planned
/// (the planner plans it and converts the expression again).
pub const SUBQUERY_PENDING: &str = "KILN_SUBQUERY_NOT_PLANNED";

/// The expression of a subquery expression, whose plan is in `scope`.
pub fn subquery(s: &crate::proto::SubqueryExpression, scope: &Scope) -> Result<Expr> {
    let Some(plan) = scope.subqueries.get(&s.plan_id) else {
        return Err(ConnectError::Analysis {
            class: SUBQUERY_PENDING,
            message: format!("the subquery of plan {} is not planned", s.plan_id),
        });
    };
    let wrap = |plan: LogicalPlan| Subquery {
        outer_ref_columns: plan.all_out_ref_exprs(),
        subquery: std::sync::Arc::new(plan),
        spans: Spans::new(),
    };
    match SubqueryType::try_from(s.subquery_type).unwrap_or(SubqueryType::Unknown) {
        SubqueryType::Scalar => Ok(Expr::ScalarSubquery(wrap(plan.clone()))),
        SubqueryType::Exists => Ok(Expr::Exists(Exists {
            subquery: wrap(plan.clone()),
            negated: false,
        })),
        SubqueryType::In => {
            let values = s
                .in_subquery_values
                .iter()
                .map(|v| to_expr(v, scope))
                .collect::<Result<Vec<_>>>()?;
            let (value, plan) = match values.as_slice() {
                [one] => (one.clone(), plan.clone()),
                // `struct(a, b).isin(df)`: both sides as structs of the
                // same field names.
                _ => {
                    let columns: Vec<Expr> = plan
                        .schema()
                        .iter()
                        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                        .collect();
                    if columns.len() != values.len() {
                        return Err(ConnectError::Analysis {
                            class: "DATATYPE_MISMATCH.IN_SUBQUERY_LENGTH_MISMATCH",
                            message: format!(
                                "The number of columns in the left hand side of an IN subquery \
                                 does not match the number of columns in the output of \
                                 subquery: {} and {}.",
                                values.len(),
                                columns.len()
                            ),
                        });
                    }
                    let value = named_struct(scope, values)?;
                    let inner = named_struct(scope, columns)?;
                    let plan = LogicalPlanBuilder::from(plan.clone())
                        .project(vec![inner.alias("value")])?
                        .build()?;
                    (value, plan)
                }
            };
            Ok(Expr::InSubquery(InSubquery {
                expr: Box::new(value),
                subquery: wrap(plan),
                negated: false,
            }))
        }
        SubqueryType::TableArg | SubqueryType::Unknown => Err(ConnectError::Unsupported(
            "table arguments (df.asTable()): Kiln has no Python UDTFs".into(),
        )),
    }
}

fn named_struct(scope: &Scope, values: Vec<Expr>) -> Result<Expr> {
    let args = values
        .into_iter()
        .enumerate()
        .flat_map(|(i, v)| [lit(format!("c{i}")), v])
        .collect();
    crate::relation_stat::scalar_call(scope.state, "named_struct", args)
}

/// `parts` resolved in the enclosing query's schema, as an outer
/// reference; `None` outside a subquery or when it has no such column.
pub fn outer_column(parts: &[String], scope: &Scope) -> Option<Expr> {
    let outer = scope.outer?;
    let outer_scope = Scope {
        state: scope.state,
        schema: outer,
        plan_ids: scope.plan_ids,
        outer: None,
        subqueries: scope.subqueries,
    };
    match resolve_column(parts, None, &outer_scope).ok()? {
        Expr::Column(c) => {
            let (_, field) = outer.qualified_field_from_column(&c).ok()?;
            Some(Expr::OuterReferenceColumn(std::sync::Arc::clone(field), c))
        }
        _ => None,
    }
}

/// `df.colRegex("`regex`")` in a select: the columns whose whole name the
/// regex matches ([`crate::col_regex`]); `` q.`regex` `` limits them to the
/// qualifier `q`; a name without backticks is a plain column.
pub fn regex_columns(r: &pe::UnresolvedRegex, scope: &Scope) -> Result<Vec<Expr>> {
    let name = r.col_name.as_str();
    let (qualifier, pattern) = match name.strip_suffix('`').and_then(|n| n.rsplit_once('`')) {
        Some(("", p)) => (None, p),
        Some((q, p)) if q.ends_with('.') => (Some(q.trim_end_matches('.')), p),
        _ => {
            return Ok(vec![resolve_column(
                &parse_identifier(name)?,
                r.plan_id,
                scope,
            )?])
        }
    };
    let regex = crate::col_regex::ColRegex::new(pattern)?;
    let mut out = vec![];
    for (q, f) in scope.schema.iter() {
        if let Some(want) = qualifier {
            if !q.is_some_and(|q| q.table().eq_ignore_ascii_case(want)) {
                continue;
            }
        }
        if let Some(cols) = r.plan_id.and_then(|id| scope.plan_ids.get(&id)) {
            if !cols
                .iter()
                .any(|(cq, cn)| cn == f.name() && cq.as_ref() == q)
            {
                continue;
            }
        }
        if regex.is_match(f.name()) {
            out.push(Expr::Column(Column::new(q.cloned(), f.name())));
        }
    }
    Ok(out)
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
