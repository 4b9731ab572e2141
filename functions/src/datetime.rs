//! Spark's date-time functions that take Java date-time patterns:
//! `date_format`, `to_date`, `to_timestamp`, `unix_timestamp`,
//! `from_unixtime`.
//!
//! Timestamps without a time zone are wall-clock times in the session time
//! zone (`spark.sql.session.timeZone`), which is how Spark shows its
//! `TIMESTAMP` values; conversions to and from epoch seconds go through
//! that zone.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, TimeUnit};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::Arrays;
use crate::datetime_pattern::{fill_fractions, to_chrono, Use};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        Kind::DateFormat,
        Kind::ToDate,
        Kind::ToTimestamp,
        Kind::UnixTimestamp,
        Kind::FromUnixtime,
    ]
    .into_iter()
    .map(|kind| Arc::new(ScalarUDF::new_from_impl(PatternFunction::new(kind))))
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    DateFormat,
    ToDate,
    ToTimestamp,
    UnixTimestamp,
    FromUnixtime,
}

const DEFAULT_TIMESTAMP: &str = "yyyy-MM-dd HH:mm:ss";

#[derive(Debug, PartialEq, Eq, Hash)]
struct PatternFunction {
    kind: Kind,
    signature: Signature,
}

impl PatternFunction {
    fn new(kind: Kind) -> Self {
        PatternFunction {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PatternFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::DateFormat => "date_format",
            Kind::ToDate => "to_date",
            Kind::ToTimestamp => "to_timestamp",
            Kind::UnixTimestamp => "unix_timestamp",
            Kind::FromUnixtime => "from_unixtime",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let (min, max) = match self.kind {
            Kind::UnixTimestamp => (0, 2),
            _ => (1, 2),
        };
        if arg_types.len() < min || arg_types.len() > max {
            return exec_err!(
                "{} takes {min} to {max} arguments, got {}",
                self.name(),
                arg_types.len()
            );
        }
        Ok(match self.kind {
            Kind::DateFormat | Kind::FromUnixtime => DataType::Utf8,
            Kind::ToDate => DataType::Date32,
            Kind::ToTimestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::UnixTimestamp => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let (arrays, rows) = (&input.arrays, input.rows);
        let ctx = Ctx::new(&args.config_options, self.name())?;
        let out = match self.kind {
            Kind::DateFormat => date_format(&ctx, arrays)?,
            Kind::ToDate => to_date(&ctx, arrays)?,
            Kind::ToTimestamp => to_timestamp(&ctx, arrays)?,
            Kind::UnixTimestamp => unix_timestamp(&ctx, arrays, rows)?,
            Kind::FromUnixtime => from_unixtime(&ctx, arrays)?,
        };
        input.answer(out)
    }
}

/// What every row needs: the session zone, ANSI mode, the function's name.
pub(crate) struct Ctx<'a> {
    /// The session time zone (`spark.sql.session.timeZone`).
    pub(crate) tz: Tz,
    /// Whether invalid input is an error (`spark.sql.ansi.enabled`).
    pub(crate) ansi: bool,
    /// The function's name, for messages.
    pub(crate) name: &'a str,
}

impl<'a> Ctx<'a> {
    /// The session's zone and ANSI mode, for function `name`.
    pub(crate) fn new(config: &ConfigOptions, name: &'a str) -> Result<Self> {
        let zone = config.execution.time_zone.as_deref().unwrap_or("+00:00");
        let tz = Tz::from_str(zone)
            .map_err(|e| DataFusionError::Execution(format!("session time zone '{zone}': {e}")))?;
        Ok(Ctx {
            tz,
            ansi: config.execution.enable_ansi_mode,
            name,
        })
    }

    /// A value Spark cannot parse: an error in ANSI mode, NULL otherwise.
    fn unparsable<T>(&self, text: &str, pattern: &str) -> Result<Option<T>> {
        if self.ansi {
            exec_err!(
                "{}: cannot parse '{text}' with pattern '{pattern}' (set spark.sql.ansi.enabled=false for NULL instead)",
                self.name
            )
        } else {
            Ok(None)
        }
    }

    fn epoch_seconds(&self, wall: NaiveDateTime) -> i64 {
        let later = wall + chrono::Duration::hours(1);
        match self.tz.from_local_datetime(&wall).earliest() {
            Some(t) => t.timestamp(),
            // A wall time skipped by a daylight-saving jump: java.time moves
            // it forward by the gap.
            None => self
                .tz
                .from_local_datetime(&later)
                .earliest()
                .map(|t| t.timestamp())
                .unwrap_or_else(|| wall.and_utc().timestamp()),
        }
    }

    fn wall_clock(&self, epoch_seconds: i64) -> Option<NaiveDateTime> {
        let utc: DateTime<Utc> = DateTime::from_timestamp(epoch_seconds, 0)?;
        Some(utc.with_timezone(&self.tz).naive_local())
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

/// Compiled chrono items of a Spark pattern, reused while the pattern stays
/// the same (a literal pattern is compiled once).
struct Compiled {
    pattern: String,
    chrono: String,
}

impl Compiled {
    fn get<'c>(cache: &'c mut Option<Compiled>, pattern: &str, usage: Use) -> Result<&'c str> {
        if cache.as_ref().map(|c| c.pattern.as_str()) != Some(pattern) {
            let chrono = to_chrono(pattern, usage)?;
            if StrftimeItems::new(&chrono).any(|i| matches!(i, Item::Error)) {
                return exec_err!("date-time pattern '{pattern}' is not valid");
            }
            *cache = Some(Compiled {
                pattern: pattern.to_string(),
                chrono,
            });
        }
        Ok(cache
            .as_ref()
            .map(|c| c.chrono.as_str())
            .unwrap_or_default())
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

fn format_wall(ctx: &Ctx, wall: &NaiveDateTime, chrono: &str) -> String {
    let text = wall
        .and_local_timezone(ctx.tz)
        .earliest()
        .map(|t| t.format(chrono).to_string())
        .unwrap_or_else(|| wall.format(chrono).to_string());
    fill_fractions(&text, wall.and_utc().timestamp_subsec_nanos())
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
        let chrono = Compiled::get(&mut cache, pattern, Use::Format)?;
        out.push(Some(format_wall(ctx, wall, chrono)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// Parses `text` with Spark pattern `pattern`: a date-time, or a date at
/// midnight when the pattern has no time of day.
fn parse_wall(text: &str, chrono: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(text, chrono) {
        return Some(t);
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, chrono) {
        return d.and_hms_opt(0, 0, 0);
    }
    // A pattern without a day (`yyyy-MM`): Spark takes the first.
    let padded = format!("{text} 01");
    NaiveDate::parse_from_str(&padded, &format!("{chrono} %d"))
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Rows of a string column parsed with the pattern of argument 1 (or, with
/// no pattern, Spark's cast of the column).
fn parsed(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<Vec<Option<NaiveDateTime>>> {
    if arrays.len() < 2
        || !matches!(
            arrays[0].data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    {
        return wall_clocks(ctx, &arrays[0]);
    }
    let s = cast(&arrays[0], &DataType::Utf8)?;
    let s = s.as_string::<i32>();
    let patterns = Patterns::of(arrays)?;
    let mut cache = None;
    let mut out = Vec::with_capacity(s.len());
    for row in 0..s.len() {
        if s.is_null(row) {
            out.push(None);
            continue;
        }
        let Some(pattern) = patterns.at(row) else {
            out.push(None);
            continue;
        };
        let chrono = Compiled::get(&mut cache, pattern, Use::Parse)?;
        match parse_wall(s.value(row), chrono) {
            Some(t) => out.push(Some(t)),
            None => out.push(ctx.unparsable(s.value(row), pattern)?),
        }
    }
    Ok(out)
}

fn to_date(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let walls = parsed(ctx, arrays)?;
    Ok(Arc::new(Date32Array::from(
        walls
            .iter()
            .map(|w| w.map(|t| Date32Type::from_naive_date(t.date())))
            .collect::<Vec<_>>(),
    )))
}

fn to_timestamp(ctx: &Ctx, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let walls = parsed(ctx, arrays)?;
    Ok(Arc::new(TimestampMicrosecondArray::from(
        walls
            .iter()
            .map(|w| w.map(|t| t.and_utc().timestamp_micros()))
            .collect::<Vec<_>>(),
    )))
}

fn unix_timestamp(ctx: &Ctx, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    if arrays.is_empty() {
        let now = Utc::now().timestamp();
        return Ok(Arc::new(Int64Array::from(vec![now; rows])));
    }
    let walls = parsed(ctx, arrays)?;
    Ok(Arc::new(Int64Array::from(
        walls
            .iter()
            .map(|w| w.map(|t| ctx.epoch_seconds(t)))
            .collect::<Vec<_>>(),
    )))
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
        let chrono = Compiled::get(&mut cache, pattern, Use::Format)?;
        out.push(Some(format_wall(ctx, &wall, chrono)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn ctx(zone: &str) -> Ctx<'static> {
        Ctx {
            tz: Tz::from_str(zone).unwrap(),
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
}
