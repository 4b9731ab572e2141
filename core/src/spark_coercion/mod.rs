//! Spark SQL's implicit type coercions where DataFusion's differ, as an
//! analyzer rule ([`SparkTypeCoercion`]) that runs before DataFusion's own
//! `type_coercion` rule.
//!
//! The rule does not replace DataFusion's coercion: it inserts the casts
//! Spark would insert where Spark's common type differs from the one
//! DataFusion would pick, so that DataFusion then finds matching types and
//! leaves them alone. Everything else is left to DataFusion, including its
//! errors. What it owns, after Spark 4's ANSI rules (the "least common type"
//! of <https://spark.apache.org/docs/latest/sql-ref-ansi-compliance.html>):
//!
//! - A FLOAT or DOUBLE with a DECIMAL (or a FLOAT with an integer) is a
//!   DOUBLE: in comparisons, `IN`, `BETWEEN`, arithmetic, `CASE`,
//!   `COALESCE`/`NVL`/`NVL2`/`IF`/`GREATEST`/`LEAST`, `UNION` and inline
//!   tables. DataFusion picks a DECIMAL, so `VALUES (0.0), (double('NaN'))`
//!   failed casting NaN to a decimal.
//! - Spark's wider DECIMAL keeps the integral digits when 38 digits do not
//!   hold both sides (`DECIMAL(30,10)` with `DECIMAL(30,0)` is
//!   `DECIMAL(38,8)`); DataFusion keeps the scale.
//! - A STRING beside another type is cast to that type: BIGINT beside an
//!   integer, DOUBLE beside a DECIMAL or floating number, DATE, TIMESTAMP
//!   or BOOLEAN beside one of those. This covers comparisons, arithmetic
//!   (`'1' + 1` is a BIGINT 2), `date - string`, the branches of `CASE` and
//!   the functions above, `IN`, `BETWEEN` and `UNION`. A STRING operand of
//!   `AND`/`OR`/`NOT` or of `bool_and`/`bool_or` (`every`, `some`, `any`)
//!   is cast to BOOLEAN, and one of unary minus to DOUBLE.
//!
//! A SQL integer literal is a BIGINT in Kiln but an INT in Spark when it
//! fits one; where the literal's width decides a DECIMAL's precision
//! (`coalesce(1, 1.5)` is a `DECIMAL(11,1)`), the rule counts it as an INT.
//! (`1L` reaches the plan as the same literal, so `coalesce(1L, 1.5)` is a
//! `DECIMAL(11,1)` here and a `DECIMAL(21,1)` in Spark.)
//!
//! Casts DataFusion needs while it plans (it types every expression as it
//! builds it, so `'1' + 1` would fail before any analyzer rule) are made by
//! [`SparkCoercionPlanner`], an expression planner for binary operators and
//! aggregate calls.

