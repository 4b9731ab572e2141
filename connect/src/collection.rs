//! Spark's array and map functions whose argument forms or NULL rules
//! differ from the registry function of the same job: `get` and
//! `try_element_at` (NULL out of range), `map_contains_key`, one-argument
//! `array_sort` (NULLs last), `array_remove` (every occurrence),
//! `array_repeat`, `sequence` (inclusive, with Spark's default step),
//! `arrays_overlap` and `flatten` (Spark's NULL rules, through the lambda
//! functions).

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::{HigherOrderFunction, Lambda, LambdaVariable};
use datafusion::logical_expr::{cast, lit, when, Expr, ExprSchemable};

use crate::error::{ConnectError, Result};
use crate::scope::Scope;

/// The call of `name` on `args` if it is one of this module's forms;
/// otherwise the arguments back.
pub fn call(
    name: &str,
    args: Vec<Expr>,
    scope: &Scope,
) -> Result<std::result::Result<Expr, Vec<Expr>>> {
    let udf = |n: &str, args: Vec<Expr>| -> Result<Expr> { Ok(scope.state.udf(n)?.call(args)) };
    let two = |args: Vec<Expr>| -> Result<[Expr; 2]> {
        <[Expr; 2]>::try_from(args)
            .map_err(|_| ConnectError::IllegalArgument(format!("`{name}` takes two arguments")))
    };
    Ok(Ok(match name {
        // size: the number of top-level elements as an INT (DataFusion's
        // cardinality counts the elements of nested arrays too).
        "size" | "cardinality" => {
            let [a] = <[Expr; 1]>::try_from(args).map_err(|_| {
                ConnectError::IllegalArgument(format!("`{name}` takes one argument"))
            })?;
            let n = match element_of(&a, scope) {
                Some(_) => {
                    let len = udf("array_length", vec![a.clone()])?;
                    when(a.is_null(), lit(ScalarValue::UInt64(None)))
                        .otherwise(udf("coalesce", vec![len, lit(0u64)])?)?
                }
                None => udf("cardinality", vec![a])?,
            };
            cast(n, DataType::Int32)
        }
        // get(array, i): 0-based, NULL out of range.
        "get" => {
            let [array, i] = two(args)?;
            crate::fields::array_item(array, i, scope)?
        }
        // try_element_at: element_at with NULL where it would fail.
        "try_element_at" => {
            let [container, key] = two(args)?;
            if element_of(&container, scope).is_some() {
                let index = cast(key, DataType::Int64);
                let element = udf("array_element", vec![container, index.clone()])?;
                when(index.not_eq(lit(0i64)), element).end()?
            } else {
                crate::fields::map_value(container, key, scope)?
            }
        }
        "map_contains_key" => {
            let [map, key] = two(args)?;
            let keys = udf("map_keys", vec![map])?;
            udf("array_has", vec![keys, key])?
        }
        // Spark's array_sort sorts NULLs last (sort_array first).
        "array_sort" if args.len() == 1 => {
            let mut args = args;
            args.extend([lit("ASC"), lit("NULLS LAST")]);
            udf("array_sort", args)?
        }
        "array_remove" => {
            let [array, element] = two(args)?;
            let removed = udf("array_remove_all", vec![array.clone(), element.clone()])?;
            let t = array.get_type(scope.schema)?;
            when(element.is_null(), lit(ScalarValue::try_from(&t)?)).otherwise(removed)?
        }
        // array_repeat of an array: the inner list as DataFusion names
        // list items, or its result type and data disagree.
        "array_repeat" => {
            let [value, count] = two(args)?;
            let value = match element_of(&value, scope) {
                Some(f) => cast(value, DataType::new_list(f.data_type().clone(), true)),
                None => value,
            };
            udf("array_repeat", vec![value, cast(count, DataType::Int64)])?
        }
        "sequence" => sequence(args, scope)?,
        "arrays_overlap" => {
            let [x, y] = two(args)?;
            let non_null = |a: Expr| lambda_call(scope, "filter", a, |e| e.is_not_null());
            let has_null = |a: Expr| lambda_call(scope, "exists", a, |e| e.is_null());
            let size = |a: Expr| udf("cardinality", vec![a]);
            let common = udf(
                "array_has_any",
                vec![non_null(x.clone())?, non_null(y.clone())?],
            )?;
            when(
                x.clone().is_null().or(y.clone().is_null()),
                lit(ScalarValue::Boolean(None)),
            )
            .when(common, lit(true))
            .when(
                size(x.clone())?
                    .gt(lit(0u64))
                    .and(size(y.clone())?.gt(lit(0u64)))
                    .and(has_null(x)?.or(has_null(y)?)),
                lit(ScalarValue::Boolean(None)),
            )
            .otherwise(lit(false))?
        }
        // flatten: NULL when any inner array is.
        "flatten" => {
            let [array] = <[Expr; 1]>::try_from(args).map_err(|_| {
                ConnectError::IllegalArgument("`flatten` takes one argument".into())
            })?;
            let any_null = lambda_call(scope, "exists", array.clone(), |e| e.is_null())?;
            let flat = udf("flatten", vec![array])?;
            let t = flat.get_type(scope.schema)?;
            when(any_null, lit(ScalarValue::try_from(&t)?)).otherwise(flat)?
        }
        _ => return Ok(Err(args)),
    }))
}

/// The element field of an array expression; `None` for other types.
fn element_of(e: &Expr, scope: &Scope) -> Option<FieldRef> {
    match e.get_type(scope.schema).ok()? {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

/// The higher-order function `name` of `array` and the one-parameter
/// lambda `body`.
fn lambda_call(
    scope: &Scope,
    name: &str,
    array: Expr,
    body: impl FnOnce(Expr) -> Expr,
) -> Result<Expr> {
    let func = scope
        .state
        .higher_order_functions()
        .get(name)
        .cloned()
        .ok_or_else(|| ConnectError::unresolved_routine(name))?;
    let element = element_of(&array, scope)
        .ok_or_else(|| ConnectError::analysis(format!("`{name}` takes an array, not {array}")))?;
    let var = "__kiln_element".to_string();
    let field = Arc::new(element.as_ref().clone().with_name(&var));
    let body = body(Expr::LambdaVariable(LambdaVariable::new(
        var.clone(),
        Some(field),
    )));
    Ok(Expr::HigherOrderFunction(HigherOrderFunction::new(
        func,
        vec![array, Expr::Lambda(Lambda::new(vec![var], body))],
    )))
}

/// `sequence(start, stop[, step])`: from start to stop inclusive, by step
/// (1 or -1 by the direction when not given); integers of the inputs' type.
fn sequence(args: Vec<Expr>, scope: &Scope) -> Result<Expr> {
    if !(2..=3).contains(&args.len()) {
        return Err(ConnectError::IllegalArgument(
            "`sequence` takes a start, a stop and an optional step".into(),
        ));
    }
    let t = args[0].get_type(scope.schema)?;
    let series = scope.state.udf("generate_series")?;
    if !t.is_integer() {
        return Ok(series.call(args));
    }
    let start = cast(args[0].clone(), DataType::Int64);
    let stop = cast(args[1].clone(), DataType::Int64);
    let step = match args.get(2) {
        Some(s) => cast(s.clone(), DataType::Int64),
        None => when(start.clone().lt_eq(stop.clone()), lit(1i64)).otherwise(lit(-1i64))?,
    };
    let out = series.call(vec![start, stop, step]);
    Ok(match t {
        DataType::Int64 => out,
        other => cast(out, DataType::new_list(other, true)),
    })
}
