//! Spark's number functions DataFusion answers differently or lacks:
//! `bround` (HALF_EVEN rounding of the decimal a double prints as),
//! `sqrt` (NaN for a negative, where DataFusion fails) and `conv` (a
//! number's digits from one base to another, through an unsigned 64-bit
//! value as Spark's `NumberConverter`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded;

kinded::family! {
    BRound = "bround",
    Sqrt = "sqrt",
    Conv = "conv",
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric() || t.is_null()
}

impl kinded::Kind for Kind {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match (*self, arg_types) {
            (Kind::Sqrt, [t]) if is_number(t) || t.is_null() => Ok(vec![DataType::Float64]),
            (Kind::BRound, [t]) if is_number(t) => Ok(vec![bround_type(t)?]),
            (Kind::BRound, [t, s]) if is_number(t) && (s.is_integer() || s.is_null()) => {
                Ok(vec![bround_type(t)?, DataType::Int32])
            }
            (Kind::Conv, [_, a, b]) if is_number(a) && is_number(b) => {
                Ok(vec![DataType::Utf8, DataType::Int32, DataType::Int32])
            }
            _ => {
                let wanted = match *self {
                    Kind::Sqrt => "a number",
                    Kind::BRound => "a number and an optional INT scale",
                    Kind::Conv => "a string and two INT bases",
                };
                plan_err!("{name} takes {wanted}, got ({arg_types:?})")
            }
        }
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match *self {
            Kind::Sqrt => DataType::Float64,
            Kind::BRound => arg_types.first().cloned().unwrap_or(DataType::Float64),
            Kind::Conv => DataType::Utf8,
        })
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ansi = args.config_options.execution.enable_ansi_mode;
        let a = Arrays::new(&args.args, args.number_rows)?;
        let out: ArrayRef = match *self {
            Kind::Sqrt => {
                let x = cast(&a.arrays[0], &DataType::Float64)?;
                let x = x.as_primitive::<arrow::datatypes::Float64Type>();
                Arc::new(x.iter().map(|v| v.map(f64::sqrt)).collect::<Float64Array>())
            }
            Kind::BRound => bround(&a)?,
            Kind::Conv => {
                let n = a.arrays[0].as_string::<i32>();
                let from = a.arrays[1].as_primitive::<arrow::datatypes::Int32Type>();
                let to = a.arrays[2].as_primitive::<arrow::datatypes::Int32Type>();
                let mut out = Vec::with_capacity(a.rows);
                for row in 0..a.rows {
                    if n.is_null(row) || from.is_null(row) || to.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    out.push(convert(n.value(row), from.value(row), to.value(row), ansi)?);
                }
                Arc::new(StringArray::from(out))
            }
        };
        a.answer(out)
    }
}

/// The type `bround` computes in (and answers): doubles and integers as
/// they are, other numbers as a DOUBLE.
fn bround_type(t: &DataType) -> Result<DataType> {
    Ok(match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => t.clone(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            return plan_err!("bround of a DECIMAL is not supported by Kiln yet")
        }
        _ => DataType::Float64,
    })
}

fn bround(a: &Arrays) -> Result<ArrayRef> {
    let scale = match a.arrays.get(1) {
        Some(s) => {
            if s.null_count() > 0 {
                return Ok(arrow::array::new_null_array(
                    a.arrays[0].data_type(),
                    a.rows,
                ));
            }
            let s = s.as_primitive::<arrow::datatypes::Int32Type>();
            match s.len() {
                0 => 0,
                _ => s.value(0),
            }
        }
        None => 0,
    };
    let x = &a.arrays[0];
    if x.data_type() == &DataType::Float64 {
        let x = x.as_primitive::<arrow::datatypes::Float64Type>();
        return Ok(Arc::new(
            x.iter()
                .map(|v| v.map(|v| round_half_even(v, scale)))
                .collect::<Float64Array>(),
        ));
    }
    // Integers: unchanged for a scale >= 0, else to a multiple of 10^-scale.
    let wide = cast(x, &DataType::Int64)?;
    let wide = wide.as_primitive::<arrow::datatypes::Int64Type>();
    let mut out = Vec::with_capacity(wide.len());
    for v in wide.iter() {
        out.push(match v {
            Some(v) if scale < 0 => Some(round_integer_half_even(v, -scale)?),
            other => other,
        });
    }
    Ok(cast(
        &(Arc::new(arrow::array::Int64Array::from(out)) as ArrayRef),
        x.data_type(),
    )?)
}