mod lattice;
mod plans;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{internal_err, DFSchema, Result, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::expr::{AggregateFunction, InList, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::{coerce_plan_expr_for_schema, NamePreserver};
use datafusion::logical_expr::planner::{
    ExprPlanner, PlannerResult, RawAggregateExpr, RawBinaryExpr,
};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    Between, BinaryExpr, Case, Cast, Expr, ExprSchemable, LogicalPlan, Operator, TryCast, Union,
    Values,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::BinaryOperator;

use lattice::*;
use plans::{coerce_union, coerce_values};

/// The analyzer rule that casts operands to Spark's common types before
/// DataFusion's `type_coercion` rule runs (see the module documentation).
#[derive(Debug, Default)]
pub struct SparkTypeCoercion;

impl AnalyzerRule for SparkTypeCoercion {
    fn name(&self) -> &str {
        "spark_type_coercion"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(coerce_plan).data()
    }
}

/// Puts [`SparkTypeCoercion`] into `builder`'s analyzer right before
/// DataFusion's `type_coercion` rule, keeping every other rule, and
/// [`SparkCoercionPlanner`] first among its expression planners.
pub fn register(builder: &mut SessionStateBuilder) {
    let mut analyzer = builder.analyzer().take().unwrap_or_default();
    let at = analyzer
        .rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .unwrap_or(analyzer.rules.len());
    analyzer.rules.insert(at, Arc::new(SparkTypeCoercion));
    *builder.analyzer() = Some(analyzer);
    // First, so that Kiln's operator planner sees the cast operands.
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(SparkCoercionPlanner));
}

/// Spark's coercions on one plan node whose inputs are done.
fn coerce_plan(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    match plan {
        LogicalPlan::Union(union) => coerce_union(union),
        LogicalPlan::Values(values) => coerce_values(values),
        plan => {
            let mut schema = merge_schema(&plan.inputs());
            if let LogicalPlan::TableScan(ts) = &plan {
                schema.merge(&DFSchema::try_from_qualified_schema(
                    ts.table_name.clone(),
                    &ts.source.schema(),
                )?);
            }
            let names = NamePreserver::new(&plan);
            let out = plan.map_expressions(|e| {
                let saved = names.save(&e);
                e.transform_up(|e| coerce_expr(e, &schema))
                    .map(|t| t.update_data(|e| saved.restore(e)))
            })?;
            // A changed input changes this node's schema too.
            out.map_data(|p| p.recompute_schema())
        }
    }
}

// ---------------------------------------------------------------------------
// Expressions.

fn coerce_expr(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    Ok(match e {
        Expr::BinaryExpr(b) => coerce_binary(b, schema),
        Expr::Not(inner) => match inner.get_type(schema) {
            Ok(t) if is_string(&t) => Transformed::yes(Expr::Not(Box::new(cast_to(
                *inner,
                &DataType::Boolean,
                schema,
            )))),
            _ => Transformed::no(Expr::Not(inner)),
        },
        // Spark negates a string as a DOUBLE (`- '1'` is -1.0).
        Expr::Negative(inner) => match inner.get_type(schema) {
            Ok(t) if is_string(&t) => Transformed::yes(Expr::Negative(Box::new(cast_to(
                *inner,
                &DataType::Float64,
                schema,
            )))),
            _ => Transformed::no(Expr::Negative(inner)),
        },
        Expr::Case(case) => coerce_case(case, schema),
        Expr::InList(list) => coerce_in_list(list, schema),
        Expr::Between(between) => coerce_between(between, schema)?,
        Expr::ScalarFunction(f) => coerce_scalar_function(f, schema),
        Expr::AggregateFunction(f) => coerce_aggregate(f, schema),
        Expr::Cast(c) => coerce_cast(c, schema),
        Expr::TryCast(c) => match trimmed_for_cast(&c.expr, c.field.data_type(), schema) {
            Some(e) => Transformed::yes(Expr::TryCast(TryCast {
                expr: Box::new(e),
                field: c.field,
            })),
            None => Transformed::no(Expr::TryCast(c)),
        },
        e => Transformed::no(e),
    })
}

/// The characters Spark trims from a string before casting it to a number,
/// a BOOLEAN, a DATE or a TIMESTAMP (`cast(' 1\t' AS INT)` is 1): ASCII
/// space and the control characters below it.
const CAST_TRIMMED: &str = "\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{e}\u{f}\u{10}\u{11}\u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f} ";

/// `e` (a string cast to `to`) trimmed as Spark trims it first, or `None`
/// when no trim applies (or `e` is trimmed already: the rule may see a
/// plan twice).
fn trimmed_for_cast(e: &Expr, to: &DataType, schema: &DFSchema) -> Option<Expr> {
    let from = e.get_type(schema).ok()?;
    let trims =
        is_numeric(to) || matches!(to, DataType::Boolean | DataType::Date32) || is_timestamp(to);
    if !is_string(&from) || !trims {
        return None;
    }
    if let Expr::ScalarFunction(f) = e {
        if f.func.name() == "btrim" {
            return None;
        }
    }
    if let Expr::Literal(ScalarValue::Utf8(Some(v)), _) = e {
        // A literal that has nothing to trim stays a literal.
        if v.trim_matches(|c: char| CAST_TRIMMED.contains(c)) == v {
            return None;
        }
    }
    Some(datafusion::functions::string::expr_fn::btrim(vec![
        e.clone(),
        Expr::Literal(ScalarValue::Utf8(Some(CAST_TRIMMED.into())), None),
    ]))
}

fn coerce_cast(c: Cast, schema: &DFSchema) -> Transformed<Expr> {
    if let Some(e) = string_to_timestamp(&c.expr, c.field.data_type(), schema) {
        return Transformed::yes(e);
    }
    if let Some(e) = trimmed_for_cast(&c.expr, c.field.data_type(), schema) {
        return Transformed::yes(Expr::Cast(Cast {
            expr: Box::new(e),
            field: c.field,
        }));
    }
    match time_as_number(&c.expr, c.field.data_type(), schema) {
        Some(e) => Transformed::yes(e),
        None => Transformed::no(Expr::Cast(c)),
    }
}

/// Spark's cast of a string to a TIMESTAMP: what Spark's cast parses
/// (a zone suffix, `T`, a partial date, spaces and control characters
/// around it), as a wall-clock time of the session zone
/// ([`kiln_functions::cast_string_to_timestamp`]); Arrow's cast takes
/// neither zone names nor Spark's partial forms.
fn string_to_timestamp(e: &Expr, to: &DataType, schema: &DFSchema) -> Option<Expr> {
    use datafusion::arrow::datatypes::TimeUnit;
    if !matches!(to, DataType::Timestamp(_, None)) || !is_string(&e.get_type(schema).ok()?) {
        return None;
    }
    let parsed = kiln_functions::cast_string_to_timestamp().call(vec![e.clone()]);
    Some(match to {
        DataType::Timestamp(TimeUnit::Microsecond, None) => parsed,
        _ => Expr::Cast(Cast::new(Box::new(parsed), to.clone())),
    })
}

/// Spark's cast of a TIME to a number: its seconds since midnight,
/// truncated for an integer, rounded to the scale for a DECIMAL (Spark's
/// TIME holds microseconds). Arrow casts a time to its count of units.
fn time_as_number(e: &Expr, to: &DataType, schema: &DFSchema) -> Option<Expr> {
    use datafusion::arrow::datatypes::TimeUnit;
    let unit = match e.get_type(schema).ok()? {
        DataType::Time64(u) | DataType::Time32(u) => u,
        _ => return None,
    };
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let units = Expr::Cast(Cast::new(Box::new(e.clone()), DataType::Int64));
    let int = |v: i64| Expr::Literal(ScalarValue::Int64(Some(v)), None);
    let binary = |l: Expr, op: Operator, r: Expr| {
        Expr::BinaryExpr(BinaryExpr::new(Box::new(l), op, Box::new(r)))
    };
    if is_signed_integer(to) {
        let seconds = binary(units, Operator::Divide, int(per_second));
        return Some(Expr::Cast(Cast::new(Box::new(seconds), to.clone())));
    }
    if !is_decimal(to) {
        return None;
    }
    let micros = if per_second >= 1_000_000 {
        binary(units, Operator::Divide, int(per_second / 1_000_000))
    } else {
        binary(units, Operator::Multiply, int(1_000_000 / per_second))
    };
    let micros = Expr::Cast(Cast::new(Box::new(micros), DataType::Decimal128(38, 0)));
    let one_micro = Expr::Literal(ScalarValue::Decimal128(Some(1), 7, 6), None);
    let seconds = binary(micros, Operator::Multiply, one_micro);
    Some(Expr::Cast(Cast::new(Box::new(seconds), to.clone())))
}

/// What kind of binary operator, for Spark's operand casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    /// `=`, `<>`, `<`, `<=`, `>`, `>=`, `<=>`, `IS [NOT] DISTINCT FROM`.
    Compare,
    /// `AND`, `OR`.
    Logic,
    /// `-`: also date and timestamp subtraction.
    Minus,
    /// `/`.
    Divide,
    /// `+`, `*`, `%`.
    Arithmetic,
}

