//! Spark's `try_add`, `try_subtract`, `try_multiply`, `try_divide` and
//! `try_mod`: arithmetic that gives NULL where the operator would fail (an
//! integer or decimal overflow, a zero divisor), whatever the ANSI mode.
//!
//! Types follow Spark's: integers keep the wider operand type (`try_divide`
//! of integers is a DOUBLE), a float makes the result a DOUBLE, and
//! decimals get Spark's precision and scale (with its precision-loss
//! adjustment above 38 digits).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, PrimitiveArray};
use arrow::datatypes::{
    i256, ArrowPrimitiveType, DataType, Decimal128Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type,
};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::kinded;

use crate::args::Arrays;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions(
        [Op::Add, Op::Subtract, Op::Multiply, Op::Divide, Op::Mod].map(|op| {
            let f = TryArithmetic { op };
            (f, f.name())
        }),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TryArithmetic {
    op: Op,
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Spark's widening of an unsigned or small integer into its signed types.
fn signed(t: &DataType) -> DataType {
    match t {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        t => t.clone(),
    }
}

fn rank(t: &DataType) -> u8 {
    match t {
        DataType::Int8 => 1,
        DataType::Int16 => 2,
        DataType::Int32 => 3,
        _ => 4,
    }
}

/// The DECIMAL an integer type widens to (as many digits as it can hold).
fn integer_decimal(t: &DataType) -> DataType {
    match t {
        DataType::Int8 | DataType::UInt8 => DataType::Decimal128(3, 0),
        DataType::Int16 | DataType::UInt16 => DataType::Decimal128(5, 0),
        DataType::Int32 | DataType::UInt32 => DataType::Decimal128(10, 0),
        _ => DataType::Decimal128(20, 0),
    }
}

/// Spark's bound on a decimal result wider than 38 digits: keep the
/// integer digits, and at least 6 (or the scale, if smaller) of the scale.
fn adjust(p: i32, s: i32) -> (u8, i8) {
    if p <= 38 {
        return (p as u8, s as i8);
    }
    let int_digits = p - s;
    let s = (38 - int_digits).max(s.min(6));
    (38, s as i8)
}

impl TryArithmetic {
    /// Spark's name of the function.
    fn name(&self) -> &'static str {
        match self.op {
            Op::Add => "try_add",
            Op::Subtract => "try_subtract",
            Op::Multiply => "try_multiply",
            Op::Divide => "try_divide",
            Op::Mod => "try_mod",
        }
    }

    fn operand_types(&self, l: &DataType, r: &DataType) -> Result<(DataType, DataType)> {
        let (l, r) = match (l, r) {
            (DataType::Null, DataType::Null) => (DataType::Int32, DataType::Int32),
            (DataType::Null, t) | (t, DataType::Null) => (t.clone(), t.clone()),
            (l, r) => (l.clone(), r.clone()),
        };
        let (l, r) = (signed(&l), signed(&r));
        let supported = |t: &DataType| t.is_numeric() || is_string(t);
        if !supported(&l) || !supported(&r) || (is_string(&l) && is_string(&r)) {
            return exec_err!(
                "{}: the operands must be numbers, got {l} and {r} (dates and intervals are not supported yet)",
                self.name()
            );
        }
        // Spark reads a string as a BIGINT beside an integer, else a DOUBLE.
        let of_string = |other: &DataType| {
            if other.is_integer() {
                DataType::Int64
            } else {
                DataType::Float64
            }
        };
        let l2 = if is_string(&l) {
            of_string(&r)
        } else {
            l.clone()
        };
        let r2 = if is_string(&r) {
            of_string(&l)
        } else {
            r.clone()
        };
        let (l, r) = (l2, r2);
        Ok(match (&l, &r) {
            (DataType::Float32, DataType::Float32) if self.op != Op::Divide => {
                (DataType::Float32, DataType::Float32)
            }
            (a, b) if a.is_floating() || b.is_floating() => (DataType::Float64, DataType::Float64),
            (a, b) if a.is_integer() && b.is_integer() => {
                if self.op == Op::Divide {
                    (DataType::Float64, DataType::Float64)
                } else {
                    let wide = if rank(a) >= rank(b) {
                        a.clone()
                    } else {
                        b.clone()
                    };
                    (wide.clone(), wide)
                }
            }
            (a, b) => {
                let as_decimal = |t: &DataType| match t {
                    DataType::Decimal128(p, s)
                    | DataType::Decimal256(p, s)
                    | DataType::Decimal64(p, s)
                    | DataType::Decimal32(p, s) => DataType::Decimal128((*p).min(38), *s),
                    t => integer_decimal(t),
                };
                (as_decimal(a), as_decimal(b))
            }
        })
    }

    fn result_type(&self, l: &DataType, r: &DataType) -> Result<DataType> {
        Ok(match (l, r) {
            (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) => {
                let (p1, s1, p2, s2) = (*p1 as i32, *s1 as i32, *p2 as i32, *s2 as i32);
                let (p, s) = match self.op {
                    Op::Add | Op::Subtract => {
                        let s = s1.max(s2);
                        adjust((p1 - s1).max(p2 - s2) + s + 1, s)
                    }
                    Op::Multiply => adjust(p1 + p2 + 1, s1 + s2),
                    Op::Divide => {
                        let s = 6.max(s1 + p2 + 1);
                        adjust(p1 - s1 + s2 + s, s)
                    }
                    Op::Mod => {
                        let s = s1.max(s2);
                        let p = (p1 - s1).min(p2 - s2) + s;
                        (p.min(38) as u8, s.min(38) as i8)
                    }
                };
                DataType::Decimal128(p, s)
            }
            (l, _) => l.clone(),
        })
    }
}

impl kinded::Kind for TryArithmetic {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [l, r] = arg_types else {
            return exec_err!("{} takes 2 arguments, got {}", self.name(), arg_types.len());
        };
        let (l, r) = self.operand_types(l, r)?;
        Ok(vec![l, r])
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        let [l, r] = arg_types else {
            return exec_err!("{} takes 2 arguments, got {}", self.name(), arg_types.len());
        };
        let (l, r) = self.operand_types(l, r)?;
        self.result_type(&l, &r)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let (l, r) = (&input.arrays[0], &input.arrays[1]);
        let out: ArrayRef = match (l.data_type(), r.data_type()) {
            (DataType::Int8, DataType::Int8) => self.integers::<Int8Type>(l, r),
            (DataType::Int16, DataType::Int16) => self.integers::<Int16Type>(l, r),
            (DataType::Int32, DataType::Int32) => self.integers::<Int32Type>(l, r),
            (DataType::Int64, DataType::Int64) => self.integers::<Int64Type>(l, r),
            (DataType::Float32, DataType::Float32) => self.floats::<Float32Type>(l, r),
            (DataType::Float64, DataType::Float64) => self.floats::<Float64Type>(l, r),
            (DataType::Decimal128(..), DataType::Decimal128(..)) => self.decimals(l, r)?,
            (a, b) => return exec_err!("{}: unexpected operand types {a} and {b}", self.name()),
        };
        input.answer(out)
    }
}

