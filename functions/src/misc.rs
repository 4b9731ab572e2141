//! Small Spark functions with no DataFusion twin: `typeof` (Spark's type
//! names), `nullifzero`, `zeroifnull`, and `decode` in both of Spark's
//! forms (`decode(expr, search, result, ..., [default])`, and with two
//! arguments `decode(bin, charset)`, planned into `charset`'s function).

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef};
use arrow::compute::kernels::cmp::{eq, not_distinct};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{cast, cast_with_options, is_null, nullif, CastOptions};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::{comparison_coercion, type_union_resolution};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::kinded;

use crate::args::Arrays;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        kinded::function(TypeOf, "typeof"),
        kinded::function(ZeroNull { zero_if_null: true }, "zeroifnull"),
        kinded::function(
            ZeroNull {
                zero_if_null: false,
            },
            "nullifzero",
        ),
        kinded::function(Decode, "decode"),
    ]
}

/// Spark's name of the type an Arrow type holds (`int`, `decimal(10,2)`,
/// `array<string>`, `struct<a:int>`), as `typeof` shows it.
pub fn spark_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "void".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        // Kiln's TIMESTAMP: a wall-clock time without a zone.
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => format!("array<{}>", spark_type_name(f.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                spark_type_name(kv[0].data_type()),
                spark_type_name(kv[1].data_type())
            ),
            other => format!("map<{}>", spark_type_name(other)),
        },
        DataType::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| {
                    let name = f.name();
                    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let name = if plain {
                        name.clone()
                    } else {
                        format!("`{}`", name.replace('`', "``"))
                    };
                    format!("{name}:{}", spark_type_name(f.data_type()))
                })
                .collect();
            format!("struct<{}>", fields.join(","))
        }
        DataType::Interval(arrow::datatypes::IntervalUnit::YearMonth) => {
            "interval year to month".into()
        }
        DataType::Interval(arrow::datatypes::IntervalUnit::DayTime) | DataType::Duration(_) => {
            "interval day to second".into()
        }
        DataType::Interval(_) => "interval".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time(6)".into(),
        DataType::Dictionary(_, v) => spark_type_name(v),
        DataType::RunEndEncoded(_, v) => spark_type_name(v.data_type()),
        other => other.to_string().to_lowercase(),
    }
}

/// `typeof(x)`: Spark's name of the type of `x`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf;

impl kinded::Kind for TypeOf {
    fn signature(&self) -> Signature {
        Signature::any(1, Volatility::Immutable)
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(field) = args.arg_fields.first() else {
            return exec_err!("typeof takes 1 argument");
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            spark_type_name(field.data_type()),
        ))))
    }
}

/// `zeroifnull(x)` (`x`, or 0 where it is NULL, in Spark's type of
/// `coalesce(x, 0)`) and `nullifzero(x)` (`x`, or NULL where it is 0, in
/// the type of `x`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ZeroNull {
    zero_if_null: bool,
}

impl ZeroNull {
    /// Spark's wider type of `t` and the INT literal 0.
    fn zero_if_null_type(t: &DataType) -> Result<DataType> {
        Ok(match t {
            DataType::Null
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16 => DataType::Int32,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => DataType::Int64,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => {
                let (p, s) = (*p as i16, *s as i16);
                // An INT is a DECIMAL(10,0).
                let p = (s + (p - s).max(10)).min(38);
                DataType::Decimal128(p as u8, s as i8)
            }
            // Spark reads a string as a BIGINT here.
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Int64,
            t => return exec_err!("zeroifnull: expects a number, got {t}"),
        })
    }
}

