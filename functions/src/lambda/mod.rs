//! Spark's higher-order functions, the ones that take lambdas:
//! `transform`, `filter`, `exists`, `forall`, `zip_with`, `aggregate`
//! (`reduce`), `array_sort` with a comparator, `map_filter`,
//! `transform_keys`, `transform_values` and `map_zip_with`.
//!
//! They are DataFusion higher-order functions (`HigherOrderUDF`): the plan
//! carries the lambda as an expression, DataFusion evaluates its body over
//! a batch of the lambda's arguments (the array elements of every row, back
//! to back) with the columns the body captures spread to match, and plans
//! name the function, so executors resolve it from this same registry.
//! Spark's semantics: a NULL array or map gives NULL, `exists`/`forall`
//! follow three-valued logic, `zip_with` pads the shorter array with NULLs,
//! the index argument of `transform`/`filter` is an INT.

mod array;
mod elements;
mod fold;
mod map;
mod sort;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};

/// Which Spark function a [`SparkHigherOrder`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Transform,
    Filter,
    Exists,
    Forall,
    ZipWith,
    Aggregate,
    ArraySort,
    MapFilter,
    TransformKeys,
    TransformValues,
    MapZipWith,
}

/// The functions of this module.
pub fn functions() -> Vec<Arc<HigherOrderUDF>> {
    let table: [(Kind, &str, &[&str]); 11] = [
        (Kind::Transform, "transform", &[]),
        (Kind::Filter, "filter", &[]),
        (Kind::Exists, "exists", &[]),
        (Kind::Forall, "forall", &[]),
        (Kind::ZipWith, "zip_with", &[]),
        (Kind::Aggregate, "aggregate", &["reduce"]),
        (Kind::ArraySort, "array_sort", &[]),
        (Kind::MapFilter, "map_filter", &[]),
        (Kind::TransformKeys, "transform_keys", &[]),
        (Kind::TransformValues, "transform_values", &[]),
        (Kind::MapZipWith, "map_zip_with", &[]),
    ];
    table
        .into_iter()
        .map(|(kind, name, aliases)| {
            Arc::new(HigherOrderUDF::new_from_impl(SparkHigherOrder {
                kind,
                name,
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                signature: HigherOrderSignature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// One of Spark's higher-order functions.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkHigherOrder {
    kind: Kind,
    name: &'static str,
    aliases: Vec<String>,
    signature: HigherOrderSignature,
}

/// The element field of a list type, or the key and value fields of a map.
fn element_of(name: &str, t: &DataType) -> Result<FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(f.clone()),
        DataType::Null => Ok(Arc::new(Field::new("element", DataType::Null, true))),
        other => plan_err!("{name} takes an array, not {other}"),
    }
}

fn map_entries_of(name: &str, t: &DataType) -> Result<(FieldRef, FieldRef)> {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Ok((kv[0].clone(), kv[1].clone())),
            other => plan_err!("{name}: a map's entries must be a key and a value, not {other}"),
        },
        other => plan_err!("{name} takes a map, not {other}"),
    }
}

fn nullable(f: &FieldRef) -> FieldRef {
    Arc::new(f.as_ref().clone().with_nullable(true))
}

fn param(name: &str, t: DataType, nullable: bool) -> FieldRef {
    Arc::new(Field::new(name, t, nullable))
}

/// The value arguments and the lambdas of a call, in order.
fn split<V, L>(args: &[ValueOrLambda<V, L>]) -> (Vec<&V>, Vec<&L>) {
    let mut values = vec![];
    let mut lambdas = vec![];
    for a in args {
        match a {
            ValueOrLambda::Value(v) => values.push(v),
            ValueOrLambda::Lambda(l) => lambdas.push(l),
        }
    }
    (values, lambdas)
}

impl SparkHigherOrder {
    /// How many values and lambdas the function takes (the lambda count's
    /// range for `aggregate`'s optional finish).
    fn arity(&self) -> (usize, std::ops::RangeInclusive<usize>) {
        match self.kind {
            Kind::ZipWith | Kind::MapZipWith => (2, 1..=1),
            Kind::Aggregate => (2, 1..=2),
            _ => (1, 1..=1),
        }
    }

    /// Whether value argument `i` is an array (a NULL there is an empty
    /// array type).
    fn takes_array_at(&self, i: usize) -> bool {
        match self.kind {
            Kind::MapFilter | Kind::TransformKeys | Kind::TransformValues | Kind::MapZipWith => {
                false
            }
            Kind::ZipWith => i < 2,
            _ => i == 0,
        }
    }

    fn check_arity(&self, values: usize, lambdas: usize) -> Result<()> {
        let (v, l) = self.arity();
        if values != v || !l.contains(&lambdas) {
            return plan_err!(
                "{} takes {v} value argument(s) and {} lambda(s), got {values} and {lambdas}",
                self.name,
                if l.start() == l.end() {
                    l.start().to_string()
                } else {
                    format!("{} or {}", l.start(), l.end())
                }
            );
        }
        Ok(())
    }

    /// The parameters of each lambda, from the value arguments' types.
    fn parameters(&self, values: &[&FieldRef], lambdas: usize) -> Result<Vec<Vec<FieldRef>>> {
        let name = self.name;
        let t = |i: usize| values[i].data_type();
        Ok(match self.kind {
            Kind::Transform | Kind::Filter => {
                let e = element_of(name, t(0))?;
                vec![vec![e, param("index", DataType::Int32, false)]]
            }
            Kind::Exists | Kind::Forall => vec![vec![element_of(name, t(0))?]],
            Kind::ArraySort => {
                let e = element_of(name, t(0))?;
                vec![vec![e.clone(), e]]
            }
            Kind::ZipWith => vec![vec![
                nullable(&element_of(name, t(0))?),
                nullable(&element_of(name, t(1))?),
            ]],
            Kind::Aggregate => {
                let acc = param("acc", t(1).clone(), true);
                let merge = vec![acc.clone(), element_of(name, t(0))?];
                if lambdas == 2 {
                    vec![merge, vec![acc]]
                } else {
                    vec![merge]
                }
            }
            Kind::MapFilter | Kind::TransformKeys | Kind::TransformValues => {
                let (k, v) = map_entries_of(name, t(0))?;
                vec![vec![k, v]]
            }
            Kind::MapZipWith => {
                let (k, v1) = map_entries_of(name, t(0))?;
                let (k2, v2) = map_entries_of(name, t(1))?;
                if k.data_type() != k2.data_type() {
                    return plan_err!(
                        "map_zip_with: the maps' keys must be of one type, not {} and {}",
                        k.data_type(),
                        k2.data_type()
                    );
                }
                vec![vec![k, nullable(&v1), nullable(&v2)]]
            }
        })
    }
}

impl HigherOrderUDFImpl for SparkHigherOrder {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    /// Arrays become `List`s (so the functions read one layout); other
    /// values keep their type.
    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(f.clone()),
                DataType::Null if self.takes_array_at(i) => {
                    DataType::new_list(DataType::Null, true)
                }
                other => other.clone(),
            })
            .collect())
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let (values, lambdas) = split(fields);
        self.check_arity(values.len(), lambdas.len())?;
        Ok(LambdaParametersProgress::Complete(
            self.parameters(&values, lambdas.len())?,
        ))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let (values, lambdas) = split(args.arg_fields);
        self.check_arity(values.len(), lambdas.len())?;
        let body = lambdas[lambdas.len() - 1];
        let t = match self.kind {
            Kind::Transform => DataType::new_list(body.data_type().clone(), true),
            // The input's own type: the elements are kept as they are.
            Kind::Filter | Kind::ArraySort => values[0].data_type().clone(),
            Kind::Exists | Kind::Forall => DataType::Boolean,
            Kind::ZipWith => DataType::new_list(body.data_type().clone(), true),
            Kind::Aggregate => {
                // Without a finish, the result is the accumulator's.
                if lambdas.len() == 1 {
                    values[1].data_type().clone()
                } else {
                    body.data_type().clone()
                }
            }
            Kind::MapFilter => values[0].data_type().clone(),
            Kind::TransformKeys => {
                let (_, v) = map_entries_of(self.name, values[0].data_type())?;
                map::map_type(param("key", body.data_type().clone(), false), v)
            }
            Kind::TransformValues => {
                let (k, _) = map_entries_of(self.name, values[0].data_type())?;
                map::map_type(k, param("value", body.data_type().clone(), true))
            }
            Kind::MapZipWith => {
                let (k, _) = map_entries_of(self.name, values[0].data_type())?;
                map::map_type(k, param("value", body.data_type().clone(), true))
            }
        };
        Ok(param(self.name, t, true))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut values = vec![];
        let mut lambdas: Vec<&LambdaArgument> = vec![];
        for a in &args.args {
            match a {
                ValueOrLambda::Value(v) => values.push(v.to_array(rows)?),
                ValueOrLambda::Lambda(l) => lambdas.push(l),
            }
        }
        self.check_arity(values.len(), lambdas.len())?;
        let out_type = args.return_type().clone();
        let result = match self.kind {
            Kind::Transform => array::transform(&values[0], lambdas[0], &out_type)?,
            Kind::Filter => array::filter(&values[0], lambdas[0])?,
            Kind::Exists => array::exists(&values[0], lambdas[0], true)?,
            Kind::Forall => array::exists(&values[0], lambdas[0], false)?,
            Kind::ZipWith => array::zip_with(&values[0], &values[1], lambdas[0], &out_type)?,
            Kind::Aggregate => fold::aggregate(&values[0], &values[1], &lambdas, &out_type)?,
            Kind::ArraySort => sort::array_sort(&values[0], lambdas[0])?,
            Kind::MapFilter => map::map_filter(&values[0], lambdas[0])?,
            Kind::TransformKeys => map::transform_entries(&values[0], lambdas[0], true, &out_type)?,
            Kind::TransformValues => {
                map::transform_entries(&values[0], lambdas[0], false, &out_type)?
            }
            Kind::MapZipWith => map::map_zip_with(&values[0], &values[1], lambdas[0], &out_type)?,
        };
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{query_spark as query, query_spark_err as query_err};

    #[test]
    fn arrays_through_lambdas() {
        assert_eq!(
            query("SELECT transform(array(1, 2, 3), x -> x * 2)"),
            ["[2, 4, 6]"]
        );
        assert_eq!(
            query("SELECT transform(array(10, 20), (x, i) -> x + i)"),
            ["[10, 21]"]
        );
        assert_eq!(
            query("SELECT filter(array(1, NULL, 3, 4), x -> x > 2)"),
            ["[3, 4]"]
        );
        assert_eq!(
            query("SELECT filter(array(5, 6, 7), (x, i) -> i > 0)"),
            ["[6, 7]"]
        );
    }

    #[test]
    fn exists_and_forall_follow_three_valued_logic() {
        assert_eq!(
            query(
                "SELECT `exists`(array(1, NULL), x -> x > 1), `exists`(array(1, NULL, 3), x -> x > 2), \
                 `exists`(array(1), x -> x > 1), `exists`(CAST(NULL AS ARRAY<INT>), x -> x > 1)"
            ),
            ["NULL|true|false|NULL"]
        );
        assert_eq!(
            query(
                "SELECT forall(array(1, NULL), x -> x > 0), forall(array(0, NULL), x -> x > 0), \
                 forall(array(1, 2), x -> x > 0), forall(array(), x -> x > 0)"
            ),
            ["NULL|false|true|true"]
        );
    }

    #[test]
    fn zip_with_pads_the_shorter_array() {
        assert_eq!(
            query("SELECT zip_with(array(1, 2, 3), array(10, 20), (x, y) -> coalesce(x + y, -1))"),
            ["[11, 22, -1]"]
        );
    }

    #[test]
    fn aggregate_folds_each_row() {
        assert_eq!(
            query("SELECT aggregate(array(1, 2, 3), 0, (acc, x) -> acc + x)"),
            ["6"]
        );
        assert_eq!(
            query("SELECT reduce(array(1, 2, 3), 10, (acc, x) -> acc + x, acc -> acc * 2)"),
            ["32"]
        );
        assert_eq!(
            query("SELECT aggregate(CAST(NULL AS ARRAY<INT>), 0, (acc, x) -> acc + x)"),
            ["NULL"]
        );
        // Captured columns of the row, across rows of different lengths.
        assert_eq!(
            query(
                "SELECT aggregate(a, 0, (acc, x) -> acc + x * k) FROM \
                 (VALUES (array(1, 2), 10), (array(5), 100), (array(), 1)) AS t(a, k)"
            ),
            ["30", "500", "0"]
        );
    }

    #[test]
    fn maps_through_lambdas() {
        assert_eq!(
            query("SELECT map_filter(map('a', 1, 'b', 2), (k, v) -> v > 1)"),
            ["{b: 2}"]
        );
        assert_eq!(
            query("SELECT transform_values(map('a', 1, 'b', 2), (k, v) -> v * 10)"),
            ["{a: 10, b: 20}"]
        );
        assert_eq!(
            query("SELECT transform_keys(map('a', 1, 'b', 2), (k, v) -> upper(k))"),
            ["{A: 1, B: 2}"]
        );
        assert_eq!(
            query(
                "SELECT map_zip_with(map('a', 1, 'b', 2), map('b', 3, 'c', 4), \
                 (k, v1, v2) -> coalesce(v1, 0) + coalesce(v2, 0))"
            ),
            ["{a: 1, b: 5, c: 4}"]
        );
    }

    #[test]
    fn transform_keys_rejects_a_null_key() {
        let err = query_err("SELECT transform_keys(map('a', 1), (k, v) -> CAST(NULL AS STRING))");
        assert!(err.contains("NULL"), "{err}");
    }
}
