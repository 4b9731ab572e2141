//! Spark's functions whose value depends on the partition a row is in:
//! `rand`, `randn`, `uniform`, `randstr` (seeded with `seed + partition
//! index`, Spark's generator, so seeded values are Spark's),
//! `spark_partition_id` and `monotonically_increasing_id`.
//!
//! A function sees batches, not partitions, so these plan as ordinary
//! (volatile) functions and a task binds them: [`bind_to_partition`]
//! replaces each call in the task's projections with an expression that
//! holds the partition index and the generator's state across batches.
//! A call left unbound (outside a projection) fails with a clear error.

mod bound;
mod xorshift;

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::ExecutionPlan;

pub use bound::BoundPerPartition;
pub use xorshift::XorShiftRandom;

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `rand([seed])`: uniform in [0, 1).
    Rand,
    /// `randn([seed])`: standard normal.
    Randn,
    /// `uniform(min, max[, seed])`.
    Uniform,
    /// `randstr(length[, seed])`: characters of 0-9, a-z, A-Z.
    RandStr,
    /// `spark_partition_id()`.
    PartitionId,
    /// `monotonically_increasing_id()`: partition index in the upper 31
    /// bits, row number within the partition in the lower 33.
    MonotonicId,
}

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        (Kind::Rand, "rand", vec!["random".to_string()]),
        (Kind::Randn, "randn", vec![]),
        (Kind::Uniform, "uniform", vec![]),
        (Kind::RandStr, "randstr", vec![]),
        (Kind::PartitionId, "spark_partition_id", vec![]),
        (Kind::MonotonicId, "monotonically_increasing_id", vec![]),
    ]
    .into_iter()
    .map(|(kind, name, aliases)| {
        Arc::new(ScalarUDF::new_from_impl(PerPartition {
            kind,
            name,
            aliases,
            signature: Signature::user_defined(Volatility::Volatile),
        }))
    })
    .collect()
}

/// A partition-dependent function as planned (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PerPartition {
    kind: Kind,
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn is_seed(t: &DataType) -> bool {
    is_integer(t) || t.is_null()
}

/// `uniform`'s result type (Spark's rules): the wider integer when both
/// bounds are integers, else DOUBLE or FLOAT; NULL when a bound is NULL.
fn uniform_type(min: &DataType, max: &DataType) -> DataType {
    use DataType::*;
    match (min, max) {
        (Null, _) | (_, Null) => Null,
        (a, b) if is_integer(a) && is_integer(b) => {
            if matches!(a, Int64) || matches!(b, Int64) {
                Int64
            } else if matches!(a, Int32) || matches!(b, Int32) {
                Int32
            } else {
                Int16
            }
        }
        (Float64, _) | (_, Float64) => Float64,
        _ => Float32,
    }
}

impl ScalarUDFImpl for PerPartition {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name;
        let numeric = |t: &DataType| is_integer(t) || t.is_null() || t.is_floating();
        let ok = match (self.kind, arg_types) {
            (Kind::Rand | Kind::Randn, []) => true,
            (Kind::Rand | Kind::Randn, [s]) => is_seed(s),
            (Kind::Uniform, [a, b]) => numeric(a) && numeric(b),
            (Kind::Uniform, [a, b, s]) => numeric(a) && numeric(b) && is_seed(s),
            (Kind::RandStr, [n]) => is_integer(n),
            (Kind::RandStr, [n, s]) => is_integer(n) && is_seed(s),
            (Kind::PartitionId | Kind::MonotonicId, []) => true,
            _ => false,
        };
        if !ok {
            let wanted = match self.kind {
                Kind::Rand | Kind::Randn => "an optional INT or BIGINT seed",
                Kind::Uniform => "a numeric min and max and an optional INT or BIGINT seed",
                Kind::RandStr => "an INT length and an optional INT or BIGINT seed",
                Kind::PartitionId | Kind::MonotonicId => "no arguments",
            };
            return plan_err!("{name} takes {wanted}, got ({arg_types:?})");
        }
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Rand | Kind::Randn => DataType::Float64,
            Kind::Uniform => match arg_types {
                [a, b, ..] => uniform_type(a, b),
                _ => return plan_err!("uniform takes a min and a max"),
            },
            Kind::RandStr => DataType::Utf8,
            Kind::PartitionId => DataType::Int32,
            Kind::MonotonicId => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!(
            "`{}` runs only in a select list (Kiln binds it to the partition of the task there)",
            self.name
        )
    }
}

