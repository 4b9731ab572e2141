//! Connect expressions to DataFusion expressions, resolved against the input
//! plan's schema as Spark resolves them (case-insensitive names, plan ids
//! for `df.col` references, ambiguity errors), with the column names Spark
//! gives unaliased expressions (`sum(x)`, `(a + 1)`, `count(1)`).

use std::collections::HashMap;

use arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{
    binary_expr, cast, lit, try_cast, when, Expr, ExprFunctionExt, ExprSchemable, Like, Operator,
    SortExpr, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};

use crate::error::{ConnectError, Result};
use crate::proto::expression::{self as pe, ExprType};
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
    let mut names: Vec<String> = fields.iter().map(|(_, n)| quote(n)).collect();
    names.dedup();
    Err(ConnectError::Analysis {
        class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        message: format!(
            "A column, variable, or function parameter with name {} cannot be resolved. \
             Did you mean one of the following? [{}].",
            quote(&parts.join(".")),
            suggestions(&parts.join("."), &names).join(", ")
        ),
    })
}

/// The names closest to `name` (by edit distance), as Spark suggests them.
fn suggestions(name: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| {
            (
                edit_distance(&name.to_lowercase(), &n.trim_matches('`').to_lowercase()),
                n,
            )
        })
        .collect();
    scored.sort_by_key(|(d, _)| *d);
    scored.into_iter().take(5).map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn required_box<'a, T>(x: &'a Option<Box<T>>, what: &str) -> Result<&'a T> {
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

/// Spark's text of a literal in a column name.
fn literal_name(l: &pe::Literal) -> String {
    use pe::literal::LiteralType as L;
    match &l.literal_type {
        None | Some(L::Null(_)) => "NULL".into(),
        Some(L::Boolean(b)) => b.to_string(),
        Some(L::Byte(v) | L::Short(v) | L::Integer(v)) => v.to_string(),
        Some(L::Long(v)) => v.to_string(),
        Some(L::Float(v)) => format!("{v:?}"),
        Some(L::Double(v)) => format!("{v:?}"),
        Some(L::Decimal(d)) => d.value.clone(),
        Some(L::String(s)) => s.clone(),
        Some(other) => match literal(l) {
            Ok(v) => v.to_string(),
            Err(_) => format!("{:?}", std::mem::discriminant(other)),
        },
    }
}

const BINARY_OPS: &[(&str, Operator, &str)] = &[
    ("==", Operator::Eq, "="),
    ("!=", Operator::NotEq, "!="),
    ("<>", Operator::NotEq, "<>"),
    ("<", Operator::Lt, "<"),
    ("<=", Operator::LtEq, "<="),
    (">", Operator::Gt, ">"),
    (">=", Operator::GtEq, ">="),
    ("<=>", Operator::IsNotDistinctFrom, "<=>"),
    ("+", Operator::Plus, "+"),
    ("-", Operator::Minus, "-"),
    ("*", Operator::Multiply, "*"),
    ("%", Operator::Modulo, "%"),
    ("and", Operator::And, "AND"),
    ("or", Operator::Or, "OR"),
    ("&", Operator::BitwiseAnd, "&"),
    ("|", Operator::BitwiseOr, "|"),
    ("^", Operator::BitwiseXor, "^"),
];

/// Spark's name for the result column of `e` when it has no alias.
pub fn spark_name(e: &Expression) -> String {
    match &e.expr_type {
        Some(ExprType::Literal(l)) => literal_name(l),
        Some(ExprType::UnresolvedAttribute(a)) => parse_identifier(&a.unparsed_identifier)
            .ok()
            .and_then(|p| p.last().cloned())
            .unwrap_or_else(|| a.unparsed_identifier.clone()),
        Some(ExprType::Alias(a)) => a.name.join("."),
        Some(ExprType::ExpressionString(s)) => s.expression.clone(),
        Some(ExprType::UnresolvedStar(_)) => "*".into(),
        Some(ExprType::Cast(c)) => {
            let t = match &c.cast_to_type {
                Some(pe::cast::CastToType::Type(t)) => types::from_spark(t)
                    .map(|t| types::simple_string(&t).to_ascii_uppercase())
                    .unwrap_or_default(),
                Some(pe::cast::CastToType::TypeStr(s)) => types::parse_type(s)
                    .map(|t| types::simple_string(&t).to_ascii_uppercase())
                    .unwrap_or_else(|_| s.to_ascii_uppercase()),
                None => String::new(),
            };
            let inner = c.expr.as_deref().map(spark_name).unwrap_or_default();
            format!("CAST({inner} AS {t})")
        }
        Some(ExprType::UnresolvedFunction(f)) => function_name(f),
        Some(ExprType::SortOrder(s)) => s.child.as_deref().map(spark_name).unwrap_or_default(),
        Some(ExprType::Window(w)) => {
            let f = w
                .window_function
                .as_deref()
                .map(spark_name)
                .unwrap_or_default();
            format!("{f} OVER (...)")
        }
        Some(ExprType::CommonInlineUserDefinedFunction(f)) => crate::udf::column_name(f),
        Some(ExprType::UnresolvedExtractValue(x)) => format!(
            "{}[{}]",
            x.child.as_deref().map(spark_name).unwrap_or_default(),
            x.extraction.as_deref().map(spark_name).unwrap_or_default()
        ),
        _ => "col".into(),
    }
}

