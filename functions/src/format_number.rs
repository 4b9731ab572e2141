//! Spark's `format_number(x, d)`: `x` with `d` decimals, rounded HALF_EVEN
//! as Java's `DecimalFormat` rounds (on the decimal a double prints as),
//! thousands grouped with commas (`1,234.5000`); NULL for `d < 0`. The
//! form with a `DecimalFormat` pattern instead of `d` is not supported.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded;
use crate::numbers::round_half_even;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(FormatNumber, "format_number")])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatNumber;

/// `digits` (an optional `-`, digits, an optional fraction) with its whole
/// part grouped by thousands.
fn grouped(digits: &str) -> String {
    let (sign, rest) = match digits.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", digits),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(digits.len() + whole.len() / 3);
    out.push_str(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A double with `d` decimals.
fn format_double(v: f64, d: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞".into() } else { "-∞".into() };
    }
    let rounded = round_half_even(v, d.min(i32::MAX as usize) as i32);
    // Java prints no sign for a value that rounds to zero.
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    grouped(&format!("{rounded:.d$}"))
}

/// An integer with `d` decimals (all zero).
fn format_integer(v: i64, d: usize) -> String {
    let mut s = v.to_string();
    if d > 0 {
        s.push('.');
        s.extend(std::iter::repeat_n('0', d));
    }
    grouped(&s)
}

impl kinded::Kind for FormatNumber {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [x, d] if (x.is_numeric() || x.is_null()) && (d.is_integer() || d.is_null()) => {
                let x = if x.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                Ok(vec![x, DataType::Int64])
            }
            [_, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View] => {
                plan_err!("format_number with a DecimalFormat pattern is not supported by Kiln (give the number of decimals)")
            }
            _ => plan_err!(
                "format_number takes a number and an INT number of decimals, got ({arg_types:?})"
            ),
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let d = cast(&a.arrays[1], &DataType::Int64)?;
        let d = d.as_primitive::<Int64Type>();
        let x = &a.arrays[0];
        let decimals = |row: usize| -> Option<usize> {
            (!d.is_null(row) && d.value(row) >= 0).then(|| d.value(row) as usize)
        };
        let out: StringArray = match x.data_type() {
            DataType::Int64 => {
                let x = x.as_primitive::<Int64Type>();
                (0..a.rows)
                    .map(|r| {
                        Some(format_integer(
                            x.is_valid(r).then(|| x.value(r))?,
                            decimals(r)?,
                        ))
                    })
                    .collect()
            }
            DataType::Float64 => {
                let x = x.as_primitive::<Float64Type>();
                (0..a.rows)
                    .map(|r| {
                        Some(format_double(
                            x.is_valid(r).then(|| x.value(r))?,
                            decimals(r)?,
                        ))
                    })
                    .collect()
            }
            DataType::Null => StringArray::new_null(a.rows),
            other => return exec_err!("format_number of a {other}"),
        };
        a.answer(Arc::new(out) as ArrayRef)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_and_rounded() {
        assert_eq!(format_integer(5, 4), "5.0000");
        assert_eq!(format_integer(-1234567, 0), "-1,234,567");
        assert_eq!(format_double(12332.123456, 4), "12,332.1235");
        assert_eq!(format_double(0.125, 2), "0.12");
        assert_eq!(format_double(999.5, 0), "1,000");
    }
}