impl kinded::Kind for ZeroNull {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = arg_types else {
            return exec_err!("{name} takes 1 argument, got {}", arg_types.len());
        };
        if self.zero_if_null {
            return Ok(vec![Self::zero_if_null_type(t)?]);
        }
        Ok(vec![match t {
            DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            t if t.is_numeric() || *t == DataType::Null || *t == DataType::Utf8 => t.clone(),
            t => return exec_err!("nullifzero: expects a number, got {t}"),
        }])
    }

    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => exec_err!("{name} takes 1 argument"),
        }
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ansi = args.config_options.execution.enable_ansi_mode;
        let input = Arrays::new(&args.args, args.number_rows)?;
        let x = &input.arrays[0];
        let t = x.data_type().clone();
        if t == DataType::Null {
            return input.answer(x.clone());
        }
        if self.zero_if_null {
            let zero = ScalarValue::new_zero(&t)?.to_scalar()?;
            return input.answer(zip(&is_null(x)?, &zero, x)?);
        }
        let zeros = if t == DataType::Utf8 {
            // Spark compares a string with 0 as a number.
            let options = CastOptions {
                safe: !ansi,
                ..Default::default()
            };
            let n = cast_with_options(x, &DataType::Float64, &options)?;
            eq(&n, &ScalarValue::Float64(Some(0.0)).to_scalar()?)?
        } else {
            eq(x, &ScalarValue::new_zero(&t)?.to_scalar()?)?
        };
        input.answer(nullif(x, &zeros)?)
    }
}

/// `decode(expr, search1, result1, ..., [default])`: the result of the
/// first search value equal to `expr` (NULL equal to NULL, as Spark
/// matches), else `default` or NULL. With two arguments it is Spark's
/// `decode(bin, charset)` ([`crate::charset`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Decode;

impl Decode {
    /// The common type of the key and search values, and of the results.
    fn common_types(&self, arg_types: &[DataType]) -> Result<(DataType, DataType)> {
        let searches: Vec<&DataType> = (1..arg_types.len())
            .step_by(2)
            .filter(|i| i + 1 < arg_types.len())
            .map(|i| &arg_types[i])
            .collect();
        let results: Vec<DataType> = (2..arg_types.len())
            .step_by(2)
            .map(|i| arg_types[i].clone())
            .chain(
                arg_types
                    .len()
                    .is_multiple_of(2)
                    .then(|| arg_types[arg_types.len() - 1].clone()),
            )
            .collect();
        let mut key_type = arg_types[0].clone();
        for s in searches {
            key_type = comparison_coercion(&key_type, s).ok_or_else(|| {
                datafusion::error::DataFusionError::Plan(format!(
                    "decode: cannot compare {key_type} with {s}"
                ))
            })?;
        }
        let result_type = type_union_resolution(&results).ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(format!(
                "decode: the results {results:?} have no common type"
            ))
        })?;
        Ok((key_type, result_type))
    }
}

