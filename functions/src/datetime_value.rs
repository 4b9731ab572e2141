//! Spark's date and timestamp arguments, read the way Spark reads them, for
//! the date-time functions of `datetime_parts`, `datetime_epoch`,
//! `datetime_make` and `datetime_arith`.
//!
//! Every date, timestamp or string argument becomes a wall-clock time in
//! the session zone, as microseconds since 1970-01-01 00:00:00 of that wall
//! clock (Kiln's `TIMESTAMP`, see `datetime`): dates are their midnight,
//! timestamps with a zone are shown in the session zone, strings are
//! parsed as Spark's `CAST(... AS DATE)` / `CAST(... AS TIMESTAMP)` parse
//! them. Conversions between wall clocks and instants follow `java.time`:
//! a wall time skipped by a daylight-saving jump moves forward by the gap,
//! a repeated one takes the earlier instant.

use std::str::FromStr;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{exec_err, DataFusionError, Result};

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// What Spark casts a string argument to: the functions on dates
/// (`year`, `date_add`) read `'2020-01-01 10:00'` as its date, and
/// ignore text after the day that follows a space or `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `CAST(s AS DATE)`.
    Date,
    /// `CAST(s AS TIMESTAMP)`.
    Timestamp,
}

/// Whether `t` can be read as a date or timestamp argument.
pub fn is_date_time(t: &DataType) -> bool {
    match t {
        DataType::Null
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_date_time(v),
        _ => false,
    }
}

/// The plan-time check of a date or timestamp argument: an error naming
/// function `name` and the type otherwise.
pub fn expect_date_time(name: &str, position: &str, t: &DataType) -> Result<()> {
    if is_date_time(t) {
        Ok(())
    } else {
        exec_err!("{name}: the {position} argument must be a date, timestamp or string, got {t}")
    }
}

/// The wall-clock times (session zone, microseconds) of a date, timestamp
/// or string column; a string Spark cannot cast is an error in ANSI mode
/// and NULL otherwise.
pub fn walls(ctx: &Ctx, a: &ArrayRef, target: Target) -> Result<TimestampMicrosecondArray> {
    let naive = DataType::Timestamp(TimeUnit::Microsecond, None);
    match a.data_type() {
        DataType::Null => Ok(TimestampMicrosecondArray::new_null(a.len())),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None) => Ok(cast(a, &naive)?
            .as_primitive::<TimestampMicrosecondType>()
            .clone()),
        DataType::Timestamp(_, Some(_)) => {
            // An instant: shown in the session zone.
            let utc = cast(
                a,
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            )?;
            Ok(utc
                .as_primitive::<TimestampMicrosecondType>()
                .unary_opt(|t| wall_of(&ctx.tz, t)))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = cast(a, &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            let mut out = Vec::with_capacity(s.len());
            for text in s.iter() {
                let Some(text) = text else {
                    out.push(None);
                    continue;
                };
                let parsed = match target {
                    Target::Date => parse_date(text).map(midnight),
                    Target::Timestamp => parse_timestamp(text, &ctx.tz),
                };
                match parsed {
                    Some(t) => out.push(Some(t)),
                    None if ctx.ansi => {
                        let to = match target {
                            Target::Date => "DATE",
                            Target::Timestamp => "TIMESTAMP",
                        };
                        return exec_err!(
                            "{}: [CAST_INVALID_INPUT] the value '{text}' of the type STRING cannot be cast to {to} because it is malformed (set spark.sql.ansi.enabled=false for NULL instead)",
                            ctx.name
                        );
                    }
                    None => out.push(None),
                }
            }
            Ok(TimestampMicrosecondArray::from(out))
        }
        DataType::Dictionary(_, v) => walls(ctx, &cast(a, v)?, target),
        other => exec_err!(
            "{}: expected a date, timestamp or string, got {other}",
            ctx.name
        ),
    }
}

/// The microseconds of `date`'s midnight.
pub fn midnight(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
}