fn function_name(f: &pe::UnresolvedFunction) -> String {
    let args: Vec<String> = f.arguments.iter().map(spark_name).collect();
    let name = f.function_name.as_str();
    if let Some((_, _, sym)) = BINARY_OPS.iter().find(|(n, _, _)| *n == name) {
        if args.len() == 2 {
            return format!("({} {sym} {})", args[0], args[1]);
        }
    }
    match (name, args.as_slice()) {
        ("/", [a, b]) => format!("({a} / {b})"),
        ("not", [a]) => format!("(NOT {a})"),
        ("negative", [a]) => format!("(- {a})"),
        ("isNull" | "isnull", [a]) => format!("({a} IS NULL)"),
        ("isNotNull" | "isnotnull", [a]) => format!("({a} IS NOT NULL)"),
        ("in", [a, rest @ ..]) => format!("({a} IN ({}))", rest.join(", ")),
        ("like" | "rlike" | "ilike", [a, b]) => {
            format!("{} {name} {b}", a)
        }
        ("when", _) => {
            let mut s = "CASE".to_string();
            let mut it = args.chunks(2);
            for pair in &mut it {
                match pair {
                    [c, v] => s.push_str(&format!(" WHEN {c} THEN {v}")),
                    [e] => s.push_str(&format!(" ELSE {e}")),
                    _ => {}
                }
            }
            s.push_str(" END");
            s
        }
        ("count", [star]) if star == "*" => "count(1)".into(),
        _ => {
            let display = match name {
                "mean" => "avg",
                other => other,
            };
            if f.is_distinct {
                format!("{display}(DISTINCT {})", args.join(", "))
            } else {
                format!("{display}({})", args.join(", "))
            }
        }
    }
}

/// Spark's function names that DataFusion spells differently.
fn df_function_name(spark: &str) -> &str {
    match spark {
        "mean" => "avg",
        "collect_list" => "array_agg",
        "size" | "cardinality" => "cardinality",
        "length" | "char_length" | "character_length" => "character_length",
        "stddev_samp" | "std" => "stddev",
        "variance" | "var_samp" => "var_samp",
        "countDistinct" | "count_distinct" => "count",
        "ucase" => "upper",
        "lcase" => "lower",
        "ceiling" => "ceil",
        "dayofmonth" | "day" => "day",
        "instr" => "strpos",
        "pow" => "power",
        "ifnull" => "nvl",
        "array_contains" => "array_has",
        other => other,
    }
}

const DATE_PARTS: &[(&str, &str)] = &[
    ("year", "year"),
    ("month", "month"),
    ("day", "day"),
    ("dayofmonth", "day"),
    ("hour", "hour"),
    ("minute", "minute"),
    ("second", "second"),
    ("quarter", "quarter"),
    ("dayofyear", "doy"),
    ("weekofyear", "week"),
];

