//! Spark's date-time constructors: `make_date`, `make_timestamp`,
//! `make_timestamp_ltz`, `make_timestamp_ntz` and their `try_` forms, and
//! `localtimestamp`.
//!
//! `make_timestamp(year, month, day, hour, min, sec[, zone])` takes the
//! seconds as a DECIMAL(16, 6) (microseconds), 60 seconds with no fraction
//! as the next minute; its other form is `make_timestamp(date[, time[,
//! zone]])`. A wall time given in `zone` (else the session zone) is shown
//! in the session zone, as Spark shows a `TIMESTAMP`; `_ntz` keeps the wall
//! time as given. Out-of-range fields are an error in ANSI mode and NULL
//! otherwise (always NULL for `try_`); an unknown zone is always an error,
//! as in Spark. DataFusion's `make_date` errs outside ANSI mode too, so
//! this one replaces it.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int32Array, TimestampMicrosecondArray};
use arrow::compute::{cast, cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Decimal128Type, Int32Type, Time64MicrosecondType, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_value::Ctx;
use crate::datetime_value::{
    instant_of, midnight, wall_of, walls, zone, Target, MICROS_PER_SECOND,
};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut kinds = vec![(Kind::Date, false), (Kind::LocalTimestamp, false)];
    for kind in [Kind::Timestamp, Kind::TimestampLtz, Kind::TimestampNtz] {
        kinds.push((kind, false));
        kinds.push((kind, true));
    }
    kinds
        .into_iter()
        .map(|(kind, lenient)| {
            let signature = match kind {
                Kind::LocalTimestamp => Signature::nullary(Volatility::Stable),
                _ => Signature::variadic_any(Volatility::Immutable),
            };
            Arc::new(ScalarUDF::new_from_impl(Make {
                kind,
                lenient,
                signature,
            }))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Date,
    Timestamp,
    TimestampLtz,
    TimestampNtz,
    LocalTimestamp,
}

/// One constructor; `lenient` is its `try_` form.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Make {
    kind: Kind,
    lenient: bool,
    signature: Signature,
}

impl ScalarUDFImpl for Make {
    fn name(&self) -> &str {
        match (self.kind, self.lenient) {
            (Kind::Date, _) => "make_date",
            (Kind::LocalTimestamp, _) => "localtimestamp",
            (Kind::Timestamp, false) => "make_timestamp",
            (Kind::Timestamp, true) => "try_make_timestamp",
            (Kind::TimestampLtz, false) => "make_timestamp_ltz",
            (Kind::TimestampLtz, true) => "try_make_timestamp_ltz",
            (Kind::TimestampNtz, false) => "make_timestamp_ntz",
            (Kind::TimestampNtz, true) => "try_make_timestamp_ntz",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let n = arg_types.len();
        let arity_ok = match self.kind {
            Kind::Date => n == 3,
            Kind::LocalTimestamp => n == 0,
            Kind::TimestampNtz => n == 6 || (1..=2).contains(&n),
            Kind::Timestamp | Kind::TimestampLtz => n == 6 || n == 7 || (1..=3).contains(&n),
        };
        if !arity_ok {
            return exec_err!("{}: wrong number of arguments: {n}", self.name());
        }
        if (1..=3).contains(&n) && self.kind != Kind::Date {
            check_date_time_form(self.name(), arg_types)?;
        }
        Ok(match self.kind {
            Kind::Date => DataType::Date32,
            _ => DataType::Timestamp(TimeUnit::Microsecond, None),
        })
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if self.kind != Kind::LocalTimestamp {
            return Ok(ExprSimplifyResult::Original(args));
        }
        // One value for the whole query, as Spark's `localtimestamp()`.
        let Some(start) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let ctx = Ctx::new(info.config_options(), self.name())?;
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::TimestampMicrosecond(local_now(&ctx, start), None),
            None,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ctx = Ctx::new(&args.config_options, self.name())?;
        if self.kind == Kind::LocalTimestamp {
            // As DataFusion's `now()`: planning replaces the call by the
            // query's start time, so one query sees one value.
            return exec_err!("localtimestamp() runs only as the literal planning makes of it");
        }
        let input = Arrays::new(&args.args, args.number_rows)?;
        let fail = ctx.ansi && !self.lenient;
        let a = &input.arrays;
        let out: ArrayRef = match self.kind {
            Kind::Date => {
                let f = Fields::of(a, None, fail)?;
                let mut out = Vec::with_capacity(input.rows);
                for row in 0..input.rows {
                    out.push(match f.date(row) {
                        None => None,
                        Some(Ok(d)) => Some(d),
                        Some(Err(e)) => failure(&ctx, fail, e)?,
                    });
                }
                Arc::new(Date32Array::from(
                    out.into_iter()
                        .map(|d| d.map(arrow::datatypes::Date32Type::from_naive_date))
                        .collect::<Vec<_>>(),
                ))
            }
            _ => Arc::new(self.timestamps(&ctx, a, input.rows, fail)?),
        };
        input.answer(out)
    }
}

impl Make {
    fn timestamps(
        &self,
        ctx: &Ctx,
        a: &[ArrayRef],
        rows: usize,
        fail: bool,
    ) -> Result<TimestampMicrosecondArray> {
        let fields_form = a.len() >= 6;
        let (walls_of_row, zone_arg): (Vec<Row>, Option<&ArrayRef>) = if fields_form {
            let f = Fields::of(&a[..5], Some(&a[5]), fail)?;
            ((0..rows).map(|r| f.timestamp(r)).collect(), a.get(6))
        } else {
            (date_and_time(ctx, a, rows)?, a.get(2))
        };
        let zones = match zone_arg {
            Some(z) => Some(cast(z, &DataType::Utf8)?),
            None => None,
        };
        let zones = zones.as_ref().map(|z| z.as_string::<i32>());
        let mut cached: Option<(String, Tz)> = None;
        let mut out = Vec::with_capacity(rows);
        for (row, wall) in walls_of_row.into_iter().enumerate() {
            let wall = match wall {
                None => None,
                Some(Err(e)) => failure(ctx, fail, e)?,
                Some(Ok(w)) => Some(w),
            };
            let Some(wall) = wall else {
                out.push(None);
                continue;
            };
            if self.kind == Kind::TimestampNtz {
                out.push(Some(wall));
                continue;
            }
            let tz = match zones {
                None => ctx.tz,
                Some(z) if z.is_null(row) => {
                    out.push(None);
                    continue;
                }
                Some(z) => {
                    let name = z.value(row);
                    match &cached {
                        Some((n, tz)) if n == name => *tz,
                        _ => {
                            let Some(tz) = zone(name) else {
                                return exec_err!(
                                    "{}: [INVALID_TIMEZONE] the time zone '{name}' is invalid: use a region such as 'America/Los_Angeles' or an offset such as '+01:00'",
                                    ctx.name
                                );
                            };
                            cached = Some((name.to_string(), tz));
                            tz
                        }
                    }
                }
            };
            // The wall time in `tz`, shown in the session zone.
            let shown = instant_of(&tz, wall).and_then(|i| wall_of(&ctx.tz, i));
            match shown {
                Some(s) => out.push(Some(s)),
                None => out.push(failure(ctx, fail, format!("{wall} is out of range"))?),
            }
        }
        Ok(TimestampMicrosecondArray::from(out))
    }
}

/// A row's wall time: `None` for NULL, `Err` with why it is invalid.
type Row = Option<Result<i64, String>>;

/// An invalid row: an error when `fail`, else NULL.
fn failure<T>(ctx: &Ctx, fail: bool, message: String) -> Result<Option<T>> {
    if fail {
        // Spark's error class, unless the message names its own.
        let class = if message.starts_with('[') {
            ""
        } else {
            "[DATETIME_FIELD_OUT_OF_BOUNDS] "
        };
        exec_err!(
            "{}: {class}{message} (use try_{} or set spark.sql.ansi.enabled=false for NULL instead)",
            ctx.name,
            ctx.name.trim_start_matches("try_")
        )
    } else {
        Ok(None)
    }
}

fn check_date_time_form(name: &str, t: &[DataType]) -> Result<()> {
    let date_ok = matches!(
        t[0],
        DataType::Null
            | DataType::Date32
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    );
    if !date_ok {
        return exec_err!("{name}: the first argument must be a DATE, got {}", t[0]);
    }
    if let Some(time) = t.get(1) {
        if !matches!(
            time,
            DataType::Null | DataType::Time32(_) | DataType::Time64(_)
        ) {
            return exec_err!("{name}: the second argument must be a TIME, got {time}");
        }
    }
    Ok(())
}

/// Wall times of `make_timestamp(date[, time])`.
fn date_and_time(ctx: &Ctx, a: &[ArrayRef], rows: usize) -> Result<Vec<Row>> {
    let dates = walls(ctx, &a[0], Target::Date)?;
    let times = match a.get(1) {
        Some(t) => Some(cast(t, &DataType::Time64(TimeUnit::Microsecond))?),
        None => None,
    };
    let times = times
        .as_ref()
        .map(|t| t.as_primitive::<Time64MicrosecondType>());
    Ok((0..rows)
        .map(|r| {
            if dates.is_null(r) {
                return None;
            }
            let time = match times {
                None => 0,
                Some(t) if t.is_null(r) => return None,
                Some(t) => t.value(r),
            };
            Some(Ok(dates.value(r) + time))
        })
        .collect())
}

/// The year, month, day, hour and minute columns as INT, and the seconds
/// as microseconds (Spark's DECIMAL(16, 6)).
struct Fields {
    ints: Vec<Int32Array>,
    micros: Option<arrow::array::PrimitiveArray<Decimal128Type>>,
}

impl Fields {
    fn of(ints: &[ArrayRef], seconds: Option<&ArrayRef>, fail: bool) -> Result<Self> {
        let options = CastOptions {
            safe: !fail,
            ..Default::default()
        };
        let ints = ints
            .iter()
            .map(|a| {
                Ok(cast_with_options(a, &DataType::Int32, &options)?
                    .as_primitive::<Int32Type>()
                    .clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let micros = match seconds {
            Some(s) => Some(
                cast_with_options(s, &DataType::Decimal128(16, 6), &options)?
                    .as_primitive::<Decimal128Type>()
                    .clone(),
            ),
            None => None,
        };
        Ok(Fields { ints, micros })
    }

    fn int(&self, i: usize, row: usize) -> Option<i32> {
        let a = self.ints.get(i)?;
        (!a.is_null(row)).then(|| a.value(row))
    }

    /// The date of `row`; `None` for a NULL field, `Some(Err)` with
    /// Spark's (java.time's) message for one out of range.
    fn date(&self, row: usize) -> Option<Result<NaiveDate, String>> {
        let (y, m, d) = (self.int(0, row)?, self.int(1, row)?, self.int(2, row)?);
        Some(date(y, m, d))
    }

    fn timestamp(&self, row: usize) -> Option<Result<i64, String>> {
        let date = match self.date(row)? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let (h, mi) = (self.int(3, row)?, self.int(4, row)?);
        let micros = self.micros.as_ref()?;
        if micros.is_null(row) {
            return None;
        }
        let total = micros.value(row);
        let (sec, frac) = (
            total.div_euclid(MICROS_PER_SECOND as i128),
            total.rem_euclid(MICROS_PER_SECOND as i128) as i64,
        );
        Some(time_of_day(h, mi, sec, frac).map(|t| midnight(date) + t))
    }
}

fn date(y: i32, m: i32, d: i32) -> Result<NaiveDate, String> {
    if !(1..=12).contains(&m) {
        return Err(format!(
            "Invalid value for MonthOfYear (valid values 1 - 12): {m}"
        ));
    }
    if !(1..=31).contains(&d) {
        return Err(format!(
            "Invalid value for DayOfMonth (valid values 1 - 28/31): {d}"
        ));
    }
    NaiveDate::from_ymd_opt(y, m as u32, d as u32).ok_or_else(|| {
        if NaiveDate::from_ymd_opt(y, 1, 1).is_none() {
            format!("Invalid value for Year: {y}")
        } else if m == 2 && d == 29 {
            format!("Invalid date 'February 29' as '{y}' is not a leap year")
        } else {
            let month = NaiveDate::from_ymd_opt(2000, m as u32, 1)
                .map(|d| d.format("%B").to_string().to_uppercase())
                .unwrap_or_default();
            format!("Invalid date '{month} {d}'")
        }
    })
}

/// Microseconds since midnight of `h:mi:sec.frac`; 60 seconds with no
/// fraction is the next minute (which Spark takes from PostgreSQL).
fn time_of_day(h: i32, mi: i32, sec: i128, frac: i64) -> Result<i64, String> {
    if sec == 60 && frac != 0 {
        return Err(format!(
            "[INVALID_FRACTION_OF_SECOND] valid range for seconds is [0, 60] (inclusive), but the provided value is 60.{:06}",
            frac
        )
        .trim_end_matches('0')
        .to_string());
    }
    if !(0..=23).contains(&h) {
        return Err(format!(
            "Invalid value for HourOfDay (valid values 0 - 23): {h}"
        ));
    }
    if !(0..=59).contains(&mi) {
        return Err(format!(
            "Invalid value for MinuteOfHour (valid values 0 - 59): {mi}"
        ));
    }
    if !(0..=60).contains(&sec) {
        return Err(format!(
            "Invalid value for SecondOfMinute (valid values 0 - 59): {sec}"
        ));
    }
    let seconds = i64::from(h) * 3600 + i64::from(mi) * 60 + sec as i64;
    Ok(seconds * MICROS_PER_SECOND + frac)
}

/// The session zone's wall clock at `now`.
fn local_now(ctx: &Ctx, now: DateTime<Utc>) -> Option<i64> {
    wall_of(&ctx.tz, now.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use crate::datetime_value::testing::{error, row, run};

    // Spark's sql-tests, results/timestamp.sql.out and date.sql.out
    // (America/Los_Angeles, ANSI mode).
    #[test]
    fn timestamps_from_fields() {
        assert_eq!(
            row("SELECT make_timestamp(2021, 07, 11, 6, 30, 45.678), make_timestamp(2021, 07, 11, 6, 30, 45.678, 'CET'), make_timestamp(1, 1, 1, 1, 1, 1), make_timestamp(1, 1, 1, 1, 1, 60), make_timestamp(1, 1, 1, 1, 1, null), make_timestamp(1, 1, 1, 1, 1, 59.999999)"),
            "2021-07-11 06:30:45.678\t2021-07-10 21:30:45.678\t0001-01-01 01:01:01\t0001-01-01 01:02:00\tNULL\t0001-01-01 01:01:59.999999"
        );
        assert!(error("SELECT make_timestamp(2021, 07, 11, 6, 30, 60.007)")
            .contains("INVALID_FRACTION_OF_SECOND"));
        assert!(error("SELECT make_timestamp(1, 1, 1, 1, 1, 61)")
            .contains("Invalid value for SecondOfMinute (valid values 0 - 59): 61"));
        assert!(error("SELECT make_timestamp(1, 1, 1, 1, 1, 999.999999)").contains("999"));
        assert_eq!(
            row("SELECT make_timestamp(make_date(2021, 07, 11)), make_timestamp(DATE'1970-01-01'), make_timestamp(NULL), try_make_timestamp(make_date(2021, 07, 11))"),
            "2021-07-11 00:00:00\t1970-01-01 00:00:00\tNULL\t2021-07-11 00:00:00"
        );
        assert_eq!(
            row("SELECT make_timestamp(DATE'1970-01-01', TIME'00:00:00', 'UTC'), make_timestamp(DATE'1970-01-01', TIME'00:00:00'), make_timestamp(DATE'1970-01-01', NULL, 'UTC')"),
            "1969-12-31 16:00:00\t1970-01-01 00:00:00\tNULL"
        );
        assert!(error(
            "SELECT make_timestamp(timestamp '2018-11-17 13:33:33', TIME'0:0:0', 'CET')"
        )
        .contains("DATE"));
        assert_eq!(
            row("select make_date(2019, 1, 1), make_date(12, 12, 12)"),
            "2019-01-01\t0012-12-12"
        );
        assert!(error("select make_date(2000, 13, 1)")
            .contains("Invalid value for MonthOfYear (valid values 1 - 12): 13"));
        assert!(error("select make_date(2000, 1, 33)")
            .contains("Invalid value for DayOfMonth (valid values 1 - 28/31): 33"));
    }

    // Spark 4.2.1, America/Los_Angeles.
    #[test]
    fn zones_gaps_and_leniency() {
        assert_eq!(
            row("select make_timestamp(2022, 3, 13, 2, 30, 0), make_timestamp_ntz(2022, 3, 13, 2, 30, 0), make_timestamp(2022, 11, 6, 1, 30, 0), make_timestamp(2021, 7, 11, 6, 30, 45.678, 'PST'), make_timestamp(2021, 7, 11, 6, 30, 45.678, '+01:00'), make_timestamp(2021, 7, 11, 6, 30, 45.678, 'GMT+1')"),
            "2022-03-13 03:30:00\t2022-03-13 02:30:00\t2022-11-06 01:30:00\t2021-07-11 06:30:45.678\t2021-07-10 22:30:45.678\t2021-07-10 22:30:45.678"
        );
        assert_eq!(
            row("select make_timestamp(2021, 07, 11, 6, 30, 45.678, 'MIT'), make_timestamp_ltz(2021, 07, 11, 6, 30, 45.678), make_timestamp(2019, 1, 1, 0, 0, 0.0000005), make_timestamp(2021, 7, 11, 6, 30, 45.5, null)"),
            "2021-07-10 10:30:45.678\t2021-07-11 06:30:45.678\t2019-01-01 00:00:00.000001\tNULL"
        );
        assert!(error("select make_timestamp(2023, 2, 29, 0, 0, 0)")
            .contains("Invalid date 'February 29' as '2023' is not a leap year"));
        assert!(error("select make_timestamp(2023, 4, 31, 0, 0, 0)")
            .contains("Invalid date 'APRIL 31'"));
        assert!(error("select make_timestamp(2023, 4, 30, 24, 0, 0)").contains("HourOfDay"));
        assert!(error("select make_timestamp(2023, 4, 30, 1, 0, -1)").contains(": -1"));
        assert_eq!(
            row("select try_make_timestamp(1,1,1,1,1,61), try_make_timestamp(1,1,1,1,1,60.5), try_make_timestamp_ntz(2000, 13, 1, 0, 0, 0)"),
            "NULL\tNULL\tNULL"
        );
        // An unknown zone is an error even for `try_`.
        assert!(
            error("select try_make_timestamp(2021, 7, 11, 6, 30, 45, 'Nowhere/Zone')")
                .contains("INVALID_TIMEZONE")
        );
        let lenient = run(
            "select make_date(2000, 13, 1), make_timestamp(1,1,1,1,1,61), make_timestamp(1,1,1,1,1,60.5)",
            "America/Los_Angeles",
            false,
        )
        .unwrap();
        assert_eq!(lenient, ["NULL\tNULL\tNULL"]);
        assert_eq!(row("select localtimestamp() = localtimestamp()"), "true");
    }
}