/// The wall-clock date-time of `micros` (Kiln's `TIMESTAMP` value).
pub fn date_time(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

/// The day (days since 1970-01-01) of wall-clock time `micros`.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// The wall clock in `tz` of the instant `micros` (since the epoch, UTC).
pub fn wall_of(tz: &Tz, micros: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp_micros(micros)?;
    Some(
        utc.with_timezone(tz)
            .naive_local()
            .and_utc()
            .timestamp_micros(),
    )
}

/// The instant (microseconds since the epoch, UTC) of wall-clock time
/// `wall` in `tz`, as `java.time`'s `LocalDateTime.atZone` resolves it.
pub fn instant_of(tz: &Tz, wall: i64) -> Option<i64> {
    let local = date_time(wall)?;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.timestamp_micros()),
        LocalResult::Ambiguous(a, b) => Some(a.timestamp_micros().min(b.timestamp_micros())),
        LocalResult::None => {
            // In a daylight-saving gap: the offset before the gap applies,
            // which moves the wall time forward by the gap's length.
            let before = tz
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix()
                .local_minus_utc();
            wall.checked_sub(i64::from(before) * MICROS_PER_SECOND)
        }
    }
}

/// Java's short zone ids (`ZoneId.SHORT_IDS`), which Spark accepts.
const SHORT_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
    ("EST", "-05:00"),
    ("MST", "-07:00"),
    ("HST", "-10:00"),
];

/// The zone Spark means by `name`: a region (`Europe/Paris`), a short id
/// (`PST`), `Z`, `UTC`/`GMT`/`UT` with or without an offset, or an offset
/// (`+01:00`, `-8`, `+0130`).
pub fn zone(name: &str) -> Option<Tz> {
    if name == "Z" {
        return Tz::from_str("+00:00").ok();
    }
    if let Some((_, id)) = SHORT_IDS.iter().find(|(s, _)| *s == name) {
        return Tz::from_str(id).ok();
    }
    for prefix in ["UTC", "GMT", "UT"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if rest.is_empty() {
                return Tz::from_str("+00:00").ok();
            }
            if rest.starts_with(['+', '-']) {
                return offset_zone(rest);
            }
        }
    }
    if name.starts_with(['+', '-']) {
        return offset_zone(name);
    }
    Tz::from_str(name).ok()
}

/// A fixed zone of an offset `±h`, `±hh`, `±h:mm`, `±hh:mm`, `±hhmm`,
/// or one of those with zero seconds (`±hh:mm:ss`, `±hhmmss`); an offset
/// of whole seconds, rarely used, is not supported.
fn offset_zone(text: &str) -> Option<Tz> {
    let (sign, rest) = text.split_at(1);
    let rest = match rest.len() {
        6 if rest.bytes().all(|b| b.is_ascii_digit()) => rest.strip_suffix("00")?,
        8 if rest.as_bytes().get(5) == Some(&b':') => rest.strip_suffix(":00")?,
        _ => rest,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() <= 2 => (rest, "0"),
        None if rest.len() == 4 => rest.split_at(2),
        None => return None,
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m > 59 {
        return None;
    }
    Tz::from_str(&format!("{sign}{h:02}:{m:02}")).ok()
}

/// Spark trims spaces and control characters around a date-time string.
fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c.is_control())
}

/// A run of 1 to `max` ASCII digits at the start of `s`, and what follows.
fn digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// The date at the start of `s` (`[+-]yyyy[-[m]m[-[d]d]]`, a year of 4 to
/// 7 digits), what follows it, and whether it had a day.
fn date_prefix(s: &str) -> Option<(NaiveDate, &str, bool)> {
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (year, mut rest) = digits(s, 4, 7)?;
    let year = if negative { -year } else { year };
    let (mut month, mut day, mut full) = (1, 1, false);
    if let Some(r) = rest.strip_prefix('-') {
        let (m, r) = digits(r, 1, 2)?;
        month = m;
        rest = r;
        if let Some(r) = rest.strip_prefix('-') {
            let (d, r) = digits(r, 1, 2)?;
            day = d;
            rest = r;
            full = true;
        }
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?;
    Some((date, rest, full))
}

/// Spark's `CAST(text AS DATE)`; `None` when Spark's cast fails.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let (date, rest, full) = date_prefix(trim(text))?;
    let ok = rest.is_empty() || (full && rest.starts_with([' ', 'T']));
    ok.then_some(date)
}