/// Converts `e`, whose result may be a list (a `*`), against `scope`.
pub fn to_exprs(e: &Expression, scope: &Scope) -> Result<Vec<Expr>> {
    if let Some(ExprType::UnresolvedStar(s)) = &e.expr_type {
        return star(s, scope);
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
        ExprType::ExpressionString(s) => Ok(scope
            .state
            .create_logical_expr(&s.expression, scope.schema)?),
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
        ExprType::UnresolvedFunction(f) => function(f, scope),
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
        ExprType::Window(w) => window(w, scope),
        ExprType::SortOrder(_) => Err(ConnectError::analysis(
            "a sort order is only allowed in orderBy/sort or a window's orderBy",
        )),
        ExprType::UnresolvedRegex(_) => Err(ConnectError::Unsupported("colRegex".into())),
        ExprType::LambdaFunction(_) | ExprType::UnresolvedNamedLambdaVariable(_) => Err(
            ConnectError::Unsupported("lambda functions (higher-order functions)".into()),
        ),
        ExprType::CommonInlineUserDefinedFunction(f) => crate::udf::udf_expr(f, scope),
        _ => Err(ConnectError::Unsupported(format!(
            "the expression {}",
            spark_name(e)
        ))),
    }
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

fn args_of(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Vec<Expr>> {
    f.arguments
        .iter()
        .map(|a| match &a.expr_type {
            // count(*) counts rows.
            Some(ExprType::UnresolvedStar(s)) if s.unparsed_target.is_none() => Ok(lit(1i64)),
            _ => to_expr(a, scope),
        })
        .collect()
}

fn is_decimal(e: &Expr, scope: &Scope) -> bool {
    matches!(
        e.get_type(scope.schema),
        Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
    )
}

fn function(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Expr> {
    let name = f.function_name.as_str();
    let mut args = args_of(f, scope)?;
    if let Some((_, op, _)) = BINARY_OPS.iter().find(|(n, _, _)| *n == name) {
        let [l, r] = <[Expr; 2]>::try_from(std::mem::take(&mut args))
            .map_err(|_| ConnectError::IllegalArgument(format!("`{name}` takes two arguments")))?;
        return Ok(binary_expr(l, *op, r));
    }
    let one = |args: Vec<Expr>| -> Result<Expr> {
        <[Expr; 1]>::try_from(args)
            .map(|[a]| a)
            .map_err(|_| ConnectError::IllegalArgument(format!("`{name}` takes one argument")))
    };
    let two = |args: Vec<Expr>| -> Result<(Expr, Expr)> {
        <[Expr; 2]>::try_from(args)
            .map(|[a, b]| (a, b))
            .map_err(|_| ConnectError::IllegalArgument(format!("`{name}` takes two arguments")))
    };
    match name {
        "/" => {
            let (l, r) = two(args)?;
            // Spark: `/` of non-decimals is a double division.
            if is_decimal(&l, scope) || is_decimal(&r, scope) {
                return Ok(binary_expr(l, Operator::Divide, r));
            }
            return Ok(binary_expr(
                cast(l, DataType::Float64),
                Operator::Divide,
                cast(r, DataType::Float64),
            ));
        }
        "not" => return Ok(!one(args)?),
        "negative" => return Ok(Expr::Negative(Box::new(one(args)?))),
        "isNull" | "isnull" => return Ok(one(args)?.is_null()),
        "isNotNull" | "isnotnull" => return Ok(one(args)?.is_not_null()),
        "isNaN" | "isnan" => {
            return Ok(datafusion::functions::math::expr_fn::isnan(one(args)?));
        }
        "in" => {
            if args.is_empty() {
                return Err(ConnectError::IllegalArgument("`in` needs a value".into()));
            }
            let v = args.remove(0);
            return Ok(v.in_list(args, false));
        }
        "like" | "ilike" | "rlike" | "regexp" | "regexp_like" => {
            let (l, r) = two(args)?;
            return Ok(match name {
                "like" => Expr::Like(Like::new(false, Box::new(l), Box::new(r), None, false)),
                "ilike" => Expr::Like(Like::new(false, Box::new(l), Box::new(r), None, true)),
                _ => binary_expr(l, Operator::RegexMatch, r),
            });
        }
        "when" => {
            let mut pairs = args.chunks_exact(2);
            let Some([c, v]) = pairs.next() else {
                return Err(ConnectError::IllegalArgument(
                    "`when` needs a condition and a value".into(),
                ));
            };
            let mut builder = when(c.clone(), v.clone());
            for pair in &mut pairs {
                builder = builder.when(pair[0].clone(), pair[1].clone());
            }
            return Ok(match pairs.remainder() {
                [e] => builder.otherwise(e.clone())?,
                _ => builder.end()?,
            });
        }
        "startswith" => {
            let (l, r) = two(args)?;
            return Ok(datafusion::functions::string::expr_fn::starts_with(l, r));
        }
        "endswith" => {
            let (l, r) = two(args)?;
            return Ok(datafusion::functions::string::expr_fn::ends_with(l, r));
        }
        "contains" => {
            let (l, r) = two(args)?;
            return Ok(datafusion::functions::expr_fn::contains(l, r));
        }
        "substr" | "substring" if args.len() == 3 => {}
        _ => {}
    }
    if let Some((_, part)) = DATE_PARTS.iter().find(|(n, _)| *n == name) {
        let a = one(args)?;
        // Spark returns these as int.
        return Ok(cast(
            datafusion::functions::datetime::expr_fn::date_part(lit(*part), a),
            DataType::Int32,
        ));
    }
    let df_name = df_function_name(name);
    let distinct = f.is_distinct || matches!(name, "countDistinct" | "count_distinct");
    if let Ok(udaf) = scope.state.udaf(df_name) {
        let agg = Expr::AggregateFunction(AggregateFunction::new_udf(
            udaf,
            args,
            distinct || name == "collect_set",
            None,
            vec![],
            None,
        ));
        // Spark's count is bigint, as DataFusion's; collect_set is a distinct array_agg.
        return Ok(agg);
    }
    if name == "collect_set" {
        if let Ok(udaf) = scope.state.udaf("array_agg") {
            return Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
                udaf,
                args,
                true,
                None,
                vec![],
                None,
            )));
        }
    }
    if let Ok(udf) = scope.state.udf(df_name) {
        let e = Expr::ScalarFunction(ScalarFunction::new_udf(udf, args));
        // Spark's floor/ceil of a double are bigint.
        if matches!(name, "floor" | "ceil" | "ceiling") {
            return Ok(cast(e, DataType::Int64));
        }
        return Ok(e);
    }
    if let Ok(udwf) = scope.state.udwf(df_name) {
        return Ok(Expr::from(WindowFunction::new(
            WindowFunctionDefinition::WindowUDF(udwf),
            args,
        )));
    }
    Err(ConnectError::Analysis {
        class: "UNRESOLVED_ROUTINE",
        message: format!("function `{name}` is not supported by Kiln"),
    })
}

