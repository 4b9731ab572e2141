//! Schedules of ScheduledSparkApplications: five cron fields (minute, hour,
//! day of month, month, day of week; `*`, `?`, ranges, steps, lists, month
//! and day names; day of month and day of week OR-ed when both are
//! restricted, as in Vixie cron), the `@hourly`-style descriptors, and
//! `@every <duration>` with Go duration units. Times are computed in the
//! schedule's IANA time zone.
//!
//! The cron fields are parsed and matched by the `croner` crate. This module
//! keeps what croner does differently from the operator's contract: exactly
//! five fields, errors that name the field, `@every`, and the time-zone rule
//! (a wall-clock time skipped by a daylight-saving change does not run, a
//! repeated one runs at its earlier instant; croner would run a skipped time
//! just after the gap).

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `@every <duration>`: a fixed interval after the previous run.
    Every(Duration),
    /// Cron fields.
    Cron(Box<Cron>),
}

/// The names of the five fields, in order, for error messages.
const FIELDS: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

/// Five fields, no seconds or years; `5/15` (from 5, every 15) accepted as
/// Vixie cron accepts it.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .sloppy_ranges(true)
        .build()
}

/// Parses a schedule; the error says what is wrong with which field.
pub fn parse(s: &str) -> Result<Schedule, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("@every") {
        return parse_duration(rest.trim()).map(Schedule::Every);
    }
    let expr = match s {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other if other.starts_with('@') => return Err(format!("unknown descriptor `{other}`")),
        other => other,
    };
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        ));
    }
    let parser = parser();
    match parser.parse(expr) {
        Ok(cron) => Ok(Schedule::Cron(Box::new(cron))),
        Err(e) => Err(field_error(&parser, &fields, e)),
    }
}

/// Names the first field croner refuses on its own (the others `*`), so the
/// message says which field is wrong, as the operator's messages always did.
fn field_error(parser: &CronParser, fields: &[&str], whole: CronError) -> String {
    for (i, f) in fields.iter().enumerate() {
        let mut probe = ["*"; 5];
        probe[i] = f;
        if let Err(e) = parser.parse(&probe.join(" ")) {
            return format!("{}: `{f}`: {}", FIELDS[i], cron_message(e));
        }
    }
    cron_message(whole)
}

/// Croner's message without its own variant prefix.
fn cron_message(e: CronError) -> String {
    match e {
        CronError::ComponentError(m)
        | CronError::InvalidPattern(m)
        | CronError::IllegalCharacters(m) => m,
        other => other.to_string(),
    }
}

/// The interval of `@every`: a Go duration (`1h30m`, `10s`, `1.5h`), read
/// by [`kiln_values::duration`]; Go wants a unit on every number, and the
/// interval must be at least a second.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("`@every` needs a duration, e.g. `@every 10s`".into());
    }
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "duration `{s}`: a number needs a unit (ns, us, ms, s, m, h)"
        ));
    }
    let d = kiln_values::duration::parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!("duration `{s}`: the interval must be at least 1s"));
    }
    Ok(d)
}

/// The first matching wall-clock minute strictly after `after`, in `tz`.
fn cron_next_after(cron: &Cron, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz).naive_local();
    let mut t: NaiveDateTime = local.with_second(0)?.with_nanosecond(0)?;
    // Five years of candidates is more than any valid expression needs.
    let limit = local + chrono::Duration::days(5 * 366);
    loop {
        t = cron.find_next_occurrence(&t, false).ok()?;
        if t > limit {
            return None;
        }
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, _) => return Some(a.with_timezone(&Utc)),
            // A time skipped by a daylight-saving change: not run.
            LocalResult::None => {}
        }
    }
}

impl Schedule {
    /// The first run time strictly after `after` (seconds since the epoch).
    pub fn next_after(&self, after: i64, tz: Tz) -> Option<i64> {
        match self {
            Schedule::Every(d) => Some(after + d.as_secs().max(1) as i64),
            Schedule::Cron(c) => {
                let t = Utc.timestamp_opt(after, 0).single()?;
                cron_next_after(c, t, tz).map(|t| t.timestamp())
            }
        }
    }
}