/// Spark's `CAST(text AS TIMESTAMP)` in session zone `tz`: the wall-clock
/// microseconds, or `None` when Spark's cast fails. A zone in the text
/// (`Z`, `+01:00`, `UTC`, `Europe/Paris`) is converted to `tz`.
pub fn parse_timestamp(text: &str, tz: &Tz) -> Option<i64> {
    let (date, rest, full) = date_prefix(trim(text))?;
    if rest.is_empty() {
        return Some(midnight(date));
    }
    if !full {
        return None;
    }
    // The text is trimmed: a separator must have a time after it.
    let rest = rest.strip_prefix([' ', 'T'])?;
    let (hour, mut rest) = digits(rest, 1, 2)?;
    let (mut minute, mut second, mut micros) = (0, 0, 0);
    if let Some(r) = rest.strip_prefix(':') {
        (minute, rest) = digits(r, 1, 2)?;
        if let Some(r) = rest.strip_prefix(':') {
            (second, rest) = digits(r, 1, 2)?;
            if let Some(r) = rest.strip_prefix('.') {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                if n > 9 {
                    return None;
                }
                // Digits past the microsecond are dropped.
                let kept = &r[..n.min(6)];
                micros = format!("{kept:0<6}").parse().ok()?;
                rest = &r[n..];
            }
        }
    }
    let time = NaiveTime::from_hms_opt(
        u32::try_from(hour).ok()?,
        u32::try_from(minute).ok()?,
        u32::try_from(second).ok()?,
    )?;
    let wall =
        midnight(date) + i64::from(time.num_seconds_from_midnight()) * MICROS_PER_SECOND + micros;
    let zone_text = rest.strip_prefix(' ').unwrap_or(rest);
    if zone_text.is_empty() {
        return Some(wall);
    }
    let given = zone(zone_text)?;
    wall_of(tz, instant_of(&given, wall)?)
}