fn op_kind(op: &Operator) -> Option<OpKind> {
    Some(match op {
        Operator::Eq
        | Operator::NotEq
        | Operator::Lt
        | Operator::LtEq
        | Operator::Gt
        | Operator::GtEq
        | Operator::IsDistinctFrom
        | Operator::IsNotDistinctFrom => OpKind::Compare,
        Operator::And | Operator::Or => OpKind::Logic,
        Operator::Minus => OpKind::Minus,
        Operator::Divide => OpKind::Divide,
        Operator::Plus | Operator::Multiply | Operator::Modulo => OpKind::Arithmetic,
        _ => return None,
    })
}

fn sql_op_kind(op: &BinaryOperator) -> Option<OpKind> {
    Some(match op {
        BinaryOperator::Eq
        | BinaryOperator::NotEq
        | BinaryOperator::Lt
        | BinaryOperator::LtEq
        | BinaryOperator::Gt
        | BinaryOperator::GtEq
        | BinaryOperator::Spaceship => OpKind::Compare,
        BinaryOperator::And | BinaryOperator::Or => OpKind::Logic,
        BinaryOperator::Minus => OpKind::Minus,
        BinaryOperator::Divide => OpKind::Divide,
        // `DIV` too: Kiln's operator planner makes it a division that
        // DataFusion types at once.
        BinaryOperator::Plus
        | BinaryOperator::Multiply
        | BinaryOperator::Modulo
        | BinaryOperator::MyIntegerDivide => OpKind::Arithmetic,
        _ => return None,
    })
}

