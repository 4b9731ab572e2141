//! Spark's field extractors: `year`, `quarter`, `month`, `day` /
//! `dayofmonth`, `dayofweek` (1 = Sunday), `weekday` (0 = Monday),
//! `dayofyear`, `weekofyear` (ISO weeks), `hour`, `minute`, `second`.
//!
//! Each takes a date, a timestamp or a string (cast as Spark casts it: to
//! a date for the date fields, to a timestamp for the time fields) and
//! gives an INT. datafusion-spark's `hour`, `minute`, `second` and
//! `weekday` take no strings, so these replace them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Time64MicrosecondType, TimeUnit};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_value::Ctx;
use crate::datetime_value::{date_time, expect_date_time, walls, Target, MICROS_PER_SECOND};
use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (Field::Year, "year"),
        (Field::Quarter, "quarter"),
        (Field::Month, "month"),
        (Field::Day, "day"),
        (Field::DayOfWeek, "dayofweek"),
        (Field::WeekDay, "weekday"),
        (Field::DayOfYear, "dayofyear"),
        (Field::WeekOfYear, "weekofyear"),
        (Field::Hour, "hour"),
        (Field::Minute, "minute"),
        (Field::Second, "second"),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Year,
    Quarter,
    Month,
    Day,
    DayOfWeek,
    WeekDay,
    DayOfYear,
    WeekOfYear,
    Hour,
    Minute,
    Second,
}

impl Field {
    /// Whether Spark reads the argument as a timestamp (else a date).
    fn of_time(self) -> bool {
        matches!(self, Field::Hour | Field::Minute | Field::Second)
    }

    fn of(self, t: &NaiveDateTime) -> i32 {
        // chrono's fields are small unsigned numbers: they fit an INT.
        let small = |v: u32| v as i32;
        match self {
            Field::Year => t.year(),
            Field::Quarter => small(t.month0() / 3 + 1),
            Field::Month => small(t.month()),
            Field::Day => small(t.day()),
            Field::DayOfWeek => small(t.weekday().num_days_from_sunday() + 1),
            Field::WeekDay => small(t.weekday().num_days_from_monday()),
            Field::DayOfYear => small(t.ordinal()),
            Field::WeekOfYear => small(t.iso_week().week()),
            Field::Hour => small(t.hour()),
            Field::Minute => small(t.minute()),
            Field::Second => small(t.second()),
        }
    }
}

/// One field of a date or timestamp.
impl kinded::Kind for Field {
    fn signature(&self) -> Signature {
        Signature::any(1, Volatility::Immutable)
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Field::Day => &["dayofmonth"],
            _ => &[],
        }
    }

    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType> {
        let t = &arg_types[0];
        if !(self.of_time() && matches!(t, DataType::Time32(_) | DataType::Time64(_))) {
            expect_date_time(name, "first", t)?;
        }
        Ok(DataType::Int32)
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let ctx = Ctx::new(&args.config_options, name)?;
        let a = &input.arrays[0];
        let out: ArrayRef = if let DataType::Time32(_) | DataType::Time64(_) = a.data_type() {
            Arc::new(time_field(*self, a)?)
        } else {
            let target = if self.of_time() {
                Target::Timestamp
            } else {
                Target::Date
            };
            let walls = walls(&ctx, a, target)?;
            Arc::new(
                walls
                    .iter()
                    .map(|w| w.and_then(date_time).map(|t| self.of(&t)))
                    .collect::<Int32Array>(),
            )
        };
        input.answer(out)
    }
}

/// `hour`, `minute` or `second` of a TIME column.
fn time_field(field: Field, a: &ArrayRef) -> Result<Int32Array> {
    let micros = cast(a, &DataType::Time64(TimeUnit::Microsecond))?;
    let micros = micros.as_primitive::<Time64MicrosecondType>();
    let divisor = match field {
        Field::Hour => 3600,
        Field::Minute => 60,
        Field::Second => 1,
        _ => return exec_err!("a TIME has no date fields"),
    };
    let modulus = if field == Field::Hour { 24 } else { 60 };
    Ok(micros.unary(|m| {
        let seconds = m.div_euclid(MICROS_PER_SECOND);
        (seconds / divisor % modulus) as i32
    }))
}

#[cfg(test)]
mod tests {
    use crate::datetime_value::testing::{error, row, run};

    // Spark's sql-tests, results/date.sql.out (a TIMESTAMP literal before
    // 1677 is beyond DataFusion's nanosecond literals: strings only there).
    #[test]
    fn fields_of_dates_timestamps_and_strings() {
        assert_eq!(
            row("select dayofweek('2007-02-03'), dayofweek('2009-07-30'), dayofweek('2017-05-27'), dayofweek(null), dayofweek('1582-10-15 13:10:15')"),
            "7\t5\t7\tNULL\t6"
        );
        assert_eq!(
            row("select weekday('2007-02-03'), weekday('2009-07-30'), weekday('2017-05-27'), weekday(null), weekday('1582-10-15 13:10:15')"),
            "5\t3\t5\tNULL\t4"
        );
        assert_eq!(
            row("select year('1500-01-01'), year('1582-10-15 13:10:15'), year(timestamp'2009-07-30 12:58:59')"),
            "1500\t1582\t2009"
        );
        assert_eq!(
            row("select month('1500-01-01'), month('1582-10-15 13:10:15'), dayOfYear('1500-01-01'), dayOfYear('1582-10-15 13:10:15')"),
            "1\t10\t1\t288"
        );
    }

    // Spark 4.2.1, session zone America/Los_Angeles.
    #[test]
    fn weeks_quarters_and_times() {
        assert_eq!(
            row("select year(timestamp'2022-12-31 23:30:00'), weekofyear('2021-01-01'), weekofyear('2020-12-31'), quarter('2022-08-01'), day('2022-08-17 10:00'), dayofmonth(date'2022-08-17'), hour('2022-08-17 10:11:12'), minute('2022-08-17 10:11:12'), second('2022-08-17 10:11:12.9')"),
            "2022\t53\t53\t3\t17\t17\t10\t11\t12"
        );
        assert_eq!(
            row("select hour(date'2022-01-01'), dayofweek(timestamp'2022-01-01 23:00:00'), weekday(date'2022-01-02'), dayofyear('2022-12-31')"),
            "0\t7\t6\t365"
        );
    }

    // Spark 4.2.1: CAST_INVALID_INPUT in ANSI mode, NULL outside it.
    #[test]
    fn malformed_strings() {
        assert!(error("select year('abc')").contains("CAST_INVALID_INPUT"));
        let rows = run("select year('abc')", "UTC", false).unwrap();
        assert_eq!(rows, ["NULL"]);
        assert!(error("select year(1)").contains("year"));
    }
}
