//! Calls of higher-order functions with lambdas (`transform(a, lambda x:
//! x * 2)`): the client sends each lambda as a `LambdaFunction` whose body
//! refers to its parameters as `UnresolvedNamedLambdaVariable`s (fresh
//! names such as `x_3`). A call becomes DataFusion's `HigherOrderFunction`
//! (the functions are `kiln_functions`' lambda module), translated as
//! DataFusion's SQL planner does: the value arguments first, coerced by the
//! function; then the lambdas' parameter types, which the function derives
//! from those values; then each body, against the input's columns plus its
//! parameters.

use std::sync::Arc;

use datafusion::common::{DFSchema, TableReference};
use datafusion::logical_expr::expr::{HigherOrderFunction, Lambda, LambdaVariable};
use datafusion::logical_expr::type_coercion::functions::value_fields_with_higher_order_udf;
use datafusion::logical_expr::{Expr, ExprSchemable, LambdaParametersProgress, ValueOrLambda};

use crate::error::{ConnectError, Result};
use crate::proto::expression::{self as pe, ExprType};
use crate::scope::{required_box, Scope};

/// Whether a call has a lambda among its arguments.
pub fn has_lambda(f: &pe::UnresolvedFunction) -> bool {
    f.arguments
        .iter()
        .any(|a| matches!(a.expr_type, Some(ExprType::LambdaFunction(_))))
}

/// One argument of a higher-order call, before its lambdas are translated.
enum Arg<'e> {
    Value(Expr),
    Lambda(&'e pe::LambdaFunction),
}

/// The call `f`, some of whose arguments are lambdas.
pub fn call(f: &pe::UnresolvedFunction, scope: &Scope) -> Result<Expr> {
    let name = f.function_name.as_str();
    let Some(func) = scope.state.higher_order_functions().get(name).cloned() else {
        return Err(ConnectError::unresolved_routine(name));
    };
    let mut args = f
        .arguments
        .iter()
        .map(|a| match &a.expr_type {
            Some(ExprType::LambdaFunction(l)) => Ok(Arg::Lambda(l)),
            _ => Ok(Arg::Value(scope.expr(a)?)),
        })
        .collect::<Result<Vec<_>>>()?;
    let fields = args
        .iter()
        .map(|a| match a {
            Arg::Value(e) => Ok(ValueOrLambda::Value(e.to_field(scope.schema)?.1)),
            Arg::Lambda(_) => Ok(ValueOrLambda::Lambda(None)),
        })
        .collect::<Result<Vec<_>>>()?;
    let fields = value_fields_with_higher_order_udf(&fields, &func)?;
    for (a, field) in args.iter_mut().zip(&fields) {
        if let (Arg::Value(e), ValueOrLambda::Value(field)) = (a, field) {
            if &e.get_type(scope.schema)? != field.data_type() {
                *e = e.clone().cast_to(field.data_type(), scope.schema)?;
            }
        }
    }
    let params = match func.lambda_parameters(0, &fields)? {
        LambdaParametersProgress::Complete(p) => p,
        LambdaParametersProgress::Partial(_) => {
            return Err(ConnectError::Unsupported(format!(
                "`{name}`, whose lambdas' parameters depend on other lambdas"
            )))
        }
    };
    let mut params = params.into_iter();
    let args = args
        .into_iter()
        .map(|a| match a {
            Arg::Value(e) => Ok(e),
            Arg::Lambda(l) => {
                let p = params.next().ok_or_else(|| {
                    ConnectError::IllegalArgument(format!("`{name}` takes fewer lambdas"))
                })?;
                lambda(name, l, p, scope)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Expr::HigherOrderFunction(HigherOrderFunction::new(
        func, args,
    )))
}

/// The lambda `l` of the function `name`, whose parameters are `params`.
fn lambda(
    name: &str,
    l: &pe::LambdaFunction,
    params: Vec<arrow::datatypes::FieldRef>,
    scope: &Scope,
) -> Result<Expr> {
    let names: Vec<String> = l.arguments.iter().map(|v| v.name_parts.join(".")).collect();
    if names.len() > params.len() {
        return Err(ConnectError::Analysis {
            class: "INVALID_LAMBDA_FUNCTION_CALL.NUM_ARGS_MISMATCH",
            message: format!(
                "A higher order function expects {} arguments, but got {}: the lambda of `{name}`.",
                params.len(),
                names.len()
            ),
        });
    }
    // The input's columns, an outer lambda's parameters of the same name
    // shadowed, then this lambda's parameters.
    let mut fields: Vec<(Option<TableReference>, arrow::datatypes::FieldRef)> = scope
        .schema
        .iter()
        .filter(|(q, f)| q.is_some() || !names.contains(f.name()))
        .map(|(q, f)| (q.cloned(), f.clone()))
        .collect();
    for (n, p) in names.iter().zip(params) {
        fields.push((None, Arc::new(p.as_ref().clone().with_name(n))));
    }
    let schema = DFSchema::new_with_metadata(fields, scope.schema.metadata().clone())?;
    let body = scope
        .with_schema(&schema)
        .expr(required_box(&l.function, "the lambda's body")?)?;
    Ok(Expr::Lambda(Lambda::new(names, body)))
}

/// A lambda's parameter, as the innermost lambda declaring it has it.
pub fn variable(v: &pe::UnresolvedNamedLambdaVariable, scope: &Scope) -> Result<Expr> {
    let name = v.name_parts.join(".");
    let field = scope
        .schema
        .iter()
        .filter(|(q, f)| q.is_none() && f.name() == &name)
        .last()
        .map(|(_, f)| f.clone())
        .ok_or_else(|| {
            ConnectError::analysis(format!(
                "the lambda variable `{name}` is used outside its lambda function"
            ))
        })?;
    Ok(Expr::LambdaVariable(LambdaVariable::new(name, Some(field))))
}
