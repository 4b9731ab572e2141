//! Spark's date-time arithmetic in units: `timestampadd(unit, n, ts)` (also
//! `dateadd` and `date_add` with three arguments), `timestampdiff(unit,
//! start, end)` (also `timediff`, and `datediff` / `date_diff` with three
//! arguments), and the two-argument day forms `date_add(date, days)`,
//! `date_sub(date, days)`, `datediff(end, start)`.
//!
//! The unit is a string (`'MICROSECOND'` ... `'YEAR'`): Spark writes it as
//! a bare identifier, which Kiln's parser turns into a string literal. As
//! in Spark, units of a day or more move the wall clock (a month after
//! January 31 is February 28) and smaller units move the instant (an hour
//! after 01:30 on the day clocks skip 02:00 is 03:30); differences are
//! counted on wall clocks, in whole units towards zero (`java.time`'s
//! `ChronoUnit.between`). datafusion-spark's `date_add`, `date_sub` and
//! `date_diff` take no strings and no unit, so these replace them.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::TimestampMicrosecondArray;
use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array};
use arrow::compute::{cast, cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit};
use chrono::{Duration, Months, NaiveDateTime};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_value::Ctx;
use crate::datetime_value::{
    date_time, day_of, expect_date_time, instant_of, proleptic_month, wall_of, walls, Target,
    MICROS_PER_SECOND,
};
use crate::kinded;

kinded::family! {
    TimestampAdd = "timestampadd",
    DateAdd = "date_add",
    DateSub = "date_sub",
    TimestampDiff = "timestampdiff",
    TimeDiff = "timediff",
    DateDiff = "date_diff",
}

impl Kind {
    fn adds(self) -> bool {
        matches!(self, Kind::TimestampAdd | Kind::DateAdd | Kind::DateSub)
    }

    /// The argument counts the function takes: 3 is the unit form.
    fn arities(self) -> &'static [usize] {
        match self {
            Kind::TimestampAdd | Kind::TimestampDiff | Kind::TimeDiff => &[3],
            Kind::DateAdd | Kind::DateDiff => &[2, 3],
            Kind::DateSub => &[2],
        }
    }
}

/// Spark's date-time units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    DayOfYear,
    Week,
    Month,
    Quarter,
    Year,
}

const UNITS: &str =
    "YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFYEAR, HOUR, MINUTE, SECOND, MILLISECOND, MICROSECOND";

impl Unit {
    fn parse(ctx: &Ctx, text: &str, adding: bool) -> Result<Unit> {
        let unit = match text.to_ascii_uppercase().as_str() {
            "MICROSECOND" => Unit::Microsecond,
            "MILLISECOND" => Unit::Millisecond,
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            // Spark adds, but does not count, days of the year.
            "DAYOFYEAR" if adding => Unit::DayOfYear,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            _ => {
                return exec_err!(
                "{}: [INVALID_PARAMETER_VALUE.DATETIME_UNIT] unit '{text}' is not one of {UNITS}",
                ctx.name
            )
            }
        };
        Ok(unit)
    }

    /// The microseconds of a unit shorter than a day.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Microsecond => 1,
            Unit::Millisecond => 1_000,
            Unit::Second => MICROS_PER_SECOND,
            Unit::Minute => 60 * MICROS_PER_SECOND,
            Unit::Hour => 3600 * MICROS_PER_SECOND,
            _ => return None,
        })
    }
}