/// Integer operations that report an overflow instead of wrapping.
trait Checked: Copy + Default + PartialEq {
    fn add(self, o: Self) -> Option<Self>;
    fn sub(self, o: Self) -> Option<Self>;
    fn mul(self, o: Self) -> Option<Self>;
    fn rem(self, o: Self) -> Self;
}

macro_rules! checked {
    ($($t:ty),*) => {$(
        impl Checked for $t {
            fn add(self, o: Self) -> Option<Self> { self.checked_add(o) }
            fn sub(self, o: Self) -> Option<Self> { self.checked_sub(o) }
            fn mul(self, o: Self) -> Option<Self> { self.checked_mul(o) }
            // `MIN % -1` is 0 in Java, as wrapping_rem gives it.
            fn rem(self, o: Self) -> Self { self.wrapping_rem(o) }
        }
    )*};
}
checked!(i8, i16, i32, i64);

/// Rows of two same-typed arrays combined by `f` (NULL when either is).
fn zip_with<T: ArrowPrimitiveType, O: ArrowPrimitiveType>(
    l: &ArrayRef,
    r: &ArrayRef,
    f: impl Fn(T::Native, T::Native) -> Option<O::Native>,
) -> PrimitiveArray<O> {
    let (l, r) = (l.as_primitive::<T>(), r.as_primitive::<T>());
    l.iter().zip(r.iter()).map(|(a, b)| f(a?, b?)).collect()
}

impl TryArithmetic {
    fn integers<T>(&self, l: &ArrayRef, r: &ArrayRef) -> ArrayRef
    where
        T: ArrowPrimitiveType,
        T::Native: Checked,
    {
        let zero = T::Native::default();
        let op = self.op;
        Arc::new(zip_with::<T, T>(l, r, move |a, b| match op {
            Op::Add => a.add(b),
            Op::Subtract => a.sub(b),
            Op::Multiply => a.mul(b),
            Op::Mod => (b != zero).then(|| a.rem(b)),
            // Integers divide as doubles (coerce_types).
            Op::Divide => None,
        }))
    }

