//! The client's argument forms for the document functions (`from_json`,
//! `to_json`, `schema_of_json` and their CSV and XML twins): the options
//! dict arrives as `create_map(k1, v1, ...)` of string literals and becomes
//! one `map<string, string>` literal, and a schema given as an expression
//! (`from_csv(v, schema_of_csv('1,2'))`) is folded to its string now, as
//! Spark requires it to be constant. `json_tuple(json, 'f1', 'f2')` in a
//! projection is Spark's generator: its fields become columns `c0, c1, ...`.
//!
//! The callers (`call`, `expression`) hand in how to resolve an argument
//! and a literal, so this module imports neither.

use std::sync::Arc;

use arrow::array::{MapBuilder, StringBuilder};
use datafusion::common::ScalarValue;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{lit, Expr};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

use crate::error::{ConnectError, Result};
use crate::proto::expression::{self as pe, ExprType};
use crate::proto::Expression;

/// How a caller resolves one argument expression.
pub type ToExpr<'a> = &'a dyn Fn(&Expression) -> Result<Expr>;

/// How a caller reads a literal.
pub type Literal = fn(&pe::Literal) -> Result<ScalarValue>;

/// The positions of a document function's schema and options arguments.
fn argument_roles(name: &str) -> Option<(Option<usize>, usize)> {
    match name {
        "from_json" | "from_csv" | "from_xml" => Some((Some(1), 2)),
        "to_json" | "to_csv" | "to_xml" | "schema_of_json" | "schema_of_csv" | "schema_of_xml" => {
            Some((None, 1))
        }
        _ => None,
    }
}

/// The call of a document function, or `None` for other functions.
pub fn document_function(
    f: &pe::UnresolvedFunction,
    state: &SessionState,
    to_expr: ToExpr,
    literal: Literal,
) -> Result<Option<Expr>> {
    let name = f.function_name.as_str();
    let Some((schema_at, options_at)) = argument_roles(name) else {
        return Ok(None);
    };
    let mut args = Vec::with_capacity(f.arguments.len());
    for (i, a) in f.arguments.iter().enumerate() {
        let e = if i == options_at {
            options(name, a, to_expr, literal)?
        } else {
            to_expr(a)?
        };
        args.push(if Some(i) == schema_at {
            constant(name, e, state)?
        } else {
            e
        });
    }
    let udf = state.udf(name)?;
    Ok(Some(Expr::ScalarFunction(ScalarFunction::new_udf(
        udf, args,
    ))))
}

/// The options argument as a `map<string, string>` literal.
fn options(name: &str, a: &Expression, to_expr: ToExpr, literal: Literal) -> Result<Expr> {
    let Some(ExprType::UnresolvedFunction(m)) = &a.expr_type else {
        return to_expr(a);
    };
    if !matches!(m.function_name.as_str(), "create_map" | "map") {
        return to_expr(a);
    }
    let mut texts = Vec::with_capacity(m.arguments.len());
    for x in &m.arguments {
        let Some(ExprType::Literal(l)) = &x.expr_type else {
            return Err(ConnectError::IllegalArgument(format!(
                "`{name}`'s options must be literal strings"
            )));
        };
        texts.push(match literal(l)? {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s,
            other => other.to_string(),
        });
    }
    if texts.len() % 2 != 0 {
        return Err(ConnectError::IllegalArgument(format!(
            "`{name}`'s options need a value for each key"
        )));
    }
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for pair in texts.chunks(2) {
        b.keys().append_value(&pair[0]);
        b.values().append_value(&pair[1]);
    }
    b.append(true)
        .map_err(|e| ConnectError::IllegalArgument(format!("`{name}`'s options: {e}")))?;
    Ok(lit(ScalarValue::Map(Arc::new(b.finish()))))
}

/// `e` folded to a literal (`schema_of_csv('1,2')` to its answer); other
/// expressions stay as they are, for the function to refuse by name.
fn constant(name: &str, e: Expr, state: &SessionState) -> Result<Expr> {
    if matches!(e, Expr::Literal(..)) {
        return Ok(e);
    }
    let context = SimplifyContext::builder()
        .with_config_options(state.config_options().clone())
        .build();
    let folded = ExprSimplifier::new(context)
        .simplify(e)
        .map_err(|err| ConnectError::IllegalArgument(format!("`{name}`'s schema: {err}")))?;
    Ok(folded)
}

/// `json_tuple(json, 'f1', 'f2', ...)`'s columns `c0, c1, ...`, or `None`
/// for other expressions.
pub fn generator_columns(
    e: &Expression,
    call: &dyn Fn(&pe::UnresolvedFunction) -> Result<Expr>,
) -> Result<Option<Vec<Expr>>> {
    let Some(ExprType::UnresolvedFunction(f)) = &e.expr_type else {
        return Ok(None);
    };
    if f.function_name != "json_tuple" {
        return Ok(None);
    }
    let fields = f.arguments.len().saturating_sub(1);
    if fields == 0 {
        return Err(ConnectError::IllegalArgument(
            "`json_tuple` needs a JSON column and at least one field name".into(),
        ));
    }
    let tuple = call(f)?;
    Ok(Some(
        (0..fields)
            .map(|i| {
                let c = format!("c{i}");
                datafusion::functions::core::expr_fn::get_field(tuple.clone(), c.as_str()).alias(c)
            })
            .collect(),
    ))
}
