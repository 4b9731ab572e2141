//! Spark's date-time functions that take Java date-time patterns:
//! `date_format`, `to_date`, `to_timestamp`, `unix_timestamp`,
//! `to_unix_timestamp`, `from_unixtime`.
//!
//! Timestamps without a time zone are wall-clock times in the session time
//! zone (`spark.sql.session.timeZone`), which is how Spark shows its
//! `TIMESTAMP` values; conversions to and from epoch seconds go through
//! that zone. Formatting translates patterns to chrono's (`datetime_pattern`);
//! parsing follows Spark's own rules (`datetime_parse`): a text naming a
//! zone is read in that zone and shown in the session's.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_parse::ParsePattern;
use crate::datetime_pattern::{Format, Zone};
use crate::datetime_value::{day_of, instant_of, wall_of, walls, Ctx, Target, MICROS_PER_SECOND};
use crate::kinded;

/// Spark's `CAST(string AS TIMESTAMP)`: `to_timestamp` with one string
/// argument, which parses what Spark's cast parses (zone suffixes, `T`,
/// partial dates) into a wall-clock time of the session zone.
pub fn cast_string_to_timestamp() -> Arc<ScalarUDF> {
    kinded::function(Kind::ToTimestamp, "to_timestamp")
}

kinded::family! {
    DateFormat = "date_format",
    ToDate = "to_date",
    /// `to_timestamp`, also called `to_timestamp_ltz` and `to_timestamp_ntz`
    /// (Kiln has one TIMESTAMP type, the session's wall clock).
    ToTimestamp = "to_timestamp",
    /// `to_date` with NULL for text it cannot parse, ANSI mode or not.
    TryToDate = "try_to_date",
    /// `to_timestamp` with NULL for text it cannot parse.
    TryToTimestamp = "try_to_timestamp",
    UnixTimestamp = "unix_timestamp",
    ToUnixTimestamp = "to_unix_timestamp",
    FromUnixtime = "from_unixtime",
}

const DEFAULT_TIMESTAMP: &str = "yyyy-MM-dd HH:mm:ss";

impl kinded::Kind for Kind {
    fn signature(&self) -> Signature {
        Signature::variadic_any(Volatility::Immutable)
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Kind::ToTimestamp => &["to_timestamp_ltz", "to_timestamp_ntz"],
            _ => &[],
        }
    }

    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType> {
        let (min, max) = match *self {
            Kind::UnixTimestamp => (0, 2),
            _ => (1, 2),
        };
        if arg_types.len() < min || arg_types.len() > max {
            return exec_err!(
                "{} takes {min} to {max} arguments, got {}",
                name,
                arg_types.len()
            );
        }
        Ok(match *self {
            Kind::DateFormat | Kind::FromUnixtime => DataType::Utf8,
            Kind::ToDate | Kind::TryToDate => DataType::Date32,
            Kind::ToTimestamp | Kind::TryToTimestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Kind::UnixTimestamp | Kind::ToUnixTimestamp => DataType::Int64,
        })
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let (arrays, rows) = (&input.arrays, input.rows);
        let mut ctx = Ctx::new(&args.config_options, name)?;
        if matches!(*self, Kind::TryToDate | Kind::TryToTimestamp) {
            ctx.ansi = false;
        }
        let out = match *self {
            Kind::DateFormat => date_format(&ctx, arrays)?,
            Kind::ToDate | Kind::TryToDate => to_date(&ctx, arrays)?,
            Kind::ToTimestamp | Kind::TryToTimestamp => to_timestamp(&ctx, arrays)?,
            Kind::UnixTimestamp | Kind::ToUnixTimestamp => unix_timestamp(&ctx, arrays, rows)?,
            Kind::FromUnixtime => from_unixtime(&ctx, arrays)?,
        };
        input.answer(out)
    }
}

/// The pattern argument of a call, read once per batch: Spark's default
/// when the call has none.
enum Patterns {
    Default,
    Column(ArrayRef),
}

impl Patterns {
    /// The patterns of argument 1 of `arrays`.
    fn of(arrays: &[ArrayRef]) -> Result<Self> {
        Ok(match arrays.get(1) {
            None => Patterns::Default,
            Some(a) => Patterns::Column(cast(a, &DataType::Utf8)?),
        })
    }

