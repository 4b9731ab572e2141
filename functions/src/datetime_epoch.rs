//! Spark's conversions between timestamps or dates and counts since the
//! epoch: `timestamp_seconds` (integral, decimal or floating seconds),
//! `timestamp_millis`, `timestamp_micros`, `unix_seconds`, `unix_millis`,
//! `unix_micros`, `unix_date`, `date_from_unix_date`.
//!
//! The epoch is 1970-01-01 00:00:00 UTC; Kiln's timestamps are wall clocks
//! in the session zone, so each conversion goes through that zone.
//! datafusion-spark's `unix_*` cast the wall clock as if it were UTC, so
//! these replace them.

use std::sync::Arc;

use arrow::array::PrimitiveArray;
use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array};
use arrow::compute::{cast, cast_with_options, CastOptions};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_value::Ctx;
use crate::datetime_value::{day_of, instant_of, wall_of, walls, Target, MICROS_PER_SECOND};
use crate::kinded;

kinded::family! {
    TimestampSeconds = "timestamp_seconds",
    TimestampMillis = "timestamp_millis",
    TimestampMicros = "timestamp_micros",
    UnixSeconds = "unix_seconds",
    UnixMillis = "unix_millis",
    UnixMicros = "unix_micros",
    UnixDate = "unix_date",
    DateFromUnixDate = "date_from_unix_date",
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || t.is_null()
}

impl kinded::Kind for Kind {
    fn signature(&self) -> Signature {
        Signature::any(1, Volatility::Immutable)
    }

    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType> {
        let t = &arg_types[0];
        // Spark casts no strings here: the argument's type must be right.
        let (ok, wanted) = match *self {
            Kind::TimestampSeconds => (
                is_integer(t) || t.is_floating() || matches!(t, DataType::Decimal128(_, _)),
                "a number",
            ),
            Kind::TimestampMillis | Kind::TimestampMicros | Kind::DateFromUnixDate => {
                (is_integer(t), "an integer")
            }
            Kind::UnixSeconds | Kind::UnixMillis | Kind::UnixMicros => (
                matches!(
                    t,
                    DataType::Null | DataType::Timestamp(_, _) | DataType::Date32
                ),
                "a timestamp",
            ),
            Kind::UnixDate => (matches!(t, DataType::Null | DataType::Date32), "a date"),
        };
        if !ok {
            return exec_err!("{}: the argument must be {wanted}, got {t}", name);
        }
        Ok(match *self {
            Kind::TimestampSeconds | Kind::TimestampMillis | Kind::TimestampMicros => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Kind::UnixSeconds | Kind::UnixMillis | Kind::UnixMicros => DataType::Int64,
            Kind::UnixDate => DataType::Int32,
            Kind::DateFromUnixDate => DataType::Date32,
        })
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let ctx = Ctx::new(&args.config_options, name)?;
        let a = &input.arrays[0];
        let out: ArrayRef = match *self {
            Kind::TimestampSeconds => from_instants(&ctx, seconds_to_micros(&ctx, a)?)?,
            Kind::TimestampMillis => from_instants(&ctx, scaled(&ctx, a, 1_000)?)?,
            Kind::TimestampMicros => from_instants(&ctx, scaled(&ctx, a, 1)?)?,
            Kind::UnixSeconds => Arc::new(to_instants(&ctx, a, MICROS_PER_SECOND)?),
            Kind::UnixMillis => Arc::new(to_instants(&ctx, a, 1_000)?),
            Kind::UnixMicros => Arc::new(to_instants(&ctx, a, 1)?),
            Kind::UnixDate => {
                let w = walls(&ctx, a, Target::Date)?;
                let days: Result<Int32Array> = w
                    .iter()
                    .map(|w| w.map(|w| i32::try_from(day_of(w)).or_else(|_| overflow(&ctx, w))))
                    .map(Option::transpose)
                    .collect();
                Arc::new(days?)
            }
            Kind::DateFromUnixDate => {
                // Spark casts a BIGINT to INT first: CAST_OVERFLOW beyond it.
                let days = cast_with_options(a, &DataType::Int32, &strict())
                    .or_else(|e| exec_err!("{}: [CAST_OVERFLOW] {e}", name))?;
                let days = days.as_primitive::<Int32Type>();
                Arc::new(Date32Array::new(
                    days.values().clone(),
                    days.nulls().cloned(),
                ))
            }
        };
        input.answer(out)
    }
}

