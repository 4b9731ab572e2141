//! `df.na.fill`, `df.na.drop` and `df.na.replace` (the NAFill, NADrop and
//! NAReplace relations) as Spark runs them: a projection or filter over
//! the columns of the input that the value's type fits (a number fills
//! and replaces in numeric columns, a string in string columns, a boolean
//! in boolean columns; other columns are left as they are), NaN counting
//! as missing in floating-point columns.

use arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion::logical_expr::{cast, lit, when, Expr, LogicalPlan, LogicalPlanBuilder};

use crate::error::{ConnectError, Result};
use crate::expression::literal;
use crate::proto;

/// The kinds of columns a fill or replacement value applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Numeric,
    String,
    Boolean,
    Other,
}

fn kind_of(t: &DataType) -> Kind {
    if t.is_numeric() {
        Kind::Numeric
    } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        Kind::String
    } else if *t == DataType::Boolean {
        Kind::Boolean
    } else {
        Kind::Other
    }
}

fn is_floating(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// The input's columns: qualifier, name and type.
fn columns(schema: &DFSchema) -> Vec<(Option<TableReference>, String, DataType)> {
    schema
        .iter()
        .map(|(q, f)| (q.cloned(), f.name().clone(), f.data_type().clone()))
        .collect()
}

/// Checks that every name of `cols` is a column of `schema`.
fn check_names(cols: &[String], schema: &DFSchema) -> Result<()> {
    for c in cols {
        if !schema
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(c))
        {
            return Err(ConnectError::Analysis {
                class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                message: format!("Cannot resolve column name \"{c}\" among the input's columns."),
            });
        }
    }
    Ok(())
}

fn selected(cols: &[String], name: &str) -> bool {
    cols.is_empty() || cols.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// `col`, with NaN as NULL when the column is floating-point.
fn nan_as_null(col: Expr, t: &DataType) -> Result<Expr> {
    if !is_floating(t) {
        return Ok(col);
    }
    Ok(when(
        datafusion::functions::math::expr_fn::isnan(col.clone()),
        lit(ScalarValue::try_from(t)?),
    )
    .otherwise(col)?)
}

/// `df.na.fill(value)` / `fill(value, subset)` / `fill({col: value})`.
pub fn fill(input: LogicalPlan, f: &proto::NaFill) -> Result<LogicalPlan> {
    let values = f
        .values
        .iter()
        .map(literal)
        .collect::<Result<Vec<ScalarValue>>>()?;
    let per_column = match values.as_slice() {
        [] => {
            return Err(ConnectError::IllegalArgument(
                "na.fill needs a value".into(),
            ))
        }
        [_] => false,
        many if many.len() == f.cols.len() => true,
        _ => {
            return Err(ConnectError::IllegalArgument(format!(
                "na.fill: {} values for {} columns",
                values.len(),
                f.cols.len()
            )))
        }
    };
    check_names(&f.cols, input.schema())?;
    let mut exprs = vec![];
    for (q, name, t) in columns(input.schema()) {
        let col = Expr::Column(Column::new(q, &name));
        let value = if per_column {
            f.cols
                .iter()
                .position(|c| c.eq_ignore_ascii_case(&name))
                .map(|i| &values[i])
        } else if selected(&f.cols, &name) {
            values.first()
        } else {
            None
        };
        match value {
            Some(v) if !v.is_null() && kind_of(&v.data_type()) == kind_of(&t) => {
                let filled = datafusion::functions::core::expr_fn::coalesce(vec![
                    nan_as_null(col, &t)?,
                    cast(lit(v.clone()), t.clone()),
                ]);
                exprs.push(filled.alias(&name));
            }
            _ => exprs.push(col),
        }
    }
    Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
}

/// `df.na.drop(how, thresh, subset)`: keeps the rows with at least
/// `min_non_nulls` values that are neither NULL nor NaN among the columns
/// (all of them unless said).
pub fn drop(input: LogicalPlan, d: &proto::NaDrop) -> Result<LogicalPlan> {
    check_names(&d.cols, input.schema())?;
    let cols: Vec<_> = columns(input.schema())
        .into_iter()
        .filter(|(_, name, _)| selected(&d.cols, name))
        .collect();
    let need = match d.min_non_nulls {
        Some(n) => i64::from(n),
        None => cols.len() as i64,
    };
    let mut present: Option<Expr> = None;
    for (q, name, t) in cols {
        let col = Expr::Column(Column::new(q, &name));
        let mut ok = col.clone().is_not_null();
        if is_floating(&t) {
            ok = ok.and(!datafusion::functions::math::expr_fn::isnan(col));
        }
        let one = when(ok, lit(1i64)).otherwise(lit(0i64))?;
        present = Some(match present {
            Some(p) => p + one,
            None => one,
        });
    }
    let cond = present.unwrap_or_else(|| lit(0i64)).gt_eq(lit(need));
    Ok(LogicalPlanBuilder::from(input).filter(cond)?.build()?)
}

/// `df.na.replace(to_replace, value, subset)`: each old value replaced by
/// its new one in the columns of the old values' kind.
pub fn replace(input: LogicalPlan, r: &proto::NaReplace) -> Result<LogicalPlan> {
    let mut pairs = vec![];
    for rep in &r.replacements {
        let old = rep
            .old_value
            .as_ref()
            .map(literal)
            .transpose()?
            .unwrap_or(ScalarValue::Null);
        let new = rep
            .new_value
            .as_ref()
            .map(literal)
            .transpose()?
            .unwrap_or(ScalarValue::Null);
        pairs.push((old, new));
    }
    let Some(kind) = pairs
        .iter()
        .map(|(old, _)| kind_of(&old.data_type()))
        .find(|k| *k != Kind::Other)
    else {
        return Ok(input);
    };
    check_names(&r.cols, input.schema())?;
    let mut exprs = vec![];
    for (q, name, t) in columns(input.schema()) {
        let col = Expr::Column(Column::new(q, &name));
        if !selected(&r.cols, &name) || kind_of(&t) != kind || pairs.is_empty() {
            exprs.push(col);
            continue;
        }
        let mut branches = pairs.iter().filter(|(old, _)| !old.is_null());
        let Some((old, new)) = branches.next() else {
            exprs.push(col);
            continue;
        };
        let mut case = when(
            col.clone().eq(lit(old.clone())),
            cast(lit(new.clone()), t.clone()),
        );
        for (old, new) in branches {
            case = case.when(
                col.clone().eq(lit(old.clone())),
                cast(lit(new.clone()), t.clone()),
            );
        }
        exprs.push(case.otherwise(col)?.alias(&name));
    }
    Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
}