/// The operands of a binary operator of `kind` cast as Spark casts them,
/// or `None` when Spark's and DataFusion's types agree (or the operand
/// types are not known).
fn cast_operands(
    kind: OpKind,
    left: &Expr,
    right: &Expr,
    schema: &DFSchema,
) -> Option<(Expr, Expr)> {
    let (lt, rt) = (left.get_type(schema).ok()?, right.get_type(schema).ok()?);
    let both = |t: &DataType| {
        Some((
            cast_to(left.clone(), t, schema),
            cast_to(right.clone(), t, schema),
        ))
    };
    match kind {
        OpKind::Logic if is_string(&lt) || is_string(&rt) => return both(&DataType::Boolean),
        OpKind::Logic => return None,
        OpKind::Compare => {
            if !comparison_differs(&[lt.clone(), rt.clone()]) {
                return None;
            }
            return both(&wider(&lt, &rt)?);
        }
        _ => {}
    }
    // `date - '2001-09-28'`, `timestamp - '...'`: the string is a date or
    // timestamp, and the two subtract as in Spark.
    let datetime = |t: &DataType| matches!(t, DataType::Date32) || is_timestamp(t);
    if kind == OpKind::Minus {
        if datetime(&lt) && is_string(&rt) {
            return Some((left.clone(), cast_to(right.clone(), &lt, schema)));
        }
        if is_string(&lt) && datetime(&rt) {
            return Some((cast_to(left.clone(), &rt, schema), right.clone()));
        }
    }
    let other = match (is_string(&lt), is_string(&rt)) {
        (true, false) if is_numeric(&rt) => Some(&rt),
        (false, true) if is_numeric(&lt) => Some(&lt),
        _ => None,
    };
    if let Some(other) = other {
        // The string becomes BIGINT beside an integer (`'1' + 1` is a
        // BIGINT; `'1.5' + 1` fails to cast), DOUBLE beside a DECIMAL or a
        // floating number. `/` of two BIGINTs is then Spark's division of
        // doubles (Kiln's operator planner plans it so).
        let to = string_promotion(other)?;
        let promote = |e: &Expr, t: &DataType| {
            if is_string(t) {
                cast_to(e.clone(), &to, schema)
            } else {
                e.clone()
            }
        };
        return Some((promote(left, &lt), promote(right, &rt)));
    }
    // A FLOAT with a DECIMAL or an integer computes as DOUBLE in Spark;
    // DataFusion computes as FLOAT.
    let float32 = |t: &DataType| matches!(t, DataType::Float32 | DataType::Float16);
    let exact = |t: &DataType| is_decimal(t) || is_signed_integer(t);
    if (float32(&lt) && exact(&rt)) || (exact(&lt) && float32(&rt)) {
        return both(&DataType::Float64);
    }
    None
}

/// `date + NULL`, `NULL - timestamp`: a NULL of Spark's result type, a
/// TIMESTAMP for `+` and a day-time interval for `-` (the untyped NULL
/// would be cast to the date-time's type, and two of those do not add).
fn null_beside_datetime(
    left: &Expr,
    op: Operator,
    right: &Expr,
    schema: &DFSchema,
) -> Option<Expr> {
    use datafusion::arrow::datatypes::TimeUnit;
    if !matches!(op, Operator::Plus | Operator::Minus) {
        return None;
    }
    let (lt, rt) = (left.get_type(schema).ok()?, right.get_type(schema).ok()?);
    let datetime = |t: &DataType| matches!(t, DataType::Date32) || is_timestamp(t);
    let t = match (lt.is_null(), rt.is_null()) {
        (true, false) if datetime(&rt) => rt,
        (false, true) if datetime(&lt) => lt,
        _ => return None,
    };
    let t = match (op, t) {
        (Operator::Minus, _) => DataType::Duration(TimeUnit::Microsecond),
        (_, DataType::Date32) => DataType::Timestamp(TimeUnit::Microsecond, None),
        (_, t) => t,
    };
    Some(Expr::Cast(Cast::new(
        Box::new(Expr::Literal(ScalarValue::Null, None)),
        t,
    )))
}

/// Spark subtracts two DATEs into a day-time interval (`date'2001-10-01' -
/// date'2001-09-28'` is `3 00:00:00`); DataFusion into a count of days.
fn dates_minus_as_interval(l: &Expr, op: Operator, r: &Expr, schema: &DFSchema) -> Option<Expr> {
    use datafusion::arrow::datatypes::TimeUnit;
    let date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32));
    if op != Operator::Minus || !date(l) || !date(r) {
        return None;
    }
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    Some(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(Expr::Cast(Cast::new(Box::new(l.clone()), ts.clone()))),
        Operator::Minus,
        Box::new(Expr::Cast(Cast::new(Box::new(r.clone()), ts))),
    )))
}

fn coerce_binary(b: BinaryExpr, schema: &DFSchema) -> Transformed<Expr> {
    if let Some(e) = null_beside_datetime(&b.left, b.op, &b.right, schema) {
        return Transformed::yes(e);
    }
    let Some(kind) = op_kind(&b.op) else {
        return Transformed::no(Expr::BinaryExpr(b));
    };
    let Some((l, r)) = cast_operands(kind, &b.left, &b.right, schema) else {
        return match dates_minus_as_interval(&b.left, b.op, &b.right, schema) {
            Some(e) => Transformed::yes(e),
            None => Transformed::no(Expr::BinaryExpr(b)),
        };
    };
    let (l, r) = if kind == OpKind::Divide
        && is_signed_integer(&l.get_type(schema).unwrap_or(DataType::Null))
    {
        // Here, after Kiln's operator planner: divide as doubles.
        (
            cast_to(l, &DataType::Float64, schema),
            cast_to(r, &DataType::Float64, schema),
        )
    } else {
        (l, r)
    };
    if let Some(e) = dates_minus_as_interval(&l, b.op, &r, schema) {
        return Transformed::yes(e);
    }
    Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(l),
        b.op,
        Box::new(r),
    )))
}

