//! Spark function calls of Connect expressions (`UnresolvedFunction`):
//! operators and special forms Spark parses itself (`when`, `in`, `like`,
//! `/`), and the rest looked up by name in the session's function registry
//! (Spark's functions, `kiln_functions`), with the client's spellings and
//! argument conventions mapped onto it. A name the registry lacks fails at
//! analysis with "function `<name>` is not supported by Kiln".

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{
    binary_expr, cast, lit, when, AggregateUDF, Expr, ExprSchemable, Like, Operator,
    WindowFunctionDefinition,
};

use crate::error::{ConnectError, Result};
use crate::names::spark_name;
use crate::proto::expression::{self as pe, ExprType};
use crate::scope::Scope;

/// The client's binary operators and DataFusion's.
const BINARY_OPS: &[(&str, Operator)] = &[
    ("==", Operator::Eq),
    ("!=", Operator::NotEq),
    ("<>", Operator::NotEq),
    ("<", Operator::Lt),
    ("<=", Operator::LtEq),
    (">", Operator::Gt),
    (">=", Operator::GtEq),
    ("<=>", Operator::IsNotDistinctFrom),
    ("+", Operator::Plus),
    ("-", Operator::Minus),
    ("*", Operator::Multiply),
    ("%", Operator::Modulo),
    ("and", Operator::And),
    ("or", Operator::Or),
    ("&", Operator::BitwiseAnd),
    ("|", Operator::BitwiseOr),
    ("^", Operator::BitwiseXor),
];

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
        "sign" => "signum",
        "array_size" => "array_length",
        "~" => "bitwise_not",
        "array_contains" => "array_has",
        "startswith" | "startsWith" => "starts_with",
        "endswith" | "endsWith" => "ends_with",
        "extract" => "date_part",
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

fn args_of(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Vec<Expr>> {
    let mut args = vec![];
    for a in &f.arguments {
        match &a.expr_type {
            // count(*) counts rows.
            Some(ExprType::UnresolvedStar(s))
                if s.unparsed_target.is_none() && f.function_name == "count" =>
            {
                args.push(lit(1i64))
            }
            Some(ExprType::ExpressionString(e))
                if e.expression.trim() == "*" && f.function_name == "count" =>
            {
                args.push(lit(1i64))
            }
            // Elsewhere `*` is every column: hash(*) is hash(c1, c2).
            Some(ExprType::UnresolvedStar(_)) => args.extend(scope.exprs(a)?),
            _ => args.push(scope.expr(a)?),
        }
    }
    Ok(args)
}

/// `udaf` over `args`, with no filter and no ordering.
fn plain_aggregate(
    udaf: Arc<AggregateUDF>,
    args: Vec<Expr>,
    distinct: bool,
    nulls: Option<NullTreatment>,
) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(
        udaf,
        args,
        distinct,
        None,
        vec![],
        nulls,
    ))
}

