//! Spark's time-zone shifts of timestamps: `from_utc_timestamp(ts, tz)`
//! (the UTC wall clock of `ts` read as a wall clock in `tz`),
//! `to_utc_timestamp(ts, tz)` (the reverse) and
//! `convert_timezone([source,] target, ts)` (a wall clock in `source`,
//! the session zone by default, as a wall clock in `target`); and
//! `months_between(t1, t2[, roundOff])`.
//!
//! Zones are Spark's: region ids, Java's short ids (`PST`) and offsets.
//! Kiln's timestamps are session wall clocks (see `datetime_value`).

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Datelike, Timelike};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::datetime_value::{date_time, instant_of, wall_of, walls, zone, Ctx, Target};
use crate::kinded::{self, is_text};

kinded::family! {
    FromUtc = "from_utc_timestamp",
    ToUtc = "to_utc_timestamp",
    Convert = "convert_timezone",
    MonthsBetween = "months_between",
}

fn is_time(t: &DataType) -> bool {
    is_text(t)
        || matches!(
            t,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        )
}

/// The zone named in row `row` of `names`, or Spark's error.
fn zone_at(names: &ArrayRef, row: usize, name: &str) -> Result<Option<Tz>> {
    let s = names.as_string::<i32>();
    if s.is_null(row) {
        return Ok(None);
    }
    match zone(s.value(row)) {
        Some(tz) => Ok(Some(tz)),
        None => exec_err!(
            "{name}: [INVALID_TIMEZONE] The timezone: {} is invalid. The timezone must be either a region-based zone ID or a zone offset.",
            s.value(row)
        ),
    }
}

impl kinded::Kind for Kind {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = match (*self, arg_types) {
            (Kind::FromUtc | Kind::ToUtc, [t, z]) => is_time(t) && is_text(z),
            (Kind::Convert, [z, t]) => is_text(z) && is_time(t),
            (Kind::Convert, [a, b, t]) => is_text(a) && is_text(b) && is_time(t),
            (Kind::MonthsBetween, [a, b]) => is_time(a) && is_time(b),
            (Kind::MonthsBetween, [a, b, r]) => {
                is_time(a) && is_time(b) && matches!(r, DataType::Boolean | DataType::Null)
            }
            _ => false,
        };
        if !ok {
            return plan_err!(
                "{} takes {}, got ({arg_types:?})",
                name,
                match *self {
                    Kind::FromUtc | Kind::ToUtc => "a timestamp and a time zone",
                    Kind::Convert => "an optional source zone, a target zone and a timestamp",
                    Kind::MonthsBetween => "two timestamps and an optional BOOLEAN roundOff",
                }
            );
        }
        Ok(arg_types
            .iter()
            .map(|t| {
                if is_text(t) && !matches!(*self, Kind::MonthsBetween) {
                    DataType::Utf8
                } else {
                    t.clone()
                }
            })
            .collect())
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match *self {
            Kind::MonthsBetween => DataType::Float64,
            _ => DataType::Timestamp(TimeUnit::Microsecond, None),
        })
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ctx = Ctx::new(&args.config_options, name)?;
        let a = Arrays::new(&args.args, args.number_rows)?;
        let out: ArrayRef = match *self {
            Kind::FromUtc | Kind::ToUtc => {
                let w = walls(&ctx, &a.arrays[0], Target::Timestamp)?;
                let utc = zone("UTC").map_or_else(|| exec_err!("no UTC zone"), Ok)?;
                let mut out = Vec::with_capacity(a.rows);
                for row in 0..a.rows {
                    let Some(tz) = zone_at(&a.arrays[1], row, name)? else {
                        out.push(None);
                        continue;
                    };
                    if w.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    let t = instant_of(&ctx.tz, w.value(row));
                    // Spark shifts the instant: its wall clock in one zone
                    // read as a wall clock in the other.
                    let shifted = match *self {
                        Kind::FromUtc => t.and_then(|t| wall_of(&tz, t)),
                        _ => t
                            .and_then(|t| wall_of(&utc, t))
                            .and_then(|u| instant_of(&tz, u)),
                    };
                    out.push(shifted.and_then(|r| wall_of(&ctx.tz, r)));
                }
                Arc::new(TimestampMicrosecondArray::from(out))
            }
            Kind::Convert => {
                let (source, target, ts) = match a.arrays.len() {
                    3 => (Some(&a.arrays[0]), &a.arrays[1], &a.arrays[2]),
                    _ => (None, &a.arrays[0], &a.arrays[1]),
                };
                let w = walls(&ctx, ts, Target::Timestamp)?;
                let mut out = Vec::with_capacity(a.rows);
                for row in 0..a.rows {
                    let from = match source {
                        Some(s) => zone_at(s, row, name)?,
                        None => Some(ctx.tz),
                    };
                    let (Some(from), Some(to)) = (from, zone_at(target, row, name)?) else {
                        out.push(None);
                        continue;
                    };
                    if w.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    out.push(instant_of(&from, w.value(row)).and_then(|t| wall_of(&to, t)));
                }
                Arc::new(TimestampMicrosecondArray::from(out))
            }
            Kind::MonthsBetween => {
                let (x, y) = (
                    walls(&ctx, &a.arrays[0], Target::Timestamp)?,
                    walls(&ctx, &a.arrays[1], Target::Timestamp)?,
                );
                let round = match a.arrays.get(2) {
                    Some(r) => Some(cast(r, &DataType::Boolean)?),
                    None => None,
                };
                let round = round.as_ref().map(|r| r.as_boolean());
                let out: Float64Array = (0..a.rows)
                    .map(|row| {
                        if x.is_null(row) || y.is_null(row) {
                            return None;
                        }
                        let round_off = match round {
                            Some(r) if r.is_null(row) => return None,
                            Some(r) => r.value(row),
                            None => true,
                        };
                        months_between(x.value(row), y.value(row), round_off)
                    })
                    .collect();
                Arc::new(out)
            }
        };
        a.answer(out)
    }
}