impl kinded::Kind for Kind {
    fn signature(&self) -> Signature {
        Signature::variadic_any(Volatility::Immutable)
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Kind::DateAdd => &["dateadd"],
            Kind::DateDiff => &["datediff"],
            _ => &[],
        }
    }

    fn return_type(&self, name: &str, t: &[DataType]) -> Result<DataType> {
        if !self.arities().contains(&t.len()) {
            return exec_err!(
                "{name} takes {:?} arguments, got {}",
                self.arities(),
                t.len()
            );
        }
        if t.len() == 3 {
            if !matches!(
                t[0],
                DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                return exec_err!("{name}: the unit must be one of {UNITS}, got a {}", t[0]);
            }
            expect_date_time(name, "third", &t[2])?;
            return if self.adds() {
                if !(t[1].is_numeric() || t[1].is_null()) {
                    return exec_err!("{name}: the quantity must be a number, got {}", t[1]);
                }
                Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
            } else {
                expect_date_time(name, "second", &t[1])?;
                Ok(DataType::Int64)
            };
        }
        expect_date_time(name, "first", &t[0])?;
        if self.adds() {
            let days_ok = t[1].is_integer()
                || matches!(
                    t[1],
                    DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
            if !days_ok {
                return exec_err!(
                    "{name}: the number of days must be an INT, SMALLINT or TINYINT, got {}",
                    t[1]
                );
            }
            Ok(DataType::Date32)
        } else {
            expect_date_time(name, "second", &t[1])?;
            Ok(DataType::Int32)
        }
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let ctx = Ctx::new(&args.config_options, name)?;
        let a = &input.arrays;
        let out: ArrayRef = match (a.len(), self.adds()) {
            (3, true) => Arc::new(add_units(&ctx, a)?),
            (3, false) => Arc::new(diff_units(&ctx, a)?),
            (_, true) => Arc::new(add_days(&ctx, a, *self == Kind::DateSub)?),
            (_, false) => Arc::new(diff_days(&ctx, a)?),
        };
        input.answer(out)
    }
}

/// The unit of each row of a unit column, parsed once while it repeats.
struct Units<'a> {
    text: ArrayRef,
    last: Option<(String, Unit)>,
    ctx: &'a Ctx<'a>,
    adding: bool,
}

impl<'a> Units<'a> {
    fn new(ctx: &'a Ctx<'a>, a: &ArrayRef, adding: bool) -> Result<Self> {
        Ok(Units {
            text: cast(a, &DataType::Utf8)?,
            last: None,
            ctx,
            adding,
        })
    }

    fn at(&mut self, row: usize) -> Result<Option<Unit>> {
        let s = self.text.as_string::<i32>();
        if s.is_null(row) {
            return Ok(None);
        }
        let text = s.value(row);
        if let Some((t, u)) = &self.last {
            if t == text {
                return Ok(Some(*u));
            }
        }
        let unit = Unit::parse(self.ctx, text, self.adding)?;
        self.last = Some((text.to_string(), unit));
        Ok(Some(unit))
    }
}

fn add_units(ctx: &Ctx, a: &[ArrayRef]) -> Result<TimestampMicrosecondArray> {
    let mut units = Units::new(ctx, &a[0], true)?;
    // A fractional quantity is cut to its integer part, as Spark casts it.
    let n = cast(&a[1], &DataType::Int64)?;
    let n = n.as_primitive::<Int64Type>();
    let t = walls(ctx, &a[2], Target::Timestamp)?;
    let mut out = Vec::with_capacity(t.len());
    for row in 0..t.len() {
        let unit = units.at(row)?;
        let (Some(unit), false, false) = (unit, n.is_null(row), t.is_null(row)) else {
            out.push(None);
            continue;
        };
        let (q, wall) = (n.value(row), t.value(row));
        match add(&ctx.tz, unit, q, wall) {
            Some(w) => out.push(Some(w)),
            None => {
                let shown = date_time(wall).map_or(wall.to_string(), |d| d.to_string());
                return exec_err!(
                    "{}: [DATETIME_OVERFLOW] datetime operation overflow: add {q} {unit:?} to TIMESTAMP '{shown}'",
                    ctx.name
                );
            }
        }
    }
    Ok(TimestampMicrosecondArray::from(out))
}

/// `wall + q unit` in zone `tz`; `None` on overflow.
fn add(tz: &Tz, unit: Unit, q: i64, wall: i64) -> Option<i64> {
    if let Some(m) = unit.micros() {
        let instant = instant_of(tz, wall)?.checked_add(q.checked_mul(m)?)?;
        return wall_of(tz, instant);
    }
    let t = date_time(wall)?;
    // Java's `toIntExact`: a count of days or months must be an INT.
    let moved: NaiveDateTime = match unit {
        Unit::Day | Unit::DayOfYear | Unit::Week => {
            let days = if unit == Unit::Week {
                q.checked_mul(7)?
            } else {
                q
            };
            let days = i32::try_from(days).ok()?;
            t.checked_add_signed(Duration::days(i64::from(days)))?
        }
        _ => {
            let per = match unit {
                Unit::Quarter => 3,
                Unit::Year => 12,
                _ => 1,
            };
            let months = i32::try_from(q.checked_mul(per)?).ok()?;
            let m = Months::new(months.unsigned_abs());
            if months >= 0 {
                t.checked_add_months(m)?
            } else {
                t.checked_sub_months(m)?
            }
        }
    };
    // The moved wall time as the zone has it (a skipped time moves on).
    let moved = moved.and_utc().timestamp_micros();
    wall_of(tz, instant_of(tz, moved)?)
}