fn is_array(e: &Expr, scope: &Scope) -> bool {
    matches!(
        e.get_type(scope.schema),
        Ok(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
    )
}

fn is_decimal(e: &Expr, scope: &Scope) -> bool {
    matches!(
        e.get_type(scope.schema),
        Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
    )
}

/// The expression of a function call.
pub fn function(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Expr> {
    let name = f.function_name.as_str();
    if crate::lambda::has_lambda(f) {
        return crate::lambda::call(f, scope);
    }
    if name == "struct" {
        return struct_of(f, scope);
    }
    let resolve = |a: &crate::proto::Expression| scope.expr(a);
    if let Some(call) =
        crate::call_docs::document_function(f, scope.state, &resolve, crate::literal::literal)?
    {
        return Ok(call);
    }
    let args = args_of(f, scope)?;
    let mut args = match crate::collection::call(name, args, scope)? {
        Ok(done) => return Ok(done),
        Err(args) => args,
    };
    if let Some((_, op)) = BINARY_OPS.iter().find(|(n, _)| *n == name) {
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
    // nth_value's DataFusion form takes a BIGINT literal n.
    if name == "nth_value" {
        if let Some(Expr::Literal(v, _)) = args.get(1) {
            if let Ok(n) = v.cast_to(&DataType::Int64) {
                args[1] = lit(n);
            }
        }
    }
    // any_value(x) keeps NULLs unless told otherwise: first(x, false).
    if name == "any_value" && args.len() == 1 {
        args.push(lit(false));
    }
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
        // Constants of the session and of Spark's catalog.
        "e" if args.is_empty() => return Ok(lit(std::f64::consts::E)),
        "current_database" | "current_schema" if args.is_empty() => return Ok(lit("default")),
        "current_catalog" if args.is_empty() => return Ok(lit("spark_catalog")),
        "current_timezone" if args.is_empty() => {
            let tz = scope.state.config().options().execution.time_zone.clone();
            return Ok(lit(tz.unwrap_or_else(|| "UTC".into())));
        }
        // count_if(p) counts the rows where p is true.
        "count_if" => {
            let p = one(args)?;
            let count = scope.state.udaf("count")?;
            return Ok(plain_aggregate(
                count,
                vec![when(p, lit(1i64)).end()?],
                false,
                None,
            ));
        }
        "equal_null" => {
            let (l, r) = two(args)?;
            return Ok(binary_expr(l, Operator::IsNotDistinctFrom, r));
        }
        // A cast to its own type: the value, under a name of its own.
        "positive" => {
            let a = one(args)?;
            let t = a.get_type(scope.schema)?;
            return Ok(cast(a, t));
        }
        // locate(substr, str, pos): the 1-based position of substr in str
        // at or after pos, 0 when absent or when pos < 1.
        "locate" | "position" if args.len() == 2 || args.len() == 3 => {
            if args.len() == 2 {
                args.push(lit(1i64));
            }
            let [sub, s, pos] = <[Expr; 3]>::try_from(args).map_err(|_| {
                ConnectError::IllegalArgument("`locate` takes three arguments".into())
            })?;
            let pos = cast(pos, DataType::Int64);
            let tail = datafusion::functions::unicode::expr_fn::substr(s, pos.clone());
            let found = cast(
                datafusion::functions::unicode::expr_fn::strpos(tail, sub),
                DataType::Int64,
            );
            let at = when(pos.clone().lt(lit(1i64)), lit(0i64))
                .when(found.clone().eq(lit(0i64)), lit(0i64))
                .otherwise(found + pos - lit(1i64))?;
            return Ok(cast(at, DataType::Int32));
        }
        // levenshtein(l, r, threshold): -1 when the distance exceeds it.
        "levenshtein" if args.len() == 3 => {
            let t = args.pop().unwrap_or_else(|| lit(0i64));
            let d = cast(
                datafusion::functions::string::expr_fn::levenshtein(args.remove(0), args.remove(0)),
                DataType::Int64,
            );
            let capped = when(d.clone().gt(cast(t, DataType::Int64)), lit(-1i64)).otherwise(d)?;
            return Ok(cast(capped, DataType::Int32));
        }
        // ceil(x, scale) / floor(x, scale): rounded up or down at `scale`
        // decimal places.
        "ceil" | "ceiling" | "floor" if args.len() == 2 => {
            let (x, scale) = two(args)?;
            let factor = datafusion::functions::math::expr_fn::power(
                lit(10f64),
                cast(scale, DataType::Float64),
            );
            let scaled = cast(x, DataType::Float64) * factor.clone();
            let rounded = if name == "floor" {
                datafusion::functions::math::expr_fn::floor(scaled)
            } else {
                datafusion::functions::math::expr_fn::ceil(scaled)
            };
            return Ok(rounded / factor);
        }
        // trim(chars, str) as the client sends it: DataFusion's take the
        // string first.
        "trim" | "ltrim" | "rtrim" if args.len() == 2 => {
            let (chars, s) = two(args)?;
            let df = if name == "trim" { "btrim" } else { name };
            let udf = scope.state.udf(df)?;
            return Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                udf,
                vec![s, chars],
            )));
        }
        // reverse and concat of arrays are DataFusion's array functions.
        "reverse" | "concat" if args.first().is_some_and(|a| is_array(a, scope)) => {
            let df = if name == "reverse" {
                "array_reverse"
            } else {
                "array_concat"
            };
            let udf = scope.state.udf(df)?;
            // Spark's concat is NULL when any array is (DataFusion's skips it).
            let any_null = args.iter().map(|a| a.clone().is_null()).reduce(Expr::or);
            let call = Expr::ScalarFunction(ScalarFunction::new_udf(udf, args));
            return Ok(match any_null {
                Some(n) => when(n, lit(ScalarValue::Null)).otherwise(call)?,
                None => call,
            });
        }
        // replace(str, search): removes every `search`.
        "replace" if args.len() == 2 => args.push(lit("")),
        // nth_value(x, n, ignoreNulls): the flag's default, false, is
        // DataFusion's only form.
        "nth_value"
            if args.len() == 3
                && matches!(args[2], Expr::Literal(ScalarValue::Boolean(Some(false)), _)) =>
        {
            args.truncate(2);
        }
        // array_prepend(array, element): DataFusion's takes the element
        // first; both it and array_append add to a NULL array where Spark
        // answers NULL.
        "array_prepend" | "array_append" => {
            let (array, element) = two(args)?;
            let udf = scope.state.udf(name)?;
            let args = if name == "array_prepend" {
                vec![element, array.clone()]
            } else {
                vec![array.clone(), element]
            };
            let call = Expr::ScalarFunction(ScalarFunction::new_udf(udf, args));
            return Ok(when(array.is_null(), lit(ScalarValue::Null)).otherwise(call)?);
        }
        // array_position: 0 when the element is absent (DataFusion: NULL).
        "array_position" => {
            let (array, element) = two(args)?;
            let udf = scope.state.udf("array_position")?;
            let call =
                Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![array.clone(), element]));
            let found = datafusion::functions::core::expr_fn::coalesce(vec![
                cast(call, DataType::Int64),
                lit(0i64),
            ]);
            return Ok(when(array.is_null(), lit(ScalarValue::Int64(None))).otherwise(found)?);
        }
        // element_at of an array is DataFusion's array_element (1-based,
        // negative from the end).
        "element_at" if args.first().is_some_and(|a| is_array(a, scope)) => {
            let udf = scope.state.udf("array_element")?;
            return Ok(Expr::ScalarFunction(ScalarFunction::new_udf(udf, args)));
        }
        // element_at of a map: the value, not DataFusion's one-value list.
        "element_at" => {
            let (map, key) = two(args)?;
            let extract = scope.state.udf("map_extract")?;
            let values = Expr::ScalarFunction(ScalarFunction::new_udf(extract, vec![map, key]));
            let udf = scope.state.udf("array_element")?;
            return Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                udf,
                vec![values, lit(1i64)],
            )));
        }
        // max_by(x, y, k) / min_by(x, y, k): Kiln's aggregates of the names.
        "max_by" | "min_by" if args.len() == 3 => {
            let udaf = scope.state.udaf(name)?;
            return Ok(plain_aggregate(udaf, args, false, None));
        }
        // max_by(x, y) / min_by(x, y): x of the row with the largest or
        // smallest y, rows whose y is NULL left out.
        "max_by" | "min_by" => {
            let (x, y) = two(args)?;
            let udaf = scope.state.udaf("first_value")?;
            let order = y.clone().sort(name == "min_by", false);
            return Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
                udaf,
                vec![x],
                false,
                Some(Box::new(y.is_not_null())),
                vec![order],
                None,
            )));
        }
        // dayname(date): the three-letter English day name.
        "dayname" => {
            let udf = scope.state.udf("date_format")?;
            let date = cast(one(args)?, DataType::Date32);
            return Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                udf,
                vec![date, lit("EEE")],
            )));
        }
        // assert_true(cond): Spark's message names the condition.
        "assert_true" if args.len() == 1 => {
            let text = f
                .arguments
                .first()
                .map(|a| spark_name(a, scope))
                .unwrap_or_default();
            args.push(lit(format!("'{text}' is not true!")));
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
        // like(str, pattern, escape): the escape a one-character literal;
        // DataFusion runs only the backslash, Spark's default.
        "like" | "ilike" if args.len() == 3 => {
            let escape = match args.pop() {
                Some(Expr::Literal(ScalarValue::Utf8(Some(e)), _)) if e.chars().count() == 1 => e,
                _ => {
                    return Err(ConnectError::IllegalArgument(format!(
                        "`{name}`'s escape must be a one-character string literal"
                    )))
                }
            };
            if escape != "\\" {
                // DataFusion's LIKE runs only the backslash: Spark's like(str,
                // pattern, escape) function translates the pattern.
                args.push(lit(escape));
                let udf = scope.state.udf(name)?;
                return Ok(Expr::ScalarFunction(ScalarFunction::new_udf(udf, args)));
            }
            let (l, r) = two(args)?;
            return Ok(Expr::Like(Like::new(
                false,
                Box::new(l),
                Box::new(r),
                Some('\\'),
                name == "ilike",
            )));
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
        // `first(x, ignorenulls)` / `last(x, ignorenulls)`: the flag is a
        // literal of the call, DataFusion's is the null treatment.
        "first" | "last" | "first_value" | "last_value" | "any_value" if args.len() == 2 => {
            let ignore = matches!(&args[1], Expr::Literal(ScalarValue::Boolean(Some(true)), _));
            args.truncate(1);
            let udaf = scope
                .state
                .udaf(if name.starts_with("first") || name == "any_value" {
                    "first_value"
                } else {
                    "last_value"
                })?;
            return Ok(plain_aggregate(
                udaf,
                args,
                false,
                ignore.then_some(NullTreatment::IgnoreNulls),
            ));
        }
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
    // count(DISTINCT a, b): the rows whose values are all non-NULL, each
    // combination once (DataFusion counts one distinct argument).
    if df_name == "count" && distinct && args.len() > 1 {
        let all_set = args
            .iter()
            .map(|a| a.clone().is_not_null())
            .reduce(|a, b| a.and(b))
            .unwrap_or_else(|| lit(true));
        let mut fields = vec![];
        for (i, a) in args.into_iter().enumerate() {
            fields.push(lit(format!("c{i}")));
            fields.push(a);
        }
        let row = datafusion::functions::core::expr_fn::named_struct(fields);
        args = vec![when(all_set, row).end()?];
    }
    if let Ok(udaf) = scope.state.udaf(df_name) {
        let agg = plain_aggregate(udaf, args, distinct || name == "collect_set", None);
        // Spark's count is bigint, as DataFusion's; collect_set is a distinct array_agg.
        return Ok(agg);
    }
    if name == "collect_set" {
        if let Ok(udaf) = scope.state.udaf("array_agg") {
            return Ok(plain_aggregate(udaf, args, true, None));
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
    Err(ConnectError::unresolved_routine(name))
}

/// `struct(a, b)`: Spark names each field after its column (`a`, `b`), or
/// `col1`, `col2`, ... for other expressions.
fn struct_of(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Expr> {
    let mut args = vec![];
    for (i, a) in f.arguments.iter().enumerate() {
        let name = match &a.expr_type {
            Some(ExprType::UnresolvedAttribute(_) | ExprType::Alias(_)) => spark_name(a, scope),
            Some(ExprType::UnresolvedExtractValue(x)) => x
                .extraction
                .as_deref()
                .map(|k| spark_name(k, scope))
                .unwrap_or_else(|| format!("col{}", i + 1)),
            _ => format!("col{}", i + 1),
        };
        args.push(lit(name));
        args.push(scope.expr(a)?);
    }
    Ok(datafusion::functions::core::expr_fn::named_struct(args))
}