/// Spark's implicit casts of operands and aggregate arguments while SQL is
/// planned: DataFusion works out each expression's type as it plans it, so
/// `'1' + 1` or `every('true')` fail there, before any analyzer rule runs.
/// It casts the operands (as [`SparkTypeCoercion`] does) and leaves the
/// planning to the planners after it.
#[derive(Debug, Default)]
pub struct SparkCoercionPlanner;

impl ExprPlanner for SparkCoercionPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let Some(kind) = sql_op_kind(&expr.op) else {
            return Ok(PlannerResult::Original(expr));
        };
        let op = match expr.op {
            BinaryOperator::Plus => Some(Operator::Plus),
            BinaryOperator::Minus => Some(Operator::Minus),
            _ => None,
        };
        if let Some(e) = op.and_then(|op| null_beside_datetime(&expr.left, op, &expr.right, schema))
        {
            return Ok(PlannerResult::Planned(e));
        }
        Ok(PlannerResult::Original(
            match cast_operands(kind, &expr.left, &expr.right, schema) {
                Some((left, right)) => RawBinaryExpr {
                    op: expr.op,
                    left,
                    right,
                },
                None => expr,
            },
        ))
    }

    fn plan_aggregate(
        &self,
        mut expr: RawAggregateExpr,
    ) -> Result<PlannerResult<RawAggregateExpr>> {
        // The planner is given no schema here: only literals have a type.
        if boolean_aggregate(expr.func.name()) {
            let empty = DFSchema::empty();
            expr.args = expr
                .args
                .into_iter()
                .map(|a| match &a {
                    Expr::Literal(v, _) if is_string(&v.data_type()) => {
                        cast_to(a, &DataType::Boolean, &empty)
                    }
                    _ => a,
                })
                .collect();
        }
        Ok(PlannerResult::Original(expr))
    }
}

fn boolean_aggregate(name: &str) -> bool {
    matches!(name, "bool_and" | "bool_or")
}

/// Casts every expression of `exprs` to their Spark common type, when it
/// is modelled and the types differ; `compare` limits that to the cases
/// where a comparison's outcome can differ from DataFusion's.
fn unify(exprs: Vec<Expr>, schema: &DFSchema, compare: bool) -> (Vec<Expr>, bool) {
    let refs: Vec<&Expr> = exprs.iter().collect();
    let Some((common, types)) = common_type(&refs, schema) else {
        return (exprs, false);
    };
    let real: Vec<DataType> = exprs
        .iter()
        .map(|e| e.get_type(schema).unwrap_or(DataType::Null))
        .collect();
    let same = real.iter().all(|t| t == &common || t.is_null());
    if same || common.is_null() || (compare && !comparison_differs(&types)) {
        return (exprs, false);
    }
    let out = exprs
        .into_iter()
        .map(|e| {
            if matches!(e, Expr::Literal(ScalarValue::Null, _)) {
                e
            } else {
                cast_to(e, &common, schema)
            }
        })
        .collect();
    (out, true)
}

fn coerce_case(case: Case, schema: &DFSchema) -> Transformed<Expr> {
    let Case {
        expr,
        when_then_expr,
        else_expr,
    } = case;
    let (whens, thens): (Vec<Expr>, Vec<Expr>) =
        when_then_expr.into_iter().map(|(w, t)| (*w, *t)).unzip();
    // The results: their common type, as Spark's CASE has one type.
    let mut results = thens;
    let has_else = else_expr.is_some();
    results.extend(else_expr.map(|e| *e));
    let (mut results, results_changed) = unify(results, schema, false);
    let else_expr = if has_else {
        results.pop().map(Box::new)
    } else {
        None
    };
    // `CASE x WHEN v ...` compares x with each v.
    let (expr, whens, operand_changed) = match expr {
        Some(x) => {
            let mut all = vec![*x];
            all.extend(whens);
            let (mut all, changed) = unify(all, schema, true);
            let x = all.remove(0);
            (Some(Box::new(x)), all, changed)
        }
        None => (None, whens, false),
    };
    let case = Expr::Case(Case {
        expr,
        when_then_expr: whens
            .into_iter()
            .zip(results)
            .map(|(w, t)| (Box::new(w), Box::new(t)))
            .collect(),
        else_expr,
    });
    if results_changed || operand_changed {
        Transformed::yes(case)
    } else {
        Transformed::no(case)
    }
}

