//! Schedules of ScheduledSparkApplications: five cron fields (minute, hour,
//! day of month, month, day of week; `*`, `?`, ranges, steps, lists, month
//! and day names; day of month and day of week OR-ed when both are
//! restricted, as in Vixie cron), the `@hourly`-style descriptors, and
//! `@every <duration>` with Go duration units. Times are computed in the
//! schedule's IANA time zone.

use std::time::Duration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `@every <duration>`: a fixed interval after the previous run.
    Every(Duration),
    /// Cron fields.
    Cron(Box<CronFields>),
}

/// The allowed values of each cron field, as bit sets.
#[derive(Debug, Clone, PartialEq)]
pub struct CronFields {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    dom_any: bool,
    dow_any: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

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
    let minutes = field(fields[0], "minute", 0, 59, &[])?;
    let hours = field(fields[1], "hour", 0, 23, &[])?;
    let dom = field(fields[2], "day of month", 1, 31, &[])?;
    let months = field(fields[3], "month", 1, 12, &MONTHS)?;
    // 7 is Sunday too.
    let mut dow = field(fields[4], "day of week", 0, 7, &DAYS)?;
    if dow & (1 << 7) != 0 {
        dow |= 1;
    }
    Ok(Schedule::Cron(Box::new(CronFields {
        minutes,
        hours: hours as u32,
        days_of_month: dom as u32,
        months: months as u16,
        days_of_week: (dow & 0x7f) as u8,
        dom_any: is_any(fields[2]),
        dow_any: is_any(fields[4]),
    })))
}

fn is_any(f: &str) -> bool {
    f == "*" || f == "?"
}

/// A Go duration: `1h30m`, `10s`, `1.5h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("`@every` needs a duration, e.g. `@every 10s`".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("duration `{s}`: a number needs a unit (ns, us, ms, s, m, h)")
            })?;
        let (num, after) = rest.split_at(num_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("duration `{s}`: `{num}` is not a number"))?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_end);
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("duration `{s}`: unknown unit `{other}`")),
        };
        total += value * secs;
        rest = tail;
    }
    if total < 1.0 {
        return Err(format!("duration `{s}`: the interval must be at least 1s"));
    }
    Ok(Duration::from_secs_f64(total))
}

fn value(v: &str, what: &str, names: &[&str]) -> Result<u32, String> {
    if let Ok(n) = v.parse::<u32>() {
        return Ok(n);
    }
    let lower = v.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| {
            if names.len() == 12 {
                i as u32 + 1
            } else {
                i as u32
            }
        })
        .ok_or_else(|| format!("{what}: `{v}` is not a number or name"))
}

fn field(f: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in f.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{what}: step `{s}` is not a number"))?;
                if step == 0 {
                    return Err(format!("{what}: step must be at least 1"));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, what, names)?, value(b, what, names)?)
        } else {
            let v = value(range, what, names)?;
            // `5/15` means from 5 to the end, every 15.
            if item.contains('/') {
                (v, max)
            } else {
                (v, v)
            }
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{what}: `{item}` is out of range ({min}-{max})"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl CronFields {
    fn day_matches(&self, d: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << d.day()) != 0;
        let dow = self.days_of_week & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first matching minute strictly after `after`, in `tz`.
    fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz).naive_local();
        // Next whole minute.
        let mut t = local.with_second(0)?.with_nanosecond(0)? + chrono::Duration::minutes(1);
        // Five years of candidates is more than any valid expression needs.
        let limit = local + chrono::Duration::days(5 * 366);
        while t <= limit {
            if self.months & (1 << t.month()) == 0 {
                t = first_of_next_month(t)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with_minute(0)? + chrono::Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += chrono::Duration::minutes(1);
                continue;
            }
            match tz.from_local_datetime(&t) {
                LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, _) => return Some(a.with_timezone(&Utc)),
                // A time skipped by a daylight-saving change: not run.
                LocalResult::None => t += chrono::Duration::minutes(1),
            }
        }
        None
    }
}

fn first_of_next_month(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}

impl Schedule {
    /// The first run time strictly after `after` (seconds since the epoch).
    pub fn next_after(&self, after: i64, tz: Tz) -> Option<i64> {
        match self {
            Schedule::Every(d) => Some(after + d.as_secs().max(1) as i64),
            Schedule::Cron(c) => {
                let t = Utc.timestamp_opt(after, 0).single()?;
                c.next_after(t, tz).map(|t| t.timestamp())
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
}