    fn floats<T>(&self, l: &ArrayRef, r: &ArrayRef) -> ArrayRef
    where
        T: ArrowPrimitiveType,
        T::Native: num_like::Float,
    {
        let op = self.op;
        Arc::new(zip_with::<T, T>(l, r, move |a, b| {
            use num_like::Float;
            match op {
                // Spark's doubles overflow to Infinity, not NULL.
                Op::Add => Some(a.plus(b)),
                Op::Subtract => Some(a.minus(b)),
                Op::Multiply => Some(a.times(b)),
                Op::Divide => (!b.is_zero()).then(|| a.over(b)),
                Op::Mod => (!b.is_zero()).then(|| a.modulo(b)),
            }
        }))
    }

    fn decimals(&self, l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef> {
        let (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) =
            (l.data_type().clone(), r.data_type().clone())
        else {
            return exec_err!("{}: decimals expected", self.name());
        };
        let DataType::Decimal128(p, s) = self.result_type(l.data_type(), r.data_type())? else {
            return exec_err!("{}: a decimal result expected", self.name());
        };
        let (s1, s2, s) = (s1 as i32, s2 as i32, s as i32);
        let limit = pow10(p as i32).unwrap_or(i256::MAX);
        let op = self.op;
        let out: Decimal128Array = zip_with::<Decimal128Type, Decimal128Type>(l, r, |a, b| {
            let (a, b) = (i256::from_i128(a), i256::from_i128(b));
            let value = match op {
                Op::Add | Op::Subtract | Op::Mod => {
                    let common = s1.max(s2);
                    let a = rescale(a, s1, common)?;
                    let b = rescale(b, s2, common)?;
                    let v = match op {
                        Op::Add => a.checked_add(b)?,
                        Op::Subtract => a.checked_sub(b)?,
                        _ if b == i256::ZERO => return None,
                        _ => a.checked_rem(b)?,
                    };
                    rescale(v, common, s)?
                }
                Op::Multiply => rescale(a.checked_mul(b)?, s1 + s2, s)?,
                Op::Divide => {
                    if b == i256::ZERO {
                        return None;
                    }
                    // a / b at scale s: a * 10^(s - s1 + s2) / b, rounded.
                    let shift = s - s1 + s2;
                    let (n, d) = if shift >= 0 {
                        (a.checked_mul(pow10(shift)?)?, b)
                    } else {
                        (a, b.checked_mul(pow10(-shift)?)?)
                    };
                    divide_rounded(n, d)?
                }
            };
            (value.checked_abs()? < limit).then(|| value.as_i128())
        });
        Ok(Arc::new(out.with_precision_and_scale(p, s as i8)?))
    }
}

fn pow10(n: i32) -> Option<i256> {
    i256::from_i128(10).checked_pow(u32::try_from(n).ok()?)
}

/// `n / d` rounded half away from zero, as Spark's HALF_UP.
fn divide_rounded(n: i256, d: i256) -> Option<i256> {
    let q = n.checked_div(d)?;
    let r = n.checked_rem(d)?;
    if r.checked_abs()?.checked_mul(i256::from_i128(2))? >= d.checked_abs()? {
        let away = if (n < i256::ZERO) != (d < i256::ZERO) {
            i256::MINUS_ONE
        } else {
            i256::ONE
        };
        q.checked_add(away)
    } else {
        Some(q)
    }
}

/// An unscaled value at scale `from` moved to scale `to`, rounded half up.
fn rescale(v: i256, from: i32, to: i32) -> Option<i256> {
    if to >= from {
        v.checked_mul(pow10(to - from)?)
    } else {
        divide_rounded(v, pow10(from - to)?)
    }
}

/// The float operations [`TryArithmetic::floats`] needs, for f32 and f64.
mod num_like {
    pub trait Float: Copy {
        fn plus(self, o: Self) -> Self;
        fn minus(self, o: Self) -> Self;
        fn times(self, o: Self) -> Self;
        fn over(self, o: Self) -> Self;
        fn modulo(self, o: Self) -> Self;
        fn is_zero(self) -> bool;
    }