fn coerce_in_list(list: InList, schema: &DFSchema) -> Transformed<Expr> {
    let InList {
        expr,
        list,
        negated,
    } = list;
    let mut all = vec![*expr];
    all.extend(list);
    let (mut all, changed) = unify(all, schema, true);
    let expr = all.remove(0);
    let e = Expr::InList(InList::new(Box::new(expr), all, negated));
    if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    }
}

fn coerce_between(between: Between, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Between {
        expr,
        negated,
        low,
        high,
    } = between;
    let (all, changed) = unify(vec![*expr, *low, *high], schema, true);
    let Ok::<[Expr; 3], _>([expr, low, high]) = all.try_into() else {
        return internal_err!("spark_type_coercion: BETWEEN lost an operand");
    };
    let e = Expr::Between(Between::new(
        Box::new(expr),
        negated,
        Box::new(low),
        Box::new(high),
    ));
    Ok(if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    })
}

fn coerce_scalar_function(f: ScalarFunction, schema: &DFSchema) -> Transformed<Expr> {
    // Which arguments are results of one common type.
    let from = match f.func.name() {
        "coalesce" | "nvl" | "make_array" | "array" => 0,
        "nvl2" | "if" => 1,
        // Spark's GREATEST and LEAST widen numbers but take no strings.
        "greatest" | "least" => {
            let numbers = f.args.iter().all(|a| {
                a.get_type(schema)
                    .is_ok_and(|t| is_numeric(&t) || t.is_null())
            });
            if !numbers {
                return Transformed::no(Expr::ScalarFunction(f));
            }
            0
        }
        _ => return Transformed::no(Expr::ScalarFunction(f)),
    };
    let ScalarFunction { func, mut args } = f;
    if args.len() <= from {
        return Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args }));
    }
    let tail = args.split_off(from);
    let (tail, changed) = unify(tail, schema, false);
    args.extend(tail);
    let e = Expr::ScalarFunction(ScalarFunction { func, args });
    if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    }
}

fn coerce_aggregate(mut f: AggregateFunction, schema: &DFSchema) -> Transformed<Expr> {
    // `every('true')`: Spark casts a string argument of a boolean aggregate.
    if !boolean_aggregate(f.func.name()) {
        return Transformed::no(Expr::AggregateFunction(f));
    }
    let mut changed = false;
    f.params.args = std::mem::take(&mut f.params.args)
        .into_iter()
        .map(|a| match a.get_type(schema) {
            Ok(t) if is_string(&t) => {
                changed = true;
                cast_to(a, &DataType::Boolean, schema)
            }
            _ => a,
        })
        .collect();
    let e = Expr::AggregateFunction(f);
    if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    }
}

#[cfg(test)]
mod tests {
    use arrow::util::display::{ArrayFormatter, FormatOptions};