impl kinded::Kind for Decode {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            0 | 1 => exec_err!("decode takes 2 or more arguments, got {}", arg_types.len()),
            2 => {
                let input = match &arg_types[0] {
                    t @ (DataType::Binary | DataType::LargeBinary | DataType::BinaryView) => {
                        t.clone()
                    }
                    _ => DataType::Binary,
                };
                Ok(vec![input, DataType::Utf8])
            }
            n => {
                let (key, result) = self.common_types(arg_types)?;
                Ok((0..n)
                    .map(|i| {
                        let is_result = i > 0 && (i % 2 == 0 || i == n - 1 && n.is_multiple_of(2));
                        if is_result {
                            result.clone()
                        } else {
                            key.clone()
                        }
                    })
                    .collect())
            }
        }
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.len() {
            0 | 1 => exec_err!("decode takes 2 or more arguments, got {}", arg_types.len()),
            2 => Ok(DataType::Utf8),
            _ => Ok(self.common_types(arg_types)?.1),
        }
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() == 2 {
            return Ok(ExprSimplifyResult::Simplified(crate::charset::plan_decode(
                args, info,
            )));
        }
        Ok(ExprSimplifyResult::Original(args))
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() == 2 {
            return crate::charset::charset_decode().invoke_with_args(args);
        }
        let result_type = args.return_field.data_type().clone();
        let input = Arrays::new(&args.args, args.number_rows)?;
        let a = &input.arrays;
        let n = a.len();
        let mut out: ArrayRef = if n.is_multiple_of(2) {
            cast(&a[n - 1], &result_type)?
        } else {
            new_null_array(&result_type, input.rows)
        };
        // The first match wins: build from the last pair back.
        let pairs = (n - 1) / 2;
        for p in (0..pairs).rev() {
            let (search, result) = (&a[1 + 2 * p], &a[2 + 2 * p]);
            let hit = not_distinct(&a[0], search)?;
            out = zip(&hit, &cast(result, &result_type)?, &out)?;
        }
        input.answer(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_selects, column_type, query};

    #[test]
    fn typeof_names_types_as_spark() {
        // Spark 4.2.1: typeof of each.
        for (sql, want) in [
            ("cast(1 as int)", "int"),
            ("cast(1 as bigint)", "bigint"),
            ("cast(1 as tinyint)", "tinyint"),
            ("cast(1 as smallint)", "smallint"),
            ("1.5", "decimal(2,1)"),
            ("cast(1.5 as double)", "double"),
            ("cast(1.5 as float)", "float"),
            ("'a'", "string"),
            ("null", "void"),
            ("true", "boolean"),
            ("date '2020-01-01'", "date"),
            ("cast('2020-01-01' as timestamp)", "timestamp"),
            ("cast(1 as decimal(10,2))", "decimal(10,2)"),
            ("[cast(1 as int)]", "array<int>"),
            (
                "named_struct('a', cast(1 as int), 'b', 'x')",
                "struct<a:int,b:string>",
            ),
            (
                "[named_struct('a', [cast(1 as bigint)])]",
                "array<struct<a:array<bigint>>>",
            ),
        ] {
            assert_eq!(
                query(&format!("select typeof({sql})")),
                vec![want.to_string()],
                "{sql}"
            );
        }
    }

    #[test]
    fn zeroifnull_and_nullifzero_as_spark() {
        // conditional-functions.sql.out (4.2.0) and Spark 4.2.1 runs.
        assert_selects(&[
            ("nullifzero(0)", "NULL"),
            ("nullifzero(5)", "5"),
            ("nullifzero(0.0)", "NULL"),
            ("nullifzero(null)", "NULL"),
            ("nullifzero('0')", "NULL"),
            ("zeroifnull(null)", "0"),
            ("zeroifnull(5)", "5"),
            ("zeroifnull(cast(null as decimal(5,2)))", "0.00"),
        ]);
        assert_eq!(
            column_type("select zeroifnull(cast(null as decimal(5,2)))"),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(
            column_type("select zeroifnull(cast(null as tinyint))"),
            DataType::Int32
        );
        assert_eq!(
            column_type("select nullifzero(cast(0 as tinyint))"),
            DataType::Int8
        );
    }

    #[test]
    fn decode_matches_like_spark() {
        // string-functions.sql.out (4.2.0).
        assert_selects(&[
            ("decode(1, 1, 'Southlake')", "Southlake"),
            ("decode(2, 1, 'Southlake')", "NULL"),
            ("decode(2, 1, 'Southlake', 2, 'San Francisco', 3, 'New Jersey', 4, 'Seattle', 'Non domestic')", "San Francisco"),
            ("decode(6, 1, 'Southlake', 2, 'San Francisco', 3, 'New Jersey', 4, 'Seattle', 'Non domestic')", "Non domestic"),
            ("decode(6, 1, 'Southlake', 2, 'San Francisco', 3, 'New Jersey', 4, 'Seattle')", "NULL"),
            ("decode(null, 6, 'Spark', NULL, 'SQL', 4, 'rocks')", "SQL"),
            ("decode(null, 6, 'Spark', NULL, 'SQL', 4, 'rocks', NULL, '.')", "SQL"),
            ("decode(1, null, 'a', 'b')", "b"),
            // The two-argument form decodes a character set.
            ("decode(encode('大千世界', 'utf-32'), 'utf-32')", "大千世界"),
        ]);
        assert_eq!(
            query("select decode(x, 1, 'one', 2, 'two', 'many') from (values (1), (2), (3), (null)) t(x)"),
            vec!["one", "two", "many", "many"]
        );
    }
}