fn diff_units(ctx: &Ctx, a: &[ArrayRef]) -> Result<Int64Array> {
    let mut units = Units::new(ctx, &a[0], false)?;
    let start = walls(ctx, &a[1], Target::Timestamp)?;
    let end = walls(ctx, &a[2], Target::Timestamp)?;
    let mut out = Vec::with_capacity(start.len());
    for row in 0..start.len() {
        let unit = units.at(row)?;
        let (Some(unit), false, false) = (unit, start.is_null(row), end.is_null(row)) else {
            out.push(None);
            continue;
        };
        out.push(between(unit, start.value(row), end.value(row)));
    }
    Ok(Int64Array::from(out))
}

/// Whole `unit`s from wall time `start` to `end`, towards zero.
fn between(unit: Unit, start: i64, end: i64) -> Option<i64> {
    if let Some(m) = unit.micros() {
        return Some(end.checked_sub(start)? / m);
    }
    let (s, e) = (date_time(start)?, date_time(end)?);
    // A day not yet complete at `end`'s time of day does not count.
    let mut end_date = e.date();
    if end_date > s.date() && e.time() < s.time() {
        end_date = end_date.pred_opt()?;
    } else if end_date < s.date() && e.time() > s.time() {
        end_date = end_date.succ_opt()?;
    }
    let days = (end_date - s.date()).num_days();
    let months = || {
        let packed =
            |d: &chrono::NaiveDate| proleptic_month(d) * 32 + i64::from(chrono::Datelike::day(d));
        (packed(&end_date) - packed(&s.date())) / 32
    };
    Some(match unit {
        Unit::Day | Unit::DayOfYear => days,
        Unit::Week => days / 7,
        Unit::Month => months(),
        Unit::Quarter => months() / 3,
        _ => months() / 12,
    })
}

/// `date_add(date, days)` / `date_sub(date, days)`.
fn add_days(ctx: &Ctx, a: &[ArrayRef], subtract: bool) -> Result<Date32Array> {
    let dates = walls(ctx, &a[0], Target::Date)?;
    let options = CastOptions {
        safe: !ctx.ansi,
        ..Default::default()
    };
    let days = cast_with_options(&a[1], &DataType::Int32, &options).or_else(|e| {
        exec_err!(
            "{}: [CAST_INVALID_INPUT] the number of days is not an INT: {e}",
            ctx.name
        )
    })?;
    let days = days.as_primitive::<Int32Type>();
    let mut out = Vec::with_capacity(dates.len());
    for row in 0..dates.len() {
        if dates.is_null(row) || days.is_null(row) {
            out.push(None);
            continue;
        }
        let n = i64::from(days.value(row));
        let day = day_of(dates.value(row));
        let moved = if subtract { day - n } else { day + n };
        match i32::try_from(moved) {
            Ok(d) => out.push(Some(d)),
            Err(_) => {
                return exec_err!(
                    "{}: the date {moved} days after 1970-01-01 is out of range",
                    ctx.name
                )
            }
        }
    }
    Ok(Date32Array::from(out))
}