    macro_rules! float {
        ($($t:ty),*) => {$(
            impl Float for $t {
                fn plus(self, o: Self) -> Self { self + o }
                fn minus(self, o: Self) -> Self { self - o }
                fn times(self, o: Self) -> Self { self * o }
                fn over(self, o: Self) -> Self { self / o }
                // Java's `%`: the sign of the dividend, as Rust's.
                fn modulo(self, o: Self) -> Self { self % o }
                fn is_zero(self) -> bool { self == 0.0 }
            }
        )*};
    }
    float!(f32, f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_selects, column_type};

    #[test]
    fn overflow_and_zero_divisors_are_null() {
        // try_arithmetic.sql.out (4.2.0) and Spark 4.2.1 runs.
        assert_selects(&[
            ("try_add(cast(2147483647 as int), cast(1 as int))", "NULL"),
            ("try_add(cast(2147483647 as int), 1)", "2147483648"),
            ("try_add(cast(127 as tinyint), cast(1 as tinyint))", "NULL"),
            ("try_add(9223372036854775807, 1)", "NULL"),
            ("try_subtract(-9223372036854775807 - 1, 1)", "NULL"),
            ("try_multiply(cast(2147483647 as int), cast(-2 as int))", "NULL"),
            ("try_multiply(cast(2147483647 as int), cast(-2 as decimal(1,0)))", "-4294967294"),
            ("try_add(cast(2147483647 as int), '1')", "2147483648"),
            ("try_divide(1, 0)", "NULL"),
            ("try_divide(0, 0)", "NULL"),
            ("try_divide(7, 2)", "3.5"),
            ("try_divide(1, 0.5)", "2.000000"),
            ("try_divide(1, cast(0 as decimal(10,0)))", "NULL"),
            ("try_divide(1, '0')", "NULL"),
            ("try_divide(cast(1 as double), cast(0 as double))", "NULL"),
            ("try_divide(cast(7 as decimal(5,1)), cast(2 as decimal(3,0)))", "3.500000"),
            ("try_divide(cast(1 as decimal(38,0)), cast(3 as decimal(38,0)))", "0.333333"),
            ("try_mod(7, 2)", "1"),
            ("try_mod(7, 0)", "NULL"),
            ("try_mod(-7, 2)", "-1"),
            ("try_mod(cast(7.5 as double), 2)", "1.5"),
            ("try_mod(cast(-7.5 as double), 2)", "-1.5"),
            ("try_mod(cast(7.5 as double), cast(0 as double))", "NULL"),
            ("try_mod(-9223372036854775807 - 1, -1)", "0"),
            ("try_mod(cast(7.5 as decimal(3,1)), cast(2 as decimal(2,0)))", "1.5"),
            ("try_add(cast(1 as decimal(38,0)), cast(99999999999999999999999999999999999999 as decimal(38,0)))", "NULL"),
            ("try_multiply(cast(12345678901234567890 as decimal(20,0)), cast(12345678901234567890 as decimal(20,0)))", "NULL"),
            ("try_multiply(cast(1.5 as decimal(20,10)), cast(1.5 as decimal(20,10)))", "2.25000000000000000"),
            ("try_add(null, 1)", "NULL"),
        ]);
    }

    #[test]
    fn result_types_are_sparks() {
        // Spark 4.2.1: typeof of each.
        for (sql, want) in [
            (
                "try_add(cast(1 as tinyint), cast(1 as tinyint))",
                DataType::Int8,
            ),
            ("try_divide(7, 2)", DataType::Float64),
            (
                "try_add(cast(1 as decimal(10,2)), cast(1 as decimal(5,3)))",
                DataType::Decimal128(12, 3),
            ),
            (
                "try_subtract(cast(1 as decimal(38,2)), cast(1 as decimal(38,10)))",
                DataType::Decimal128(38, 6),
            ),
            (
                "try_multiply(cast(1 as decimal(38,2)), cast(1 as decimal(38,10)))",
                DataType::Decimal128(38, 6),
            ),
            (
                "try_divide(cast(1 as decimal(38,2)), cast(1 as decimal(38,10)))",
                DataType::Decimal128(38, 6),
            ),
            (
                "try_mod(cast(1 as decimal(10,2)), cast(1 as decimal(5,3)))",
                DataType::Decimal128(5, 3),
            ),
            (
                "try_add(cast(1 as decimal(10,2)), cast(1.5 as double))",
                DataType::Float64,
            ),
            (
                "try_mod(cast(7 as smallint), cast(2 as tinyint))",
                DataType::Int16,
            ),
        ] {
            assert_eq!(column_type(&format!("select {sql}")), want, "{sql}");
        }
    }
}