/// The `(year, month)` count of `d` in months, as `java.time` counts
/// months between dates.
pub fn proleptic_month(d: &NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// What every row needs: the session zone, ANSI mode, the function's name.
pub(crate) struct Ctx<'a> {
    /// The session time zone (`spark.sql.session.timeZone`).
    pub(crate) tz: Tz,
    /// The session time zone's id, as the session names it.
    pub(crate) zone: String,
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
            zone: zone.to_string(),
            ansi: config.execution.enable_ansi_mode,
            name,
        })
    }

    /// A value Spark cannot parse: an error in ANSI mode, NULL otherwise.
    pub(crate) fn unparsable<T>(&self, text: &str, pattern: &str) -> Result<Option<T>> {
        if self.ansi {
            exec_err!(
                "{}: cannot parse '{text}' with pattern '{pattern}' (set spark.sql.ansi.enabled=false for NULL instead)",
                self.name
            )
        } else {
            Ok(None)
        }
    }

    /// A value outside Spark's timestamps: an error in ANSI mode, NULL
    /// otherwise.
    pub(crate) fn out_of_range<T>(&self, what: impl std::fmt::Display) -> Result<Option<T>> {
        if self.ansi {
            exec_err!(
                "{}: {what} is out of the range of timestamps (set spark.sql.ansi.enabled=false for NULL instead)",
                self.name
            )
        } else {
            Ok(None)
        }
    }

    pub(crate) fn wall_clock(&self, epoch_seconds: i64) -> Option<NaiveDateTime> {
        let utc: DateTime<Utc> = DateTime::from_timestamp(epoch_seconds, 0)?;
        Some(utc.with_timezone(&self.tz).naive_local())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Running Spark SQL through a Kiln session in unit tests.

    use arrow::array::Array;
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// The rows of `sql`'s answer in session zone `zone`, cells as Spark
    /// shows them (`2021-07-11 06:30:45.678`, `NULL`) joined by tabs, or
    /// the error's message.
    pub fn run(sql: &str, zone: &str, ansi: bool) -> Result<Vec<String>, String> {
        let mut config = SessionConfig::new();
        let opts = config.options_mut();
        opts.sql_parser.dialect = datafusion::common::config::Dialect::Spark;
        opts.sql_parser.parse_float_as_decimal = true;
        opts.execution.enable_ansi_mode = ansi;
        opts.execution.time_zone = Some(zone.to_string());
        let state = crate::with_spark_sql(
            SessionStateBuilder::new()
                .with_default_features()
                .with_config(config),
        )
        .build();
        let ctx = SessionContext::new_with_state(state);
        let sql = aliased(sql)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let batches = rt
            .block_on(async { ctx.sql(&sql).await?.collect().await })
            .map_err(|e| e.to_string())?;
        let options = FormatOptions::default()
            .with_null("NULL")
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.6f"))
            .with_date_format(Some("%Y-%m-%d"));
        let mut rows = vec![];
        for b in &batches {
            let formatters = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            for row in 0..b.num_rows() {
                let cells: Vec<String> = formatters
                    .iter()
                    .zip(b.columns())
                    .map(|(f, c)| {
                        let text = f.value(row).to_string();
                        match c.data_type() {
                            // Spark drops a fraction's trailing zeros.
                            arrow::datatypes::DataType::Timestamp(_, _) if !c.is_null(row) => {
                                text.trim_end_matches('0').trim_end_matches('.').to_string()
                            }
                            _ => text,
                        }
                    })
                    .collect();
                rows.push(cells.join("\t"));
            }
        }
        Ok(rows)
    }

    /// `sql` with its select items named `c0`, `c1`, ...: Kiln's parser
    /// names them as Spark does, which this test session lacks, and two
    /// calls DataFusion names alike would clash.
    fn aliased(sql: &str) -> Result<String, String> {
        use datafusion::sql::sqlparser::ast::{Ident, SelectItem, SetExpr, Statement};
        use datafusion::sql::sqlparser::dialect::GenericDialect;
        use datafusion::sql::sqlparser::parser::Parser;
        let mut statements =
            Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| e.to_string())?;
        for s in &mut statements {
            if let Statement::Query(q) = s {
                if let SetExpr::Select(select) = q.body.as_mut() {
                    for (i, item) in select.projection.iter_mut().enumerate() {
                        if let SelectItem::UnnamedExpr(e) = item {
                            *item = SelectItem::ExprWithAlias {
                                expr: e.clone(),
                                alias: Ident::new(format!("c{i}")),
                            };
                        }
                    }
                }
            }
        }
        Ok(statements
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(";"))
    }

    /// The one row of `sql`'s answer in Los Angeles (Spark's test zone),
    /// ANSI mode.
    pub fn row(sql: &str) -> String {
        match run(sql, "America/Los_Angeles", true) {
            Ok(rows) => rows.join("\n"),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// The error of `sql` in Los Angeles, ANSI mode.
    pub fn error(sql: &str) -> String {
        match run(sql, "America/Los_Angeles", true) {
            Ok(rows) => panic!("{sql}: expected an error, got {rows:?}"),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la() -> Tz {
        Tz::from_str("America/Los_Angeles").unwrap()
    }

    fn ts(text: &str) -> Option<String> {
        parse_timestamp(text, &la())
            .and_then(date_time)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string())
    }

    // Spark 4.2.1, session zone America/Los_Angeles: CAST(s AS TIMESTAMP).
    #[test]
    fn strings_parse_as_sparks_casts() {
        assert_eq!(ts("2015-03-18 12").as_deref(), Some("2015-03-18 12:00:00"));
        assert_eq!(
            ts("2015-3-8 1:2:3.1234567").as_deref(),
            Some("2015-03-08 01:02:03.123456")
        );
        assert_eq!(
            ts("2015-03-18T12:03:17Z").as_deref(),
            Some("2015-03-18 05:03:17")
        );
        assert_eq!(ts(" 2015-03 ").as_deref(), Some("2015-03-01 00:00:00"));
        assert_eq!(ts("2019-01-01\t").as_deref(), Some("2019-01-01 00:00:00"));
        assert_eq!(ts("2015-03-18xx"), None);
        assert_eq!(ts("2015-03-18T"), None);
        assert_eq!(ts("2015-03 12:00"), None);
        assert_eq!(
            ts("2015-03-18 12:03:17.").as_deref(),
            Some("2015-03-18 12:03:17")
        );
        assert_eq!(
            ts("2015-03-18 12:03:17 +01:00").as_deref(),
            Some("2015-03-18 04:03:17")
        );
        assert_eq!(
            ts("2015-03-18 12:03:17-0130").as_deref(),
            Some("2015-03-18 06:33:17")
        );
        assert_eq!(
            ts("2015-03-18 12:03:17America/New_York").as_deref(),
            Some("2015-03-18 09:03:17")
        );
        assert_eq!(ts("015-03-18"), None);
        assert_eq!(
            parse_date("2015-03-18 xx"),
            NaiveDate::from_ymd_opt(2015, 3, 18)
        );
        assert_eq!(parse_date("2015-03-18xx"), None);
        assert_eq!(parse_date("2015-02-30"), None);
    }

    #[test]
    fn wall_clocks_and_instants_follow_java_time() {
        let tz = la();
        // 2022-03-13 02:30 does not exist in Los Angeles: 03:30 PDT.
        let gap = midnight(NaiveDate::from_ymd_opt(2022, 3, 13).unwrap()) + 150 * 60_000_000;
        let instant = instant_of(&tz, gap).unwrap();
        assert_eq!(wall_of(&tz, instant), Some(gap + 3600 * MICROS_PER_SECOND));
        assert!(zone("PST").is_some() && zone("GMT+1").is_some() && zone("-8").is_some());
        assert!(zone("Nowhere/Zone").is_none());
    }
}