/// Spark's `months_between` of two wall clocks: whole months when both
/// are on the same day of the month or both on the last day, else the
/// month difference plus the difference of the rest over 31 days;
/// rounded to 8 digits with `round_off`.
fn months_between(t1: i64, t2: i64, round_off: bool) -> Option<f64> {
    let (a, b) = (date_time(t1)?, date_time(t2)?);
    let months = (i64::from(a.year()) * 12 + i64::from(a.month()))
        - (i64::from(b.year()) * 12 + i64::from(b.month()));
    let last =
        |d: &chrono::NaiveDateTime| d.date().succ_opt().is_some_and(|n| n.month() != d.month());
    if a.day() == b.day() || (last(&a) && last(&b)) {
        return Some(months as f64);
    }
    let seconds_in_day = |d: &chrono::NaiveDateTime| {
        i64::from(d.day()) * 86_400 + i64::from(d.num_seconds_from_midnight())
    };
    let diff = (seconds_in_day(&a) - seconds_in_day(&b)) as f64 / (31.0 * 86_400.0);
    let v = months as f64 + diff;
    // Java's Math.round: half up.
    Some(if round_off {
        (v * 1e8 + 0.5).floor() / 1e8
    } else {
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime_value::midnight;

    #[test]
    fn months_between_as_spark() {
        let d =
            |y, m, day| midnight(chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default());
        let t1 = d(1997, 2, 28) + 10 * 3_600_000_000 + 30 * 60_000_000;
        assert_eq!(months_between(t1, d(1996, 10, 30), true), Some(3.94959677));
        assert_eq!(months_between(d(1996, 10, 30), t1, true), Some(-3.94959677));
        assert_eq!(
            months_between(d(2020, 2, 29), d(2020, 1, 31), true),
            Some(1.0)
        );
    }
}