/// `v` rounded HALF_EVEN to a multiple of 10^`digits`.
fn round_integer_half_even(v: i64, digits: i32) -> Result<i64> {
    if digits > 18 {
        return Ok(0);
    }
    let unit = 10i128.pow(digits as u32);
    let (q, r) = (i128::from(v) / unit, i128::from(v) % unit);
    let twice = 2 * r.abs();
    let up = twice > unit || (twice == unit && q % 2 != 0);
    let q = if up { q + r.signum() } else { q };
    match i64::try_from(q * unit) {
        Ok(v) => Ok(v),
        Err(_) => exec_err!("[ARITHMETIC_OVERFLOW] bround({v}, -{digits}) overflows"),
    }
}

/// `v` rounded HALF_EVEN to `scale` decimal places of the decimal it prints
/// as (Spark rounds `BigDecimal(v)`, whose digits are `Double.toString`'s).
pub(crate) fn round_half_even(v: f64, scale: i32) -> f64 {
    if !v.is_finite() {
        return v;
    }
    // Shortest digits that read back as v: d.ddd × 10^exp.
    let text = format!("{:e}", v.abs());
    let Some((mantissa, exp)) = text.split_once('e') else {
        return v;
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return v;
    };
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // How many leading digits stay: those down to 10^-scale.
    let keep = exp + 1 + i64::from(scale);
    if keep >= digits.len() as i64 {
        return v;
    }
    let (kept, dropped): (&[u8], &[u8]) = if keep <= 0 {
        (&[], if keep == 0 { &digits[..] } else { &[] })
    } else {
        digits.split_at(keep as usize)
    };
    let mut k: u128 = kept.iter().fold(0, |k, d| k * 10 + u128::from(*d));
    if let Some((first, rest)) = dropped.split_first() {
        let rest_zero = rest.iter().all(|d| *d == 0);
        if *first > 5 || (*first == 5 && (!rest_zero || k % 2 == 1)) {
            k += 1;
        }
    }
    let magnitude: f64 = format!("{k}e{}", -i64::from(scale)).parse().unwrap_or(0.0);
    magnitude.copysign(v)
}

/// Spark's `conv`: NULL for a base out of 2..=36 or an empty string; the
/// leading digits valid in `from` read as an unsigned 64-bit number.
fn convert(n: &str, from: i32, to: i32, ansi: bool) -> Result<Option<String>> {
    if !(2..=36).contains(&from) || !(2..=36).contains(&to.abs()) || n.is_empty() {
        return Ok(None);
    }
    let (mut negative, digits) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n),
    };
    let mut v: u64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(from as u32) else {
            break;
        };
        match v.checked_mul(from as u64).and_then(|x| x.checked_add(u64::from(d))) {
            Some(next) => v = next,
            None if ansi => {
                return exec_err!("[ARITHMETIC_OVERFLOW] Overflow in function conv(). If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error.")
            }
            None => {
                v = u64::MAX;
                break;
            }
        }
    }
    if negative && to > 0 {
        v = if (v as i64) < 0 {
            u64::MAX
        } else {
            v.wrapping_neg()
        };
    }
    if to < 0 && (v as i64) < 0 {
        v = v.wrapping_neg();
        negative = true;
    }
    let radix = to.unsigned_abs() as u64;
    let mut out = Vec::new();
    loop {
        let d = (v % radix) as u32;
        out.push(
            std::char::from_digit(d, radix as u32)
                .unwrap_or('0')
                .to_ascii_uppercase(),
        );
        v /= radix;
        if v == 0 {
            break;
        }
    }
    if negative && to < 0 {
        out.push('-');
    }
    Ok(Some(out.into_iter().rev().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_of_the_printed_decimal() {
        assert_eq!(round_half_even(2.5, 0), 2.0);
        assert_eq!(round_half_even(3.5, 0), 4.0);
        assert_eq!(round_half_even(2.1267, 2), 2.13);
        assert_eq!(round_half_even(-2.125, 2), -2.12);
        assert_eq!(round_half_even(0.5, 0), 0.0);
        assert_eq!(round_half_even(1234.0, -2), 1200.0);
        assert_eq!(round_integer_half_even(250, 2).ok(), Some(200));
        assert_eq!(round_integer_half_even(-350, 2).ok(), Some(-400));
    }

    #[test]
    fn conv_through_unsigned_64_bits() {
        let c = |n, f, t| convert(n, f, t, false).ok().flatten();
        assert_eq!(c("010101", 2, 16).as_deref(), Some("15"));
        assert_eq!(c("ff", 16, 10).as_deref(), Some("255"));
        assert_eq!(c("-10", 16, -10).as_deref(), Some("-16"));
        assert_eq!(c("-1", 10, 16).as_deref(), Some("FFFFFFFFFFFFFFFF"));
        assert_eq!(c("12x4", 10, 10).as_deref(), Some("12"));
        assert_eq!(c("1", 1, 10), None);
    }
}