/// `datediff(end, start)`: days between the dates.
fn diff_days(ctx: &Ctx, a: &[ArrayRef]) -> Result<Int32Array> {
    let end = walls(ctx, &a[0], Target::Date)?;
    let start = walls(ctx, &a[1], Target::Date)?;
    Ok(end
        .iter()
        .zip(start.iter())
        .map(|(e, s)| {
            let (e, s) = (e?, s?);
            i32::try_from(day_of(e) - day_of(s)).ok()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::datetime_value::testing::{error, row};

    // Spark's sql-tests, results/date.sql.out (America/Los_Angeles); units
    // are string literals here, as Kiln's parser passes them.
    #[test]
    fn adding_units() {
        assert_eq!(
            row("select dateadd('MICROSECOND', 1001, timestamp'2022-02-25 01:02:03.123'), date_add('MILLISECOND', -1, timestamp'2022-02-25 01:02:03.456'), dateadd('SECOND', 58, timestamp'2022-02-25 01:02:03'), date_add('MINUTE', -100, date'2022-02-25'), dateadd('HOUR', -1, timestamp'2022-02-25 01:02:03')"),
            "2022-02-25 01:02:03.124001\t2022-02-25 01:02:03.455\t2022-02-25 01:03:01\t2022-02-24 22:20:00\t2022-02-25 00:02:03"
        );
        assert_eq!(
            row("select date_add('DAY', 367, date'2022-02-25'), dateadd('WEEK', -4, timestamp'2022-02-25 01:02:03'), date_add('MONTH', -1, timestamp'2022-02-25 01:02:03'), dateadd('QUARTER', 5, date'2022-02-25'), date_add('YEAR', 1, date'2022-02-25')"),
            "2023-02-27 00:00:00\t2022-01-28 01:02:03\t2022-01-25 01:02:03\t2023-05-25 00:00:00\t2023-02-25 00:00:00"
        );
        // results/timestamp.sql.out
        assert_eq!(
            row("select timestampadd('MONTH', -1, timestamp'2022-02-14 01:02:03'), timestampadd('MINUTE', 58, timestamp'2022-02-14 01:02:03'), timestampadd('YEAR', 1, date'2022-02-15'), timestampadd('SECOND', -1, date'2022-02-15')"),
            "2022-01-14 01:02:03\t2022-02-14 02:00:03\t2023-02-15 00:00:00\t2022-02-14 23:59:59"
        );
    }

    // Spark 4.2.1, America/Los_Angeles: days and months move the wall
    // clock, hours the instant.
    #[test]
    fn adding_across_daylight_saving_and_month_ends() {
        assert_eq!(
            row("select timestampadd('HOUR', 24, timestamp'2022-03-12 12:00:00'), timestampadd('DAY', 1, timestamp'2022-03-12 02:30:00'), timestampadd('HOUR', 1, timestamp'2022-03-13 01:30:00'), timestampadd('DAYOFYEAR', 2, timestamp'2022-03-12 12:00:00'), timestampadd('MONTH', 1, timestamp'2022-01-31 12:00:00')"),
            "2022-03-13 13:00:00\t2022-03-13 03:30:00\t2022-03-13 03:30:00\t2022-03-14 12:00:00\t2022-02-28 12:00:00"
        );
        assert_eq!(
            row("select timestampadd('HOUR', 1, '2022-03-13 01:30:00'), timestampadd('SECOND', 1.5, timestamp'2022-03-13 01:30:00'), timestampadd('DAY', -2, '2022-01-01'), timestampadd('MONTH', 1, date'2022-01-31')"),
            "2022-03-13 03:30:00\t2022-03-13 01:30:01\t2021-12-30 00:00:00\t2022-02-28 00:00:00"
        );
        assert!(
            error("select timestampadd('YEAR', 1000000, timestamp'2022-01-01 00:00:00')")
                .contains("DATETIME_OVERFLOW")
        );
        assert!(
            error("select timestampadd('FORTNIGHT', 1, timestamp'2022-01-01 00:00:00')")
                .contains("DATETIME_UNIT")
        );
    }

    // results/date.sql.out and timestamp.sql.out.
    #[test]
    fn counting_units() {
        assert_eq!(
            row("select datediff('MICROSECOND', timestamp'2022-02-25 01:02:03.123', timestamp'2022-02-25 01:02:03.124001'), date_diff('MILLISECOND', timestamp'2022-02-25 01:02:03.456', timestamp'2022-02-25 01:02:03.455'), datediff('SECOND', timestamp'2022-02-25 01:02:03', timestamp'2022-02-25 01:03:01'), date_diff('MINUTE', date'2022-02-25', timestamp'2022-02-24 22:20:00'), datediff('HOUR', timestamp'2022-02-25 01:02:03', timestamp'2022-02-25 00:02:03')"),
            "1001\t-1\t58\t-100\t-1"
        );
        assert_eq!(
            row("select date_diff('DAY', date'2022-02-25', timestamp'2023-02-27 00:00:00'), datediff('WEEK', timestamp'2022-02-25 01:02:03', timestamp'2022-01-28 01:02:03'), date_diff('MONTH', timestamp'2022-02-25 01:02:03', timestamp'2022-01-25 01:02:03'), datediff('QUARTER', date'2022-02-25', date'2023-05-25'), date_diff('YEAR', date'2022-02-25', date'2023-02-25')"),
            "367\t-4\t-1\t5\t1"
        );
        assert_eq!(
            row("select timestampdiff('MONTH', timestamp'2022-02-14 01:02:03', timestamp'2022-01-14 01:02:03'), timestampdiff('MINUTE', timestamp'2022-02-14 01:02:03', timestamp'2022-02-14 02:00:03'), timestampdiff('YEAR', date'2022-02-15', date'2023-02-15'), timestampdiff('SECOND', date'2022-02-15', timestamp'2022-02-14 23:59:59')"),
            "-1\t58\t1\t-1"
        );
        assert_eq!(
            row("select timediff('QUARTER', timestamp'2023-08-10 01:02:03', timestamp'2022-01-14 01:02:03'), timediff('HOUR', timestamp'2022-02-14 01:02:03', timestamp'2022-02-14 12:00:03'), timediff('DAY', date'2022-02-15', date'2023-02-15'), timediff('SECOND', date'2022-02-15', timestamp'2022-02-14 23:59:59')"),
            "-6\t10\t365\t-1"
        );
    }

    // Spark 4.2.1, America/Los_Angeles: wall-clock counts, partial days
    // and months do not count.
    #[test]
    fn counting_on_wall_clocks() {
        assert_eq!(
            row("select timestampdiff('HOUR', timestamp'2022-03-13 00:00:00', timestamp'2022-03-13 05:00:00'), timestampdiff('MONTH', timestamp'2022-01-31 12:00:00', timestamp'2022-02-28 13:00:00'), timestampdiff('YEAR', timestamp'2024-02-29 00:00:00', timestamp'2025-02-28 00:00:00'), timestampdiff('WEEK', date'2022-01-01', date'2022-01-14'), timestampdiff('QUARTER', timestamp'2022-01-31 00:00:00', timestamp'2022-04-30 00:00:00')"),
            "5\t0\t0\t1\t0"
        );
        assert_eq!(
            row("select timestampdiff('MICROSECOND', timestamp'2022-03-13 00:00:00', timestamp'2022-03-13 05:00:00'), timestampdiff('DAY', timestamp'2022-01-02 10:00:00', timestamp'2022-01-01 11:00:00'), timestampdiff('MONTH', timestamp'2022-03-01 10:00:00', timestamp'2022-01-01 11:00:00')"),
            "18000000000\t0\t-1"
        );
        assert!(error("select timestampdiff('DAYOFYEAR', timestamp'2022-01-01 00:00:00', timestamp'2022-01-02 00:00:00')")
            .contains("DATETIME_UNIT"));
    }

    // results/date.sql.out; Spark 4.2.1 for the timestamp and string cases.
    #[test]
    fn day_forms() {
        assert_eq!(
            row("select date_add(date'2011-11-11', 1), date_add('2011-11-11', 1), date_add('2011-11-11', '1'), date_add(null, 1), date_add(date'2011-11-11', null), date_add(timestamp'2011-11-11 23:00:00', 1)"),
            "2011-11-12\t2011-11-12\t2011-11-12\tNULL\tNULL\t2011-11-12"
        );
        assert_eq!(
            row("select date_sub(date'2011-11-11', 1), date_sub('2011-11-11', 1), dateadd(date'2011-11-11', 1), datediff('2011-11-11', '2011-11-01 23:00:00'), datediff(timestamp'2011-11-11 01:00:00', date'2011-11-10')"),
            "2011-11-10\t2011-11-10\t2011-11-12\t10\t1"
        );
        assert!(error("select date_add('2011-11-11', '1.2')").contains("CAST_INVALID_INPUT"));
        assert!(error("select date_add('2011-11-11', 1.0)").contains("INT"));
    }
}