    /// Runs `sql` (statements split on `;`) through Kiln's parse path and
    /// session; the last statement's result types and rows, or the error.
    pub(crate) async fn run(sql: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let conf =
            crate::config::EngineConf::parse(&Default::default()).map_err(|e| e.to_string())?;
        let config = conf.session_config(2).map_err(|e| e.to_string())?;
        let runtime = crate::config::runtime_env(None, None).map_err(|e| e.to_string())?;
        let ctx = crate::config::spark_session(config, runtime);
        let mut out = (vec![], vec![]);
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            for mut js in crate::sql::parse_job(stmt, "spark", "test").map_err(|e| e.to_string())? {
                crate::sql::prepare(&mut js.statement, &Default::default());
                let plan = ctx
                    .state()
                    .statement_to_plan(js.statement)
                    .await
                    .map_err(|e| e.to_string())?;
                let df = ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(|e| e.to_string())?;
                let physical = df.create_physical_plan().await.map_err(|e| e.to_string())?;
                let types = physical
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.data_type().to_string())
                    .collect();
                let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut rows = vec![];
                let opts = FormatOptions::default().with_null("NULL");
                for b in &batches {
                    let fmts: Vec<_> = b
                        .columns()
                        .iter()
                        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
                        .collect();
                    for i in 0..b.num_rows() {
                        rows.push(
                            fmts.iter()
                                .map(|f| f.value(i).to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                }
                out = (types, rows);
            }
        }
        Ok(out)
    }

    async fn ok(sql: &str) -> (Vec<String>, Vec<String>) {
        match run(sql).await {
            Ok(r) => r,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    // Spark 4.2.1: `VALUES (0.0), (double('NaN'))` is a DOUBLE column of
    // 0.0 and NaN; so are a UNION, a CASE, COALESCE, IN and `=` of a
    // DECIMAL and a DOUBLE.
    #[tokio::test]
    async fn a_decimal_beside_a_double_is_a_double() {
        let (t, r) = ok("VALUES (0.0), (double('NaN'))").await;
        assert_eq!((t, r), (strs(&["Float64"]), strs(&["0.0", "NaN"])));
        let (t, r) = ok("SELECT 1.5 UNION ALL SELECT double('NaN')").await;
        assert_eq!((t, r), (strs(&["Float64"]), strs(&["1.5", "NaN"])));
        let (t, r) = ok("SELECT case when true then 1.5 else double('NaN') end, \
             coalesce(1.5, double('NaN')), if(true, 1.5, double('2')), greatest(1.5, double('2'))")
        .await;
        assert_eq!(t, strs(&["Float64"; 4]));
        assert_eq!(r, strs(&["1.5,1.5,1.5,2.0"]));
        let (_, r) = ok(
            "SELECT double('NaN') in (1.5, 2.5), 1.5 in (double('NaN'), 2.5), \
             1.5 = double('NaN'), 1.5 between double('1') and 2",
        )
        .await;
        assert_eq!(r, strs(&["false,false,false,true"]));
        // A FLOAT with a DECIMAL or an integer is a DOUBLE too.
        let (t, _) = ok("SELECT 1.5 + float('1.6'), 1L + float(1), coalesce(1L, float(1))").await;
        assert_eq!(t, strs(&["Float64"; 3]));
        let (t, _) = ok("SELECT x FROM VALUES (cast(1 as decimal(20,2))), (double(2)) t(x)").await;
        assert_eq!(t, strs(&["Float64"]));
    }

    // Spark 4.2.1: DECIMAL(30,10) with DECIMAL(30,0) is DECIMAL(38,8),
    // DECIMAL(38,0) with 1.5 is DECIMAL(38,0); coalesce(1, 1.5) is a
    // DECIMAL(11,1) (1 is an INT).
    #[tokio::test]
    async fn wider_decimals_keep_the_integral_digits() {
        let (t, _) = ok("SELECT x FROM (SELECT cast(1 as decimal(30,10)) x \
             UNION ALL SELECT cast(1 as decimal(30,0)))")
        .await;
        assert_eq!(t, strs(&["Decimal128(38, 8)"]));
        let (t, _) = ok("SELECT coalesce(cast(1 as decimal(38,0)), 1.5), coalesce(1, 1.5)").await;
        assert_eq!(t, strs(&["Decimal128(38, 0)", "Decimal128(11, 1)"]));
    }

    // Spark 4.2.1 (ANSI): `'1' + 1` is BIGINT 2, `'1.5' + 1` fails casting
    // '1.5' to BIGINT, `'1' * 2.5` is DOUBLE 2.5, `'1' / 1` DOUBLE 1.0,
    // `'1' div 2` BIGINT 0; a string compared with a number is that number
    // type (`'1.50' = 1.5` is true); `'true' = true`, `'true' AND true`.
    #[tokio::test]
    async fn strings_are_cast_to_the_other_operand() {
        let (t, r) =
            ok("SELECT '1' + 1, '1' * 2.5, '1' / 1, '1' % 2, '1' div 2, '1' + float(1)").await;
        assert_eq!(
            t,
            strs(&["Int64", "Float64", "Float64", "Int64", "Int64", "Float64"])
        );
        assert_eq!(r, strs(&["2,2.5,1.0,1,0,2.0"]));
        let e = run("SELECT '1.5' + 1").await.unwrap_err();
        assert!(e.contains("1.5") && e.contains("Int64"), "{e}");
        let (_, r) = ok(
            "SELECT '1.50' = 1.5, '1' = 1L, 'true' = true, 'true' AND true, \
             '1' < 1.5, '1' in (1.5) AS a, 1.5 in ('1.5', 2) AS b, '1' between 0 and 2.5",
        )
        .await;
        assert_eq!(r, strs(&["true,true,true,true,true,false,true,true"]));
        let (t, r) = ok("SELECT every('true'), bool_or('false')").await;
        assert_eq!((t, r), (strs(&["Boolean"; 2]), strs(&["true,false"])));
    }

    // Spark 4.2.1: a string beside a DATE or TIMESTAMP is one
    // (date.sql.out: `'2001-10-01' - date '2001-09-28'`; timestamp.sql.out:
    // `timestamp'2019-10-06 10:11:12.345678' - '2011-11-11 11:11:11'`).
    #[tokio::test]
    async fn strings_beside_dates_and_timestamps_are_cast_to_them() {
        let (t, _) = ok("SELECT '2001-10-01' - date '2001-09-28'").await;
        assert_eq!(t, strs(&["Duration(µs)"]));
        ok("SELECT timestamp'2019-10-06 10:11:12.345678' - '2011-11-11 11:11:11'").await;
        let (_, r) = ok("SELECT date '2001-10-01' = '2001-10-01', \
             '2001-10-01' > date '2001-09-28', timestamp '2001-10-01 00:00:00' = '2001-10-01'")
        .await;
        assert_eq!(r, strs(&["true,true,true"]));
        let (t, _) =
            ok("SELECT x FROM (SELECT date'2001-01-01' x UNION ALL SELECT '2001-01-02')").await;
        assert_eq!(t, strs(&["Date32"]));
    }

    // Spark 4.2's golden answers (sql-tests cast.sql, date.sql,
    // string-functions.sql): strings are trimmed before a cast, a TIME casts
    // to its seconds, two dates subtract into a day-time interval, a NULL
    // beside a date is a NULL of Spark's type.
    #[tokio::test]
    async fn casts_and_operands_as_spark_has_them() {
        let (_, r) = ok(
            "SELECT CAST(' 1\t' AS TINYINT), CAST('\t\t true \n\r ' AS BOOLEAN), \
             CAST('1.0 ' AS DECIMAL(10,0)), TRY_CAST(' 2 ' AS INT)",
        )
        .await;
        assert_eq!(r, strs(&["1,true,1,2"]));
        let (_, r) = ok("SELECT CAST(TIME '00:01:52' AS INT), CAST(TIME '23:59:59' AS BIGINT), \
             CAST(TIME '23:59:59.9' AS DECIMAL(6, 0)), CAST(TIME '23:59:59.999999999' AS DECIMAL(14, 9)), \
             CAST(TIME '00:00:17.9' AS INT)")
        .await;
        assert_eq!(r, strs(&["112,86399,86400,86399.999999000,17"]));
        let (t, r) = ok("SELECT date'2011-11-11' + null, date'2011-11-11' - null AS d").await;
        assert_eq!(t, strs(&["Timestamp(µs)", "Duration(µs)"]));
        assert_eq!(r, strs(&["NULL,NULL"]));
        let (t, _) = ok("SELECT date '2001-10-01' - date '2001-09-28'").await;
        assert_eq!(t, strs(&["Duration(µs)"]));
    }

    // Spark 4.2.1: coalesce(1.5, '2') and CASE '1' / 1.5 are DOUBLE,
    // if(true, '1', 2) and nvl('1', 2) BIGINT; UNION of 1.5 and '2' is
    // DOUBLE, of true and 'true' BOOLEAN.
    #[tokio::test]
    async fn branches_of_a_string_and_a_number_are_the_number() {
        let (t, _) = ok(
            "SELECT coalesce(1.5, '2'), case when true then '1' else 1.5 end, \
             if(true, '1', 2), nvl('1', 2)",
        )
        .await;
        assert_eq!(t, strs(&["Float64", "Float64", "Int64", "Int64"]));
        let (t, _) = ok("SELECT x FROM (SELECT 1.5 x UNION ALL SELECT '2')").await;
        assert_eq!(t, strs(&["Float64"]));
        let (t, r) = ok("SELECT x FROM (SELECT true x UNION ALL SELECT 'true')").await;
        assert_eq!((t, r), (strs(&["Boolean"]), strs(&["true", "true"])));
    }

    // Both plans ran in-process before; through Spark Connect their results
    // failed ("expected Decimal128(10, 0) but found Decimal128(11, 0)")
    // because the server labelled them with the types of the plan as first
    // built, not as analyzed. Here: the analyzed types are Spark's.
    // A UNION of DECIMAL(10,0) and DECIMAL(11,0) is
    // DECIMAL(11,0) (Spark 4.2.1: 1 and 2); conditional-functions:
    // `case when 1 < 2 then 1 else 1/0 end` is the DOUBLE 1.0.
    #[tokio::test]
    async fn results_have_the_analyzed_types() {
        let (t, r) = ok("CREATE TEMPORARY VIEW t3 AS VALUES (decimal(1)) tbl(v); \
             SELECT t.v FROM (SELECT v FROM t3 UNION ALL SELECT v + v AS v FROM t3) t")
        .await;
        assert_eq!((t, r), (strs(&["Decimal128(11, 0)"]), strs(&["1", "2"])));
        let (t, r) = ok("SELECT case when 1 < 2 then 1 else 1/0 end").await;
        assert_eq!((t, r), (strs(&["Float64"]), strs(&["1.0"])));
    }

    #[test]
    fn the_rule_runs_before_datafusions_type_coercion() {
        let conf = crate::config::EngineConf::parse(&Default::default()).unwrap();
        let ctx = crate::config::spark_session(
            conf.session_config(1).unwrap(),
            crate::config::runtime_env(None, None).unwrap(),
        );
        let names: Vec<_> = ctx
            .state()
            .analyzer()
            .rules
            .iter()
            .map(|r| r.name().to_string())
            .collect();
        let ours = names.iter().position(|n| n == "spark_type_coercion");
        let theirs = names.iter().position(|n| n == "type_coercion");
        assert!(ours.is_some() && ours < theirs, "{names:?}");
        assert!(
            names.iter().any(|n| n == "resolve_grouping_function"),
            "{names:?}"
        );
    }
}
