//! Generators in a select list (`df.select("*", explode("a"))`):
//! `explode`, `explode_outer`, `posexplode`, `posexplode_outer`, `inline`,
//! `inline_outer` and `stack`, on DataFusion's `Unnest`, as Kiln's SQL side
//! runs `explode` (`kiln_core::spark_generator`).
//!
//! The generator's lists are computed into hidden columns of the input, an
//! `Unnest` turns each element into a row (the `_outer` forms keep a row of
//! NULLs for a NULL or empty input, as Spark), and the select list gets
//! references to the generated columns under Spark's names (`col`, `pos`,
//! `key`, `value`, a struct's field names, `col0`, `col1`, ...) or the
//! alias' names. Several generators in one select run one after another.

use datafusion::common::{NullHandling, ScalarValue, UnnestOptions};
use datafusion::execution::FunctionRegistry;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{cast, lit, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder};

use arrow::datatypes::DataType;
use datafusion::common::Column;

use crate::error::{ConnectError, Result};
use crate::proto::expression::{self as pe, ExprType};
use crate::proto::Expression;
use crate::scope::Scope;

/// The prefix of the hidden columns a generator adds; `*` leaves them out.
pub const HIDDEN_PREFIX: &str = "__kiln_gen";

const GENERATORS: &[&str] = &[
    "explode",
    "explode_outer",
    "posexplode",
    "posexplode_outer",
    "inline",
    "inline_outer",
    "stack",
];

/// The generator call of a select item and the names its alias gives.
fn generator_of(e: &Expression) -> Option<(&pe::UnresolvedFunction, Vec<String>)> {
    match &e.expr_type {
        Some(ExprType::UnresolvedFunction(f)) if GENERATORS.contains(&f.function_name.as_str()) => {
            Some((f, vec![]))
        }
        Some(ExprType::Alias(a)) => {
            let (f, _) = generator_of(a.expr.as_deref()?)?;
            Some((f, a.name.clone()))
        }
        _ => None,
    }
}

/// `input` with the generators of `items` run, and the select list with
/// each generator replaced by its columns; `None` when no item is one.
/// Several generators run one after the other, left to right, so each row
/// gives the product of their rows, as Spark 4 runs them.
pub fn expand(
    input: &LogicalPlan,
    items: &[Expression],
    scope: &Scope,
) -> Result<Option<(LogicalPlan, Vec<Expression>)>> {
    let mut done: Option<(LogicalPlan, Vec<Expression>)> = None;
    for round in 0.. {
        let (plan, list) = match &done {
            Some((p, l)) => (p, l.as_slice()),
            None => (input, items),
        };
        let Some(at) = list.iter().position(|e| generator_of(e).is_some()) else {
            break;
        };
        let next = expand_one(plan, list, at, round, &scope.with_schema(plan.schema()))?;
        done = Some(next);
    }
    Ok(done)
}

/// `input` with the generator at `items[at]` run (its hidden columns named
/// for `round`), and the select list with it replaced by its columns.
fn expand_one(
    input: &LogicalPlan,
    items: &[Expression],
    at: usize,
    round: usize,
    scope: &Scope,
) -> Result<(LogicalPlan, Vec<Expression>)> {
    let Some((f, alias)) = generator_of(&items[at]) else {
        return Err(ConnectError::analysis("no generator in the select item"));
    };
    let name = f.function_name.as_str();
    let args = f
        .arguments
        .iter()
        .map(|a| scope.expr(a))
        .collect::<Result<Vec<_>>>()?;
    let generated = lists(name, args, scope)?;
    let list_count = generated.lists.len();
    let hidden = |i: usize| format!("{HIDDEN_PREFIX}{round}_{i}");
    // The input's columns and the generator's lists.
    let mut pre: Vec<Expr> = input
        .schema()
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    for (i, list) in generated.lists.into_iter().enumerate() {
        pre.push(list.alias(hidden(i)));
    }
    let null_handling = if name.ends_with("_outer") {
        NullHandling::PreserveAndExpandEmpty
    } else {
        NullHandling::Drop
    };
    let unnested = LogicalPlanBuilder::from(input.clone())
        .project(pre)?
        .unnest_columns_with_options(
            (0..list_count)
                .map(|i| Column::from_name(hidden(i)))
                .collect(),
            UnnestOptions::new().with_null_handling(null_handling),
        )?
        .build()?;
    // The generated columns, each under a hidden name.
    let mut post: Vec<Expr> = unnested
        .schema()
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    let mut names = vec![];
    for (i, out) in generated.outputs.iter().enumerate() {
        let element = Expr::Column(Column::from_name(hidden(out.list)));
        let value = match &out.part {
            Part::Whole => element,
            Part::Position => cast(element, DataType::Int32),
            Part::Field(field) => get_field(element, field.as_str()),
        };
        let hidden_out = format!("{HIDDEN_PREFIX}{round}_out{i}");
        post.push(value.alias(&hidden_out));
        names.push((hidden_out, out.name.clone()));
    }
    if !alias.is_empty() && alias.len() != names.len() {
        return Err(ConnectError::Analysis {
            class: "UDTF_ALIAS_NUMBER_MISMATCH",
            message: format!(
                "The number of aliases supplied in the AS clause does not match the number of columns output by the UDTF. Expected {} aliases, but got {}.",
                names.len(),
                alias.len()
            ),
        });
    }
    let plan = LogicalPlanBuilder::from(unnested).project(post)?.build()?;
    let mut out_items = items[..at].to_vec();
    for (i, (hidden_out, spark)) in names.into_iter().enumerate() {
        let name = alias.get(i).cloned().unwrap_or(spark);
        out_items.push(reference(&hidden_out, name));
    }
    out_items.extend_from_slice(&items[at + 1..]);
    Ok((plan, out_items))
}