    /// The pattern for `row`; `None` for a NULL pattern.
    fn at(&self, row: usize) -> Option<&str> {
        match self {
            Patterns::Default => Some(DEFAULT_TIMESTAMP),
            Patterns::Column(a) => {
                let s = a.as_string::<i32>();
                // A one-row pattern column holds the pattern of every row.
                let row = if s.len() == 1 { 0 } else { row };
                (row < s.len() && !s.is_null(row)).then(|| s.value(row))
            }
        }
    }
}

/// A compiled formatting pattern, reused while the pattern stays the same
/// (a literal pattern is compiled once per batch).
struct Compiled {
    pattern: String,
    format: Format,
}

impl Compiled {
    fn get<'c>(cache: &'c mut Option<Compiled>, pattern: &str) -> Result<&'c Format> {
        if cache.as_ref().map(|c| c.pattern.as_str()) != Some(pattern) {
            *cache = Some(Compiled {
                pattern: pattern.to_string(),
                format: Format::compile(pattern)?,
            });
        }
        match cache {
            Some(c) => Ok(&c.format),
            None => exec_err!("date-time pattern '{pattern}' did not compile"),
        }
    }
}

/// A compiled parsing pattern, reused while the pattern stays the same (a
/// literal pattern is compiled once per batch).
struct Parser {
    pattern: String,
    compiled: ParsePattern,
}

impl Parser {
    fn get<'c>(
        ctx: &Ctx,
        cache: &'c mut Option<Parser>,
        pattern: &str,
    ) -> Result<&'c ParsePattern> {
        if cache.as_ref().map(|c| c.pattern.as_str()) != Some(pattern) {
            let compiled = ParsePattern::new(pattern).map_err(|reason| {
                DataFusionError::Execution(format!(
                    "{}: [INVALID_DATETIME_PATTERN] cannot parse with date-time pattern '{pattern}': {reason}",
                    ctx.name
                ))
            })?;
            *cache = Some(Parser {
                pattern: pattern.to_string(),
                compiled,
            });
        }
        match cache {
            Some(c) => Ok(&c.compiled),
            None => exec_err!("{}: no pattern compiled", ctx.name),
        }
    }
}