fn frame_bound(
    b: &pe::window::window_frame::FrameBoundary,
    lower: bool,
    scope: &Scope,
) -> Result<WindowFrameBound> {
    use pe::window::window_frame::frame_boundary::Boundary;
    Ok(match &b.boundary {
        Some(Boundary::CurrentRow(true)) => WindowFrameBound::CurrentRow,
        Some(Boundary::Value(v)) => {
            let e = to_expr(v, scope)?;
            let Expr::Literal(value, _) = e else {
                return Err(ConnectError::Unsupported(
                    "a window frame bound that is not a literal".into(),
                ));
            };
            let n = match value {
                ScalarValue::Int32(Some(n)) => i64::from(n),
                ScalarValue::Int64(Some(n)) => n,
                other => {
                    return Err(ConnectError::IllegalArgument(format!(
                        "window frame bound {other}"
                    )))
                }
            };
            if n == 0 {
                WindowFrameBound::CurrentRow
            } else if n < 0 {
                WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n.unsigned_abs())))
            } else {
                WindowFrameBound::Following(ScalarValue::UInt64(Some(n as u64)))
            }
        }
        _ if lower => WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
        _ => WindowFrameBound::Following(ScalarValue::UInt64(None)),
    })
}

fn window(w: &pe::Window, scope: &Scope) -> Result<Expr> {
    let func = to_expr(
        required_box(&w.window_function, "the window function")?,
        scope,
    )?;
    let partition_by = w
        .partition_spec
        .iter()
        .map(|p| to_expr(p, scope))
        .collect::<Result<Vec<_>>>()?;
    let order_by = w
        .order_spec
        .iter()
        .map(|o| sort_expr(o, scope))
        .collect::<Result<Vec<_>>>()?;
    let frame = match &w.frame_spec {
        Some(f) => {
            let units = if f.frame_type == pe::window::window_frame::FrameType::Range as i32 {
                WindowFrameUnits::Range
            } else {
                WindowFrameUnits::Rows
            };
            let lower = frame_bound(
                required_box(&f.lower, "the frame's lower bound")?,
                true,
                scope,
            )?;
            let upper = frame_bound(
                required_box(&f.upper, "the frame's upper bound")?,
                false,
                scope,
            )?;
            Some(WindowFrame::new_bounds(units, lower, upper))
        }
        None => None,
    };
    let def = match func {
        Expr::AggregateFunction(a) => (
            WindowFunctionDefinition::AggregateUDF(a.func),
            a.params.args,
        ),
        Expr::WindowFunction(wf) => (wf.fun, wf.params.args),
        other => {
            return Err(ConnectError::analysis(format!(
                "{other} is not a window or aggregate function"
            )))
        }
    };
    let mut builder = Expr::from(WindowFunction::new(def.0, def.1)).partition_by(partition_by);
    // An empty ORDER BY would give a RANGE frame that DataFusion refuses
    // without sort keys: a window without orderBy is the whole partition.
    if !order_by.is_empty() {
        builder = builder.order_by(order_by.clone());
    }
    // Spark's default frame: the whole partition without ORDER BY, up to the
    // current row (RANGE) with it; DataFusion's defaults are the same.
    if let Some(frame) = frame {
        builder = builder.window_frame(frame);
    }
    Ok(builder.build()?)
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
pub fn named(e: &Expression, converted: Expr) -> Expr {
    match (&e.expr_type, &converted) {
        (Some(ExprType::Alias(_)), _) | (_, Expr::Column(_)) | (_, Expr::Alias(_)) => converted,
        (Some(ExprType::ExpressionString(_)), _) => converted,
        _ => converted.alias(spark_name(e)),
    }
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

    #[test]
    fn suggests_the_nearest_names() {
        let names = vec![
            "`amount`".to_string(),
            "`id`".to_string(),
            "`name`".to_string(),
        ];
        assert_eq!(suggestions("amout", &names)[0], "`amount`");
    }
}