/// Casts that fail instead of giving NULL.
fn strict() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

fn overflow<T>(ctx: &Ctx, value: impl std::fmt::Display) -> Result<T> {
    exec_err!("{}: long overflow for {value}", ctx.name)
}

/// Microseconds since the epoch of a number of seconds: integers exactly
/// (an error past the range), decimals exactly (an error when a digit
/// past the microsecond is not 0, Spark's "Rounding necessary"), floating
/// point truncated (NaN and infinities are NULL).
fn seconds_to_micros(ctx: &Ctx, a: &ArrayRef) -> Result<PrimitiveArray<Int64Type>> {
    match a.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let f = cast(a, &DataType::Float64)?;
            let f = f.as_primitive::<Float64Type>();
            // `as` saturates, as Java's double-to-long conversion does.
            Ok(f.unary_opt(|s| {
                s.is_finite()
                    .then_some((s * MICROS_PER_SECOND as f64) as i64)
            }))
        }
        DataType::Decimal128(_, scale) => {
            let scale = i32::from(*scale);
            let d = a.as_primitive::<Decimal128Type>();
            let mut out = Vec::with_capacity(d.len());
            for v in d.iter() {
                let Some(v) = v else {
                    out.push(None);
                    continue;
                };
                let micros = if scale <= 6 {
                    10_i128
                        .checked_pow((6 - scale) as u32)
                        .and_then(|f| v.checked_mul(f))
                } else {
                    let f = 10_i128.pow(((scale - 6) as u32).min(38));
                    if v % f != 0 {
                        return exec_err!(
                            "{}: Rounding necessary: {v}E-{scale} seconds has digits past the microsecond",
                            ctx.name
                        );
                    }
                    Some(v / f)
                };
                match micros.and_then(|m| i64::try_from(m).ok()) {
                    Some(m) => out.push(Some(m)),
                    None => return overflow(ctx, format!("{v}E-{scale} seconds")),
                }
            }
            Ok(PrimitiveArray::from(out))
        }
        _ => scaled(ctx, a, MICROS_PER_SECOND),
    }
}

/// An integer column times `factor` microseconds, an error on overflow.
fn scaled(ctx: &Ctx, a: &ArrayRef, factor: i64) -> Result<PrimitiveArray<Int64Type>> {
    let n = cast(a, &DataType::Int64)?;
    let n = n.as_primitive::<Int64Type>();
    let micros: Result<Vec<Option<i64>>> = n
        .iter()
        .map(|v| {
            v.map(|v| v.checked_mul(factor).map_or_else(|| overflow(ctx, v), Ok))
                .transpose()
        })
        .collect();
    Ok(PrimitiveArray::from(micros?))
}

/// Session-zone timestamps of instants (microseconds since the epoch).
fn from_instants(ctx: &Ctx, micros: PrimitiveArray<Int64Type>) -> Result<ArrayRef> {
    let mut out = Vec::with_capacity(micros.len());
    for m in micros.iter() {
        out.push(match m {
            None => None,
            Some(m) => match wall_of(&ctx.tz, m) {
                Some(w) => Some(w),
                None => return exec_err!("{}: {m} microseconds is out of range", ctx.name),
            },
        });
    }
    Ok(Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(
        out,
    )))
}

/// Instants of a timestamp column in units of `unit` microseconds, rounded
/// down as Spark's `Math.floorDiv`.
fn to_instants(ctx: &Ctx, a: &ArrayRef, unit: i64) -> Result<Int64Array> {
    let w = walls(ctx, a, Target::Timestamp)?;
    let mut out = Vec::with_capacity(w.len());
    for wall in w.iter() {
        out.push(match wall {
            None => None,
            Some(wall) => match instant_of(&ctx.tz, wall) {
                Some(i) => Some(i.div_euclid(unit)),
                None => return overflow(ctx, wall),
            },
        });
    }
    Ok(Int64Array::from(out))
}