/// The value of a literal argument, or an error naming `what`.
fn literal<'a>(e: &'a Arc<dyn PhysicalExpr>, name: &str, what: &str) -> Result<&'a ScalarValue> {
    match e.downcast_ref::<Literal>() {
        Some(l) => Ok(l.value()),
        None => exec_err!("{name}: the {what} must be a constant"),
    }
}

/// The seed of a call: the literal (NULL is 0, as in Spark), or a random
/// one when the call has none.
fn seed_of(arg: Option<&Arc<dyn PhysicalExpr>>, name: &str) -> Result<i64> {
    let Some(arg) = arg else {
        return Ok(random_seed());
    };
    match literal(arg, name, "seed")?.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(v) => Ok(v.unwrap_or(0)),
        other => exec_err!("{name}: the seed must be an INT or BIGINT, got {other}"),
    }
}

/// A seed for a call without one (Spark draws one per query).
fn random_seed() -> i64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as i64
}

/// The bound form of `call` for partition `partition`, if it is one of
/// this module's functions.
fn bind_call(call: &ScalarFunctionExpr, partition: usize) -> Result<Option<Arc<dyn PhysicalExpr>>> {
    let Some(f) = call.fun().inner().downcast_ref::<PerPartition>() else {
        return Ok(None);
    };
    let (name, args) = (f.name, call.args());
    let float = |e: &Arc<dyn PhysicalExpr>, what: &str| -> Result<Option<f64>> {
        match literal(e, name, what)?.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(v) => Ok(v),
            other => exec_err!("{name}: the {what} must be a number, got {other}"),
        }
    };
    // The bound expression answers the planned call's field, so the
    // projection's schema stays the one the plan was made with.
    let field = call.return_field(&arrow::datatypes::Schema::empty())?;
    let bound = match f.kind {
        Kind::Rand | Kind::Randn => {
            let seed = seed_of(args.first(), name)?;
            BoundPerPartition::generator(f.kind, name, seed, partition, field)
        }
        Kind::Uniform => {
            let (min, max) = (float(&args[0], "min")?, float(&args[1], "max")?);
            let seed = seed_of(args.get(2), name)?;
            BoundPerPartition::uniform(name, seed, partition, min.zip(max), field)
        }
        Kind::RandStr => {
            let length = match literal(&args[0], name, "length")?.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(n)) if n >= 0 => n as usize,
                other => {
                    return exec_err!("{name}: the length must be a non-negative INT, got {other}")
                }
            };
            let seed = seed_of(args.get(1), name)?;
            BoundPerPartition::randstr(name, seed, partition, length, field)
        }
        Kind::PartitionId | Kind::MonotonicId => {
            BoundPerPartition::position(f.kind, name, partition, field)
        }
    };
    Ok(Some(Arc::new(bound)))
}

/// `plan` with every call of this module's functions in its projections
/// bound to `partition`, the partition the task runs (see the module docs).
pub fn bind_to_partition(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(projection) = node.downcast_ref::<ProjectionExec>() else {
            return Ok(Transformed::no(node));
        };
        let mut changed = false;
        let exprs = projection
            .expr()
            .iter()
            .map(|p| {
                let bound = p.expr.clone().transform_up(|e| {
                    let Some(call) = e.downcast_ref::<ScalarFunctionExpr>() else {
                        return Ok(Transformed::no(e));
                    };
                    Ok(match bind_call(call, partition)? {
                        Some(b) => Transformed::yes(b),
                        None => Transformed::no(e),
                    })
                })?;
                changed |= bound.transformed;
                Ok(ProjectionExpr {
                    expr: bound.data,
                    alias: p.alias.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if !changed {
            return Ok(Transformed::no(node));
        }
        let rebuilt = ProjectionExec::try_new(exprs, projection.input().clone())?;
        Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>))
    })
    .data()
}
