//! Spark's type lattice: which types are strings, numbers, decimals,
//! timestamps; the wider of two numeric types; the common type of several
//! (Spark 4's ANSI "least common type"), and casts to it.

use super::*;

pub(super) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(super) fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

pub(super) fn is_decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(_, _))
}

pub(super) fn is_signed_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

pub(super) fn is_numeric(t: &DataType) -> bool {
    is_signed_integer(t) || is_float(t) || is_decimal(t)
}

pub(super) fn is_timestamp(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, _))
}

/// Digits of an integer type as a DECIMAL (Spark: TINYINT is DECIMAL(3,0),
/// SMALLINT (5,0), INT (10,0), BIGINT (20,0)).
pub(super) fn integer_digits(t: &DataType) -> Option<u8> {
    match t {
        DataType::Int8 => Some(3),
        DataType::Int16 => Some(5),
        DataType::Int32 => Some(10),
        DataType::Int64 => Some(20),
        _ => None,
    }
}

pub(super) fn as_decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal128(p, s) if *s >= 0 => Some((*p, *s)),
        t => integer_digits(t).map(|p| (p, 0)),
    }
}

/// Spark's wider DECIMAL of two: the larger scale and the larger number of
/// integral digits, and when that needs more than 38 digits, the integral
/// digits win and the scale shrinks.
pub(super) fn wider_decimal(a: (u8, i8), b: (u8, i8)) -> DataType {
    let scale = a.1.max(b.1);
    let range = (a.0 as i16 - a.1 as i16).max(b.0 as i16 - b.1 as i16);
    let max = 38i16;
    if range + scale as i16 > max {
        let scale = (max - range).max(0);
        DataType::Decimal128(max as u8, scale as i8)
    } else {
        DataType::Decimal128((range + scale as i16) as u8, scale)
    }
}

/// Spark's type for a STRING beside `other`, when Spark casts strings to it.
pub(super) fn string_promotion(other: &DataType) -> Option<DataType> {
    match other {
        t if is_signed_integer(t) => Some(DataType::Int64),
        t if is_decimal(t) || is_float(t) => Some(DataType::Float64),
        DataType::Date32 | DataType::Boolean => Some(other.clone()),
        t if is_timestamp(t) => Some(other.clone()),
        _ => None,
    }
}

/// Spark's least common type of two types, for the types this rule models
/// (numbers, strings, booleans, dates, timestamps, NULL); `None` leaves the
/// pair to DataFusion.
pub(super) fn wider(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Null, t) | (t, Null) => Some(t.clone()),
        (Float64, t) | (t, Float64) if is_numeric(t) => Some(Float64),
        // A FLOAT with an integer or a DECIMAL is a DOUBLE in Spark 4.
        (Float32 | Float16, t) | (t, Float32 | Float16) if is_numeric(t) => {
            Some(if is_float(t) { Float32 } else { Float64 })
        }
        (x, y) if is_signed_integer(x) && is_signed_integer(y) => {
            let digits = |t: &DataType| integer_digits(t).unwrap_or(0);
            Some(if digits(x) >= digits(y) {
                x.clone()
            } else {
                y.clone()
            })
        }
        (x, y) if is_numeric(x) && is_numeric(y) => {
            Some(wider_decimal(as_decimal(x)?, as_decimal(y)?))
        }
        (s, t) | (t, s) if is_string(s) && !is_string(t) => string_promotion(t),
        (Date32, t) | (t, Date32) if is_timestamp(t) => Some(t.clone()),
        _ => None,
    }
}

/// Whether Spark's common type of `types` may differ from DataFusion's in
/// a way that changes a comparison: a STRING beside a non-string, or a
/// floating number beside a DECIMAL or an integer.
pub(super) fn comparison_differs(types: &[DataType]) -> bool {
    let has = |f: fn(&DataType) -> bool| types.iter().any(f);
    (has(is_string) && has(|t| !is_string(t) && !t.is_null()))
        || (has(is_float) && has(|t| is_decimal(t) || is_signed_integer(t)))
        || (has(|t| matches!(t, DataType::Float32 | DataType::Float16))
            && has(|t| matches!(t, DataType::Float64)))
}

/// The type of `e` as Spark would see it: an integer literal that fits an
/// INT counts as one (Spark's literal type; Kiln's literals are BIGINT).
pub(super) fn spark_type(e: &Expr, schema: &DFSchema) -> Option<DataType> {
    if let Expr::Literal(ScalarValue::Int64(Some(v)), _) = e {
        if i32::try_from(*v).is_ok() {
            return Some(DataType::Int32);
        }
    }
    e.get_type(schema).ok()
}

/// Spark's common type of `exprs`, when every pair is modelled, and the
/// types it was found from.
pub(super) fn common_type(exprs: &[&Expr], schema: &DFSchema) -> Option<(DataType, Vec<DataType>)> {
    let real = exprs
        .iter()
        .map(|e| e.get_type(schema).ok())
        .collect::<Option<Vec<_>>>()?;
    // Only a DECIMAL's precision depends on an integer literal's width.
    let types = if real.iter().any(is_decimal) {
        exprs
            .iter()
            .map(|e| spark_type(e, schema))
            .collect::<Option<Vec<_>>>()?
    } else {
        real
    };
    let mut common = DataType::Null;
    for t in &types {
        common = wider(&common, t)?;
    }
    Some((common, types))
}

/// `e` cast to `to`, unless it already is of that type (an INT-sized
/// literal counts as BIGINT here: a cast to BIGINT is not needed).
pub(super) fn cast_to(e: Expr, to: &DataType, schema: &DFSchema) -> Expr {
    match e.get_type(schema) {
        Ok(t) if &t == to => e,
        _ => Expr::Cast(Cast::new(Box::new(e), to.clone())),
    }
}