#[cfg(test)]
mod tests {
    use crate::datetime_value::testing::{error, row};

    // Spark's sql-tests, results/timestamp.sql.out (America/Los_Angeles);
    // Kiln's parser rewrites `1.23d` and `FLOAT(x)` to casts before this.
    #[test]
    fn timestamps_from_epoch_counts() {
        assert_eq!(
            row("select TIMESTAMP_SECONDS(1230219000),TIMESTAMP_SECONDS(-1230219000),TIMESTAMP_SECONDS(null)"),
            "2008-12-25 07:30:00\t1931-01-07 00:30:00\tNULL"
        );
        assert_eq!(
            row("select TIMESTAMP_SECONDS(1.23), TIMESTAMP_SECONDS(CAST(1.23 AS DOUBLE)), TIMESTAMP_SECONDS(CAST(1.23 AS FLOAT))"),
            "1969-12-31 16:00:01.23\t1969-12-31 16:00:01.23\t1969-12-31 16:00:01.23"
        );
        assert_eq!(
            row("select TIMESTAMP_MILLIS(1230219000123),TIMESTAMP_MILLIS(-1230219000123),TIMESTAMP_MILLIS(null)"),
            "2008-12-25 07:30:00.123\t1931-01-07 00:29:59.877\tNULL"
        );
        assert_eq!(
            row("select TIMESTAMP_MICROS(1230219000123123),TIMESTAMP_MICROS(-1230219000123123),TIMESTAMP_MICROS(null)"),
            "2008-12-25 07:30:00.123123\t1931-01-07 00:29:59.876877\tNULL"
        );
        assert_eq!(
            row("select TIMESTAMP_SECONDS(CAST(0.1234567 AS DOUBLE)), TIMESTAMP_SECONDS(CAST(0.1234567 AS FLOAT))"),
            "1969-12-31 16:00:00.123456\t1969-12-31 16:00:00.123456"
        );
        assert!(error("select TIMESTAMP_SECONDS(1230219000123123)").contains("overflow"));
        assert!(error("select TIMESTAMP_MILLIS(-92233720368547758)").contains("overflow"));
        assert!(error("select TIMESTAMP_SECONDS(0.1234567)").contains("Rounding necessary"));
    }

    // Spark 4.2.1, America/Los_Angeles; results/date.sql.out for unix_date.
    #[test]
    fn epoch_counts_of_timestamps_and_dates() {
        assert_eq!(
            row("select unix_seconds(timestamp'1969-12-31 16:00:00.5'), unix_millis(timestamp'1969-12-31 15:59:59.9995'), unix_micros(timestamp'1970-01-01 00:00:00'), unix_date(date'1969-12-31'), timestamp_seconds(-0.5), timestamp_seconds(CAST(1.5 AS DOUBLE))"),
            "0\t-1\t28800000000\t-1\t1969-12-31 15:59:59.5\t1969-12-31 16:00:01.5"
        );
        assert_eq!(
            row("select UNIX_MICROS(timestamp'2020-12-01 06:30:08.999999'), UNIX_MILLIS(timestamp'2020-12-01 06:30:08.999999'), UNIX_SECONDS(null)"),
            "1606833008999999\t1606833008999\tNULL"
        );
        assert_eq!(
            row("select DATE_FROM_UNIX_DATE(0), DATE_FROM_UNIX_DATE(1000), DATE_FROM_UNIX_DATE(null), UNIX_DATE(date'2020-12-04'), UNIX_DATE(null)"),
            "1970-01-01\t1972-09-27\tNULL\t18600\tNULL"
        );
        assert!(error("select date_from_unix_date(3000000000)").contains("CAST_OVERFLOW"));
        assert!(error("select unix_date('2022-01-01')").contains("unix_date"));
    }
}