/// Parses an IANA time zone name.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone `{name}` (use an IANA name such as Europe/Paris)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        let t = parse(expr)
            .unwrap()
            .next_after(utc(after), time_zone(tz).unwrap())
            .unwrap();
        Utc.timestamp_opt(t, 0).unwrap().to_rfc3339()
    }

    #[test]
    fn every_adds_the_interval() {
        assert_eq!(
            parse("@every 10s").unwrap(),
            Schedule::Every(Duration::from_secs(10))
        );
        assert_eq!(
            parse("@every 1h30m").unwrap(),
            Schedule::Every(Duration::from_secs(5400))
        );
        assert_eq!(
            parse("@every 10s").unwrap().next_after(100, Tz::UTC),
            Some(110)
        );
        assert!(parse("@every 10").is_err());
        assert!(parse("@every 100ms").is_err());
    }

    #[test]
    fn cron_fields_find_the_next_minute() {
        assert_eq!(
            next("*/15 * * * *", "UTC", "2025-03-10T10:07:30Z"),
            "2025-03-10T10:15:00+00:00"
        );
        assert_eq!(
            next("0 3 * * *", "UTC", "2025-03-10T03:00:00Z"),
            "2025-03-11T03:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * *", "UTC", "2025-12-15T00:00:00Z"),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next("30 9 * * MON-FRI", "UTC", "2025-03-07T10:00:00Z"),
            "2025-03-10T09:30:00+00:00",
            "Friday after 9:30 -> Monday"
        );
        assert_eq!(
            next("0 0 29 FEB *", "UTC", "2025-01-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        assert_eq!(
            next("@weekly", "UTC", "2025-03-10T00:00:00Z"),
            "2025-03-16T00:00:00+00:00"
        );
    }

    #[test]
    fn day_of_month_and_week_are_or_ed_when_both_set() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "UTC", "2025-03-01T00:00:00Z"),
            "2025-03-07T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 13 * 7", "UTC", "2025-03-10T00:00:00Z"),
            "2025-03-13T00:00:00+00:00"
        );
    }

    #[test]
    fn time_zones_apply() {
        // 03:00 in Paris is 02:00 UTC in winter.
        assert_eq!(
            next("0 3 * * *", "Europe/Paris", "2025-01-10T12:00:00Z"),
            "2025-01-11T02:00:00+00:00"
        );
        // 02:30 does not exist on the spring-forward day: the next day's runs.
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", "2025-03-29T12:00:00Z"),
            "2025-03-31T00:30:00+00:00"
        );
        assert!(time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let e = parse("61 * * * *").unwrap_err();
        assert!(e.contains("minute") && e.contains("61"), "{e}");
        let e = parse("0 0 * 13 *").unwrap_err();
        assert!(e.contains("month"), "{e}");
        assert!(parse("0 0 * *").unwrap_err().contains("5 fields"));
        assert!(parse("*/0 * * * *").is_err());
        assert!(parse("@sometimes").is_err());
    }

    /// Edge cases where croner's defaults differ from Vixie cron's: the
    /// operator keeps Vixie's.
    #[test]
    fn vixie_forms_are_kept() {
        for (expr, after, want) in [
            // `5/15`: from 5 to the end of the range, every 15.
            (
                "5/15 * * * *",
                "2025-03-10T10:21:00Z",
                "2025-03-10T10:35:00+00:00",
            ),
            // Lower-case names and `?`.
            (
                "0 12 ? jan sun",
                "2025-01-01T00:00:00Z",
                "2025-01-05T12:00:00+00:00",
            ),
        ] {
            assert_eq!(next(expr, "UTC", after), want, "{expr}");
        }
        // Six fields (seconds) are not a Kubernetes schedule.
        assert!(parse("0 0 3 * * *").unwrap_err().contains("5 fields"));
        let e = parse("0 0 * * 8").unwrap_err();
        assert!(e.contains("day of week") && e.contains('8'), "{e}");
        let e = parse("0 25 * * *").unwrap_err();
        assert!(e.starts_with("hour"), "{e}");
    }

    #[test]
    fn a_repeated_wall_clock_time_runs_once_at_its_earlier_instant() {
        // Paris falls back from 03:00 CEST to 02:00 CET on 2025-10-26:
        // 02:30 happens at 00:30 and 01:30 UTC; it runs at the first only.
        for (after, want) in [
            ("2025-10-25T12:00:00Z", "2025-10-26T00:30:00+00:00"),
            ("2025-10-26T00:30:00Z", "2025-10-27T01:30:00+00:00"),
        ] {
            assert_eq!(next("30 2 * * *", "Europe/Paris", after), want);
        }
    }
}