/// `hidden` as a select item named `name`.
fn reference(hidden: &str, name: String) -> Expression {
    let attr = Expression {
        common: None,
        expr_type: Some(ExprType::UnresolvedAttribute(pe::UnresolvedAttribute {
            unparsed_identifier: hidden.to_string(),
            plan_id: None,
            is_metadata_column: None,
        })),
    };
    Expression {
        common: None,
        expr_type: Some(ExprType::Alias(Box::new(pe::Alias {
            expr: Some(Box::new(attr)),
            name: vec![name],
            metadata: None,
        }))),
    }
}

/// Which part of an unnested element a generated column is.
enum Part {
    /// The element itself.
    Whole,
    /// The element of a position list, as Spark's INT.
    Position,
    /// A field of a struct element.
    Field(String),
}

/// A generated column: from which list, which part, Spark's name.
struct Output {
    list: usize,
    part: Part,
    name: String,
}

/// What a generator unnests, and the columns it makes of the elements.
struct Generated {
    lists: Vec<Expr>,
    outputs: Vec<Output>,
}

fn output(list: usize, part: Part, name: &str) -> Output {
    Output {
        list,
        part,
        name: name.to_string(),
    }
}

/// The lists generator `name` unnests from `args`.
fn lists(name: &str, mut args: Vec<Expr>, scope: &Scope) -> Result<Generated> {
    let udf = |n: &str, args: Vec<Expr>| -> Result<Expr> { Ok(scope.state.udf(n)?.call(args)) };
    if name == "stack" {
        return stack(args, &udf);
    }
    let [arg] = <[Expr; 1]>::try_from(std::mem::take(&mut args))
        .map_err(|_| ConnectError::IllegalArgument(format!("`{name}` takes one argument")))?;
    let t = arg.get_type(scope.schema)?;
    let positions = name.starts_with("posexplode");
    let mut lists = vec![];
    let mut outputs = vec![];
    match (&t, name.starts_with("inline")) {
        (DataType::Map(..), false) => {
            let entries = udf("map_entries", vec![arg.clone()])?;
            let (k, v) = match entries.get_type(scope.schema)? {
                DataType::List(f) => match f.data_type() {
                    DataType::Struct(kv) if kv.len() == 2 => {
                        (kv[0].name().clone(), kv[1].name().clone())
                    }
                    _ => return Err(ConnectError::analysis("a map without key and value")),
                },
                _ => return Err(ConnectError::analysis("a map's entries are no array")),
            };
            lists.push(entries);
            if positions {
                outputs.push(output(1, Part::Position, "pos"));
            }
            outputs.push(output(0, Part::Field(k), "key"));
            outputs.push(output(0, Part::Field(v), "value"));
        }
        (DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _), inline) => {
            lists.push(arg.clone());
            if positions {
                outputs.push(output(1, Part::Position, "pos"));
            }
            if inline {
                let DataType::Struct(fields) = f.data_type() else {
                    return Err(ConnectError::analysis(format!(
                        "`{name}` takes an array of structs, not an array of {}",
                        f.data_type()
                    )));
                };
                for field in fields {
                    outputs.push(output(0, Part::Field(field.name().clone()), field.name()));
                }
            } else {
                outputs.push(output(0, Part::Whole, "col"));
            }
        }
        (other, _) => {
            return Err(ConnectError::Analysis {
                class: "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
                message: format!(
                    "Cannot resolve \"{name}\": its input must be an array{}, not {}.",
                    if name.starts_with("inline") {
                        " of structs"
                    } else {
                        " or a map"
                    },
                    crate::types::simple_string(other)
                ),
            })
        }
    }
    if positions {
        // 0, 1, ... as long as the array or map: unnested beside it.
        let len = udf("cardinality", vec![arg])?;
        lists.push(udf("range", vec![lit(0i64), cast(len, DataType::Int64)])?);
    }
    Ok(Generated { lists, outputs })
}

/// `stack(n, v1, ..., vm)`: n rows of ceil(m / n) columns, filled row by
/// row, the last padded with NULLs; one list per column, unnested together.
fn stack(mut args: Vec<Expr>, udf: &dyn Fn(&str, Vec<Expr>) -> Result<Expr>) -> Result<Generated> {
    let n = match args.first() {
        Some(Expr::Literal(v, _)) => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) if n > 0 => n as usize,
            _ => 0,
        },
        _ => 0,
    };
    if n == 0 || args.len() < 2 {
        return Err(ConnectError::Analysis {
            class: "DATATYPE_MISMATCH.NON_FOLDABLE_INPUT",
            message: "`stack` takes a positive integer literal row count and at least one value"
                .into(),
        });
    }
    let values: Vec<Expr> = args.drain(1..).collect();
    let columns = values.len().div_ceil(n);
    let mut lists = vec![];
    let mut outputs = vec![];
    for j in 0..columns {
        let column: Vec<Expr> = (0..n)
            .map(|r| {
                values
                    .get(r * columns + j)
                    .cloned()
                    .unwrap_or_else(|| lit(ScalarValue::Null))
            })
            .collect();
        lists.push(udf("make_array", column)?);
        outputs.push(output(j, Part::Whole, &format!("col{j}")));
    }
    Ok(Generated { lists, outputs })
}