/// Wall-clock date-times of a date, timestamp or string column.
fn wall_clocks(ctx: &Ctx, a: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let micros = match a.data_type() {
        DataType::Timestamp(_, Some(_)) => {
            // An instant: shown in the session zone.
            let t = cast(
                a,
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            )?;
            let t = t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            return Ok((0..t.len())
                .map(|i| {
                    if t.is_null(i) {
                        return None;
                    }
                    let v = t.value(i);
                    DateTime::from_timestamp_micros(v)
                        .map(|u| u.with_timezone(&ctx.tz).naive_local())
                })
                .collect());
        }
        _ => cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    let t = micros.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    Ok((0..t.len())
        .map(|i| {
            if t.is_null(i) {
                None
            } else {
                DateTime::from_timestamp_micros(t.value(i)).map(|u| u.naive_utc())
            }
        })
        .collect())
}

fn format_wall(ctx: &Ctx, wall: &NaiveDateTime, format: &Format) -> String {
    format.print(
        wall,
        &Zone {
            id: &ctx.zone,
            tz: &ctx.tz,
        },
    )
}

fn date_format(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let walls = wall_clocks(ctx, &arrays[0])?;
    let patterns = Patterns::of(arrays)?;
    let mut cache = None;
    let mut out = Vec::with_capacity(walls.len());
    for (row, wall) in walls.iter().enumerate() {
        let (Some(wall), Some(pattern)) = (wall, patterns.at(row)) else {
            out.push(None);
            continue;
        };
        let format = Compiled::get(&mut cache, pattern)?;
        out.push(Some(format_wall(ctx, wall, format)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// Whether `t` is a string type (text to parse).
fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// What a parse gives each row: the instant, or the session wall clock.
#[derive(Clone, Copy)]
enum Want {
    Instant,
    SessionWall,
}

/// A string column parsed with `patterns`, as instants or session wall
/// clocks (microseconds); text naming no zone is in the session zone.
fn parse_column(
    ctx: &Ctx,
    text: &ArrayRef,
    patterns: &Patterns,
    want: Want,
) -> Result<Vec<Option<i64>>> {
    let s = cast(text, &DataType::Utf8)?;
    let s = s.as_string::<i32>();
    let mut cache = None;
    let mut out = Vec::with_capacity(s.len());
    for row in 0..s.len() {
        // Spark compiles a pattern for the first row with text, so NULL text
        // with a bad pattern is NULL.
        let (false, Some(pattern)) = (s.is_null(row), patterns.at(row)) else {
            out.push(None);
            continue;
        };
        let text = s.value(row);
        let parsed = Parser::get(ctx, &mut cache, pattern)?.parse(text);
        let value = parsed.and_then(|t| match want {
            Want::Instant => t.instant(&ctx.tz),
            Want::SessionWall => t.session_wall(&ctx.tz),
        });
        match value {
            Some(v) => out.push(Some(v)),
            None if parsed.is_some() => out.push(ctx.out_of_range(format!("'{text}'"))?),
            None => out.push(ctx.unparsable(text, pattern)?),
        }
    }
    Ok(out)
}

/// The session-zone wall clocks of `instants`.
fn session_walls(ctx: &Ctx, instants: Vec<Option<i64>>) -> Result<Vec<Option<i64>>> {
    instants
        .into_iter()
        .map(|i| match i {
            None => Ok(None),
            Some(i) => match wall_of(&ctx.tz, i) {
                Some(w) => Ok(Some(w)),
                None => ctx.out_of_range(format!("{i} microseconds")),
            },
        })
        .collect()
}

/// Instants of a number of seconds since the epoch, as Spark casts numbers
/// to timestamps: fractions truncated to the microsecond, long overflow
/// saturated, NaN and infinities invalid.
fn seconds_to_instants(ctx: &Ctx, a: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let mut out = Vec::with_capacity(a.len());
    match a.data_type() {
        DataType::Decimal128(_, scale) => {
            let scale = i32::from(*scale);
            for v in a.as_primitive::<Decimal128Type>().iter() {
                let micros = v.and_then(|v| {
                    if scale <= 6 {
                        10_i128
                            .checked_pow((6 - scale).unsigned_abs())
                            .and_then(|f| v.checked_mul(f))
                    } else {
                        10_i128
                            .checked_pow((scale - 6).unsigned_abs())
                            .map_or(Some(0), |f| Some(v / f))
                    }
                });
                out.push(match (v, micros.and_then(|m| i64::try_from(m).ok())) {
                    (None, _) => None,
                    (Some(_), Some(m)) => Some(m),
                    (Some(v), None) => ctx.out_of_range(format!("{v}E-{scale} seconds"))?,
                });
            }
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let n = cast(a, &DataType::Int64)?;
            let n = n.as_primitive::<Int64Type>();
            out.extend(
                n.iter()
                    .map(|v| v.map(|v| v.saturating_mul(MICROS_PER_SECOND))),
            );
        }
        _ => {
            let f = cast(a, &DataType::Float64)?;
            for v in f.as_primitive::<Float64Type>().iter() {
                out.push(match v {
                    None => None,
                    // `as` saturates, as Java's double-to-long conversion does.
                    Some(s) if s.is_finite() => Some((s * MICROS_PER_SECOND as f64) as i64),
                    Some(s) if ctx.ansi => {
                        return exec_err!(
                            "{}: [CAST_INVALID_INPUT] the value {s} of the type DOUBLE cannot be cast to TIMESTAMP (set spark.sql.ansi.enabled=false for NULL instead)",
                            ctx.name
                        )
                    }
                    Some(_) => None,
                });
            }
        }
    }
    Ok(out)
}

/// `to_date(s, pattern)`: the session-zone date of the parsed time, as
/// Spark's cast of `to_timestamp` gives; without a pattern Spark's cast.
fn to_date(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &arrays[0];
    let walls = if is_string(a.data_type()) && arrays.len() > 1 {
        parse_column(ctx, a, &Patterns::of(arrays)?, Want::SessionWall)?
    } else {
        walls(ctx, a, Target::Date)?.iter().collect()
    };
    Ok(Arc::new(Date32Array::from(
        walls
            .iter()
            .map(|w| w.and_then(|w| i32::try_from(day_of(w)).ok()))
            .collect::<Vec<_>>(),
    )))
}

/// `to_timestamp(s, pattern)`; a number is seconds since the epoch; without
/// a pattern Spark's cast.
fn to_timestamp(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &arrays[0];
    let walls = if a.data_type().is_numeric() {
        session_walls(ctx, seconds_to_instants(ctx, a)?)?
    } else if is_string(a.data_type()) && arrays.len() > 1 {
        parse_column(ctx, a, &Patterns::of(arrays)?, Want::SessionWall)?
    } else {
        walls(ctx, a, Target::Timestamp)?.iter().collect()
    };
    Ok(Arc::new(TimestampMicrosecondArray::from(walls)))
}

/// `unix_timestamp` and `to_unix_timestamp`: seconds since the epoch of a
/// date, a timestamp, or a string parsed with the pattern (Spark's default
/// without one).
fn unix_timestamp(ctx: &Ctx, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let Some(a) = arrays.first() else {
        let now = Utc::now().timestamp();
        return Ok(Arc::new(Int64Array::from(vec![now; rows])));
    };
    // Spark truncates a parsed time's fraction and rounds a timestamp's down.
    let seconds: Vec<Option<i64>> = if is_string(a.data_type()) {
        parse_column(ctx, a, &Patterns::of(arrays)?, Want::Instant)?
            .iter()
            .map(|i| i.map(|i| i / MICROS_PER_SECOND))
            .collect()
    } else {
        walls(ctx, a, Target::Timestamp)?
            .iter()
            .map(|w| w.and_then(|w| instant_of(&ctx.tz, w)))
            .map(|i| i.map(|i| i.div_euclid(MICROS_PER_SECOND)))
            .collect()
    };
    Ok(Arc::new(Int64Array::from(seconds)))
}

fn from_unixtime(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let secs = cast(&arrays[0], &DataType::Int64)?;
    let secs = secs.as_primitive::<arrow::datatypes::Int64Type>();
    let patterns = Patterns::of(arrays)?;
    let mut cache = None;
    let mut out = Vec::with_capacity(secs.len());
    for row in 0..secs.len() {
        let wall = if secs.is_null(row) {
            None
        } else {
            ctx.wall_clock(secs.value(row))
        };
        let (Some(wall), Some(pattern)) = (wall, patterns.at(row)) else {
            out.push(None);
            continue;
        };
        let format = Compiled::get(&mut cache, pattern)?;
        out.push(Some(format_wall(ctx, &wall, format)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime_value::testing::{error, row, run};
    use arrow::array::timezone::Tz;
    use arrow::array::StringArray;
    use arrow::datatypes::Date32Type;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn ctx(zone: &str) -> Ctx<'static> {
        Ctx {
            tz: Tz::from_str(zone).unwrap(),
            zone: zone.to_string(),
            ansi: false,
            name: "test",
        }
    }

    fn strings(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    #[test]
    fn formats_and_parses_with_java_patterns() {
        let c = ctx("UTC");
        let d = to_date(
            &c,
            &[strings(&["03/09/1995", "x"]), strings(&["dd/MM/yyyy"])],
        )
        .unwrap();
        let d = d.as_primitive::<Date32Type>();
        assert_eq!(
            Date32Type::to_naive_date_opt(d.value(0)),
            NaiveDate::from_ymd_opt(1995, 9, 3)
        );
        assert!(d.is_null(1), "unparsable is NULL outside ANSI mode");
        let ts = to_timestamp(&c, &[strings(&["2020-01-02 03:04:05"])]).unwrap();
        let f = date_format(&c, &[ts, strings(&["yyyy-MM"])]).unwrap();
        assert_eq!(f.as_string::<i32>().value(0), "2020-01");
    }

    #[test]
    fn epoch_seconds_go_through_the_session_zone() {
        let c = ctx("America/Los_Angeles");
        let secs = unix_timestamp(&c, &[strings(&["1970-01-01 00:00:00"])], 1).unwrap();
        assert_eq!(
            secs.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            8 * 3600
        );
        let back = from_unixtime(&c, &[Arc::new(Int64Array::from(vec![0]))]).unwrap();
        assert_eq!(back.as_string::<i32>().value(0), "1969-12-31 16:00:00");
    }

    #[test]
    fn ansi_mode_rejects_unparsable_text() {
        let mut c = ctx("UTC");
        c.ansi = true;
        let e = to_date(&c, &[strings(&["nope"]), strings(&["yyyy-MM-dd"])]).unwrap_err();
        assert!(e.to_string().contains("'nope'"), "{e}");
    }

    /// `to_timestamp(text, pattern)` in Los Angeles, ANSI mode.
    fn ts(text: &str, pattern: &str) -> String {
        row(&format!("select to_timestamp(\"{text}\", \"{pattern}\")"))
    }

    // Spark's sql-tests, results/timestamp.sql.out (America/Los_Angeles).
    #[test]
    fn optional_sections_and_variable_width_fractions() {
        let p = "yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]";
        assert_eq!(ts("2019-10-06 10:11:12.0", p), "2019-10-06 10:11:12");
        assert_eq!(ts("2019-10-06 10:11:12.1", p), "2019-10-06 10:11:12.1");
        assert_eq!(ts("2019-10-06 10:11:12.12", p), "2019-10-06 10:11:12.12");
        assert_eq!(
            ts("2019-10-06 10:11:12.1234", p),
            "2019-10-06 10:11:12.1234"
        );
        // A zone name is read in its zone and shown in the session's.
        assert_eq!(
            ts("2019-10-06 10:11:12.123UTC", p),
            "2019-10-06 03:11:12.123"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12.12345CST", p),
            "2019-10-06 08:11:12.12345"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12.123456PST", p),
            "2019-10-06 10:11:12.123456"
        );
        assert!(error(&format!(
            "select to_timestamp('2019-10-06 10:11:12.', '{p}')"
        ))
        .contains("cannot parse"));
        assert!(error(&format!(
            "select to_timestamp('2019-10-06 10:11:12.1234567PST', '{p}')"
        ))
        .contains("cannot parse"));
        assert_eq!(
            ts(
                "123456 2019-10-06 10:11:12.123456PST",
                "SSSSSS yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]"
            ),
            "2019-10-06 10:11:12.123456"
        );
        // Two fractions that disagree.
        assert!(error("select to_timestamp('223456 2019-10-06 10:11:12.123456PST', 'SSSSSS yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]')").contains("cannot parse"));
        assert_eq!(
            ts("2019-10-06 10:11:12.1234", "yyyy-MM-dd HH:mm:ss.[SSSSSS]"),
            "2019-10-06 10:11:12.1234"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12.123", "yyyy-MM-dd HH:mm:ss[.SSSSSS]"),
            "2019-10-06 10:11:12.123"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12", "yyyy-MM-dd HH:mm:ss[.SSSSSS]"),
            "2019-10-06 10:11:12"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12.12", "yyyy-MM-dd HH:mm[:ss.SSSSSS]"),
            "2019-10-06 10:11:12.12"
        );
        assert_eq!(
            ts("2019-10-06 10:11", "yyyy-MM-dd HH:mm[:ss.SSSSSS]"),
            "2019-10-06 10:11:00"
        );
    }

    #[test]
    fn quoted_literals() {
        assert_eq!(
            ts("2019-10-06S10:11:12.12345", "yyyy-MM-dd'S'HH:mm:ss.SSSSSS"),
            "2019-10-06 10:11:12.12345"
        );
        assert_eq!(
            ts("2019-10-06T10:11:12'12", "yyyy-MM-dd'T'HH:mm:ss''SSSS"),
            "2019-10-06 10:11:12.12"
        );
        assert_eq!(
            ts("2019-10-06T10:11:12'", "yyyy-MM-dd'T'HH:mm:ss''"),
            "2019-10-06 10:11:12"
        );
        assert_eq!(
            ts("'2019-10-06T10:11:12", "''yyyy-MM-dd'T'HH:mm:ss"),
            "2019-10-06 10:11:12"
        );
        assert_eq!(ts("S2019-10-06", "'S'yyyy-MM-dd"), "2019-10-06 00:00:00");
    }

    #[test]
    fn missing_fields_default_to_the_epoch() {
        assert_eq!(ts("16", "dd"), "1970-01-16 00:00:00");
        assert_eq!(row("select to_date(\"16\", \"dd\")"), "1970-01-16");
        assert_eq!(ts("2019 40", "yyyy mm"), "2019-01-01 00:40:00");
        assert_eq!(ts("2019 10:10:10", "yyyy hh:mm:ss"), "2019-01-01 10:10:10");
        // There is no 29 February in 1970.
        assert!(error("select to_timestamp('02-29', 'MM-dd')").contains("cannot parse"));
        assert!(error("select to_date('02-29', 'MM-dd')").contains("cannot parse"));
    }

    #[test]
    fn adjacent_numeric_fields() {
        assert_eq!(
            ts("12.12342019-10-06S10:11", "ss.SSSSyyyy-MM-dd'S'HH:mm"),
            "2019-10-06 10:11:12.1234"
        );
        assert!(error(
            "select to_timestamp('12.1232019-10-06S10:11', \"ss.SSSSyyyy-MM-dd'S'HH:mm\")"
        )
        .contains("cannot parse"));
        assert!(error(
            "select to_timestamp('12.1232019-10-06S10:11', \"ss.SSSSyy-MM-dd'S'HH:mm\")"
        )
        .contains("cannot parse"));
        assert_eq!(
            ts("12.1234019-10-06S10:11", "ss.SSSSy-MM-dd'S'HH:mm"),
            "0019-10-06 10:11:12.1234"
        );
        // Spark 4.2.1: fixed-width fields keep their digits.
        assert_eq!(
            ts("20191006101112", "yyyyMMddHHmmss"),
            "2019-10-06 10:11:12"
        );
    }

    #[test]
    fn narrow_text_and_formatting_only_letters_are_rejected() {
        for sql in [
            "select to_timestamp('22 05 2020 Friday', 'dd MM yyyy EEEEE')",
            "select to_timestamp('22 05 2020 Friday', 'dd MM yyyy EEEEEE')",
            "select unix_timestamp('22 05 2020 Friday', 'dd MM yyyy EEEEE')",
            "select to_date('26/October/2015', 'dd/MMMMM/yyyy')",
            "select to_timestamp('2019-10-06 A', 'yyyy-MM-dd GGGGG')",
        ] {
            assert!(error(sql).contains("INVALID_DATETIME_PATTERN"), "{sql}");
        }
        // Outside ANSI mode too, and whatever the text.
        let e = run(
            "select to_timestamp('x', 'dd MM yyyy EEEE')",
            "America/Los_Angeles",
            false,
        )
        .unwrap_err();
        assert!(e.contains("'E'"), "{e}");
        // NULL text never compiles the pattern, as in Spark.
        assert_eq!(row("select to_timestamp(NULL, 'yyyy EEEEE')"), "NULL");
    }

    #[test]
    fn numbers_are_seconds_since_the_epoch() {
        assert_eq!(row("select to_timestamp(1)"), "1969-12-31 16:00:01");
        // Spark 4.2.1.
        assert_eq!(
            row("select to_timestamp(1.5), to_timestamp(CAST(2 AS DOUBLE)), to_timestamp(CAST(1.5 AS FLOAT)), to_timestamp(-1.5), to_timestamp(1.1234567)"),
            "1969-12-31 16:00:01.5\t1969-12-31 16:00:02\t1969-12-31 16:00:01.5\t1969-12-31 15:59:58.5\t1969-12-31 16:00:01.123456"
        );
        assert!(error("select to_timestamp(CAST('NaN' AS DOUBLE))").contains("CAST_INVALID_INPUT"));
    }

    // Spark 4.2.1, America/Los_Angeles.
    #[test]
    fn zones_offsets_and_unix_seconds() {
        assert_eq!(
            ts(
                "2019-10-06T10:11:12.123+01:00",
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
            ),
            "2019-10-06 02:11:12.123"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12 europe/paris", "yyyy-MM-dd HH:mm:ss VV"),
            "2019-10-06 01:11:12"
        );
        assert_eq!(
            ts(
                "2019-10-06 10:11:12 Pacific Standard Time",
                "yyyy-MM-dd HH:mm:ss zzzz"
            ),
            "2019-10-06 10:11:12"
        );
        assert_eq!(
            ts("2019-10-06 10:11:12 GMT-8", "yyyy-MM-dd HH:mm:ss O"),
            "2019-10-06 11:11:12"
        );
        // A wall time skipped by summer time moves forward.
        assert_eq!(
            ts("2019-03-10 02:30:00", "yyyy-MM-dd HH:mm:ss"),
            "2019-03-10 03:30:00"
        );
        assert_eq!(
            row("select to_date('2019-10-06 02:00:00 UTC', 'yyyy-MM-dd HH:mm:ss z')"),
            "2019-10-05"
        );
        assert_eq!(
            row("select unix_timestamp('2019-10-06 10:11:12.123UTC', 'yyyy-MM-dd HH:mm:ss.SSS[zzz]'), unix_timestamp('1969-12-31 15:59:59.5', 'yyyy-MM-dd HH:mm:ss.S'), unix_timestamp('2019-11-03 01:30:00'), to_unix_timestamp('2019-10-06', 'yyyy-MM-dd'), to_unix_timestamp(date'2019-10-06')"),
            "1570356672\t0\t1572769800\t1570345200\t1570345200"
        );
    }
}
