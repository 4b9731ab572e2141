//! Connect expressions to DataFusion expressions, resolved against the input
//! plan's schema as Spark resolves them (case-insensitive names, plan ids
//! for `df.col` references, ambiguity errors). Function calls are
//! [`crate::call`]'s, windows [`crate::window`]'s, lambdas
//! [`crate::lambda`]'s, result column names [`crate::names`]'. Those
//! modules recurse through the [`Translator`] in their [`Scope`].
//! Subquery expressions refer to plans the planner makes first
//! ([`crate::relation_subquery`]).

use arrow::datatypes::DataType;
use datafusion::common::Spans;
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::{
    cast, lit, try_cast, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, SortExpr, Subquery,
};

use crate::error::{ConnectError, Result};
use crate::names::spark_name;
use crate::proto::expression::{self as pe, ExprType};
use crate::proto::subquery_expression::SubqueryType;
use crate::proto::Expression;
use crate::types;

pub use crate::literal::literal;
pub use crate::scope::{parse_identifier, sort_expr, PlanIds, Scope, Subqueries};
use crate::scope::{required_box, Translate};

/// The translator of Connect expressions every [`Scope`] carries.
pub struct Translator;

impl Translate for Translator {
    fn to_expr(&self, e: &Expression, scope: &Scope) -> Result<Expr> {
        to_expr(e, scope)
    }

    fn to_exprs(&self, e: &Expression, scope: &Scope) -> Result<Vec<Expr>> {
        to_exprs(e, scope)
    }

    fn spark_name(&self, e: &Expression, scope: &Scope) -> String {
        spark_name(e, scope)
    }
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
                    e = get_field(e, field.as_str());
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
        // A generator's hidden columns are no columns of the DataFrame.
        .filter(|(_, f)| !f.name().starts_with(crate::generator::HIDDEN_PREFIX))
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
            // `s.*` of a struct column: its fields.
            if let Ok(e) = parse_identifier(&t).and_then(|p| resolve_column(&p, s.plan_id, scope)) {
                if let Ok(DataType::Struct(fields)) = e.get_type(scope.schema) {
                    return Ok(fields
                        .iter()
                        .map(|f| get_field(e.clone(), f.name().as_str()).alias(f.name()))
                        .collect());
                }
            }
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
            Ok(types::alias_with_spark_metadata(
                inner,
                &a.name.join("."),
                a.metadata.as_deref(),
            ))
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
        ExprType::UnresolvedExtractValue(x) => crate::fields::extract(x, scope),
        ExprType::UpdateFields(u) => crate::fields::update(u, scope),
        ExprType::Window(w) => crate::window::window(w, scope),
        ExprType::SortOrder(_) => Err(ConnectError::analysis(
            "a sort order is only allowed in orderBy/sort or a window's orderBy",
        )),
        ExprType::UnresolvedRegex(_) => Err(ConnectError::Unsupported("colRegex".into())),
        ExprType::SubqueryExpression(q) => subquery(q, scope),
        ExprType::LambdaFunction(_) => Err(ConnectError::analysis(
            "a lambda function is only allowed as an argument of a higher-order function",
        )),
        ExprType::UnresolvedNamedLambdaVariable(v) => crate::lambda::variable(v, scope),
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
        outer: None,
        ..scope.with_schema(outer)
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
