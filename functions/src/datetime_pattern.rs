//! Spark's (Java's `DateTimeFormatter`) date-time patterns for formatting
//! (`date_format`, `from_unixtime`, `to_char` of a date-time), printed as
//! Spark prints them. Parsing has its own rules (`datetime_parse`).
//!
//! A pattern compiles once ([`Format::compile`]) into literal text and
//! fields; [`Format::print`] prints a wall-clock time of the session zone
//! with that zone's offset and names. Spark refuses the week-based letters
//! (`Y`, `w`, `W`, `u`, `e`, `c`) and a few others since Spark 3; so does
//! Kiln, with the letter named.

use chrono::{Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::common::{exec_err, Result};

use crate::datetime_parse::MONTHS_FULL;

/// A compiled formatting pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Text(String),
    Field(char, usize),
}

/// The zone a wall-clock time is printed in: its id (as the session
/// names it) and the zone itself.
pub struct Zone<'a> {
    /// The session zone's id (`America/Los_Angeles`, `+02:00`).
    pub id: &'a str,
    /// The zone.
    pub tz: &'a arrow::array::timezone::Tz,
}

impl Format {
    /// Compiles `pattern`, or an error naming the letter Spark refuses.
    pub fn compile(pattern: &str) -> Result<Self> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = vec![];
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal text; `''` is one quote, in or out of quotes.
                if chars.get(i + 1) == Some(&'\'') {
                    text.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return exec_err!("unterminated quote in date-time pattern '{pattern}'")
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => break,
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                continue;
            }
            // Optional sections print whole: every field is known.
            if c == '[' || c == ']' {
                i += 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                text.push(c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            check_letter(c, n, pattern)?;
            if !text.is_empty() {
                items.push(Item::Text(std::mem::take(&mut text)));
            }
            items.push(Item::Field(c, n));
            i += n;
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        Ok(Format { items })
    }

    /// `wall` (a wall-clock time of `zone`) as the pattern prints it.
    pub fn print(&self, wall: &NaiveDateTime, zone: &Zone) -> String {
        let offset = zone
            .tz
            .offset_from_local_datetime(wall)
            .earliest()
            .map(|o| o.fix().local_minus_utc())
            .unwrap_or(0);
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Text(t) => out.push_str(t),
                Item::Field(c, n) => field(&mut out, *c, *n, wall, zone, offset),
            }
        }
        out
    }
}

/// Spark's checks of a run of `n` letters `c`.
fn check_letter(c: char, n: usize, pattern: &str) -> Result<()> {
    let too_many = match c {
        'G' | 'M' | 'L' | 'E' | 'Q' | 'q' => n > 5,
        'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' | 'F' => n > 2,
        'D' => n > 3,
        'a' => n > 1,
        'S' => n > 9,
        'y' => n > 10,
        'V' => n != 2,
        'z' => n > 4,
        'O' => n != 1 && n != 4,
        'X' | 'x' | 'Z' => n > 5,
        'Y' | 'w' | 'W' | 'u' | 'e' | 'c' => {
            return exec_err!(
                "date-time pattern letter '{c}' in '{pattern}': all week-based patterns are unsupported since Spark 3.0, use the SQL function EXTRACT instead"
            )
        }
        'A' | 'n' | 'N' | 'p' | 'B' | 'b' => {
            return exec_err!(
                "[INVALID_DATETIME_PATTERN.ILLEGAL_CHARACTER] date-time pattern letter '{c}' in '{pattern}' is not supported"
            )
        }
        // Spark's error classes, so a task fails at once (not retried).
        other => {
            return exec_err!(
                "[INVALID_DATETIME_PATTERN.ILLEGAL_CHARACTER] unknown date-time pattern letter '{other}' in '{pattern}'"
            )
        }
    };
    if too_many {
        return exec_err!(
            "[INVALID_DATETIME_PATTERN.LENGTH] too many pattern letters '{c}' ({n}) in date-time pattern '{pattern}'"
        );
    }
    Ok(())
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn padded(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", v.unsigned_abs()));
}

/// A text field: short (1 to 3 letters), full (4) or narrow (5).
fn text(out: &mut String, full: &str, n: usize) {
    match n {
        4 => out.push_str(full),
        5 => out.push_str(&full[..1]),
        _ => out.push_str(&full[..3]),
    }
}

fn field(out: &mut String, c: char, n: usize, wall: &NaiveDateTime, zone: &Zone, offset: i32) {
    let hour = i64::from(wall.hour());
    match c {
        'G' => {
            let ad = wall.year() > 0;
            match (n, ad) {
                (4, true) => out.push_str("Anno Domini"),
                (4, false) => out.push_str("Before Christ"),
                (5, true) => out.push('A'),
                (5, false) => out.push('B'),
                (_, true) => out.push_str("AD"),
                (_, false) => out.push_str("BC"),
            }
        }
        'y' => {
            let year = i64::from(wall.year());
            let year_of_era = if year > 0 { year } else { 1 - year };
            if n == 2 {
                padded(out, year_of_era.rem_euclid(100), 2);
            } else {
                if n == 4 && year_of_era > 9999 {
                    out.push('+');
                }
                padded(out, year_of_era, n);
            }
        }
        'Q' | 'q' => {
            let q = i64::from(wall.month0() / 3 + 1);
            match n {
                1 | 2 => padded(out, q, n),
                3 if c == 'Q' => out.push_str(&format!("Q{q}")),
                4 if c == 'Q' => out.push_str(
                    ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"][(q - 1) as usize],
                ),
                _ => padded(out, q, 1),
            }
        }
        'M' | 'L' => match n {
            1 | 2 => padded(out, i64::from(wall.month()), n),
            _ => text(out, MONTHS_FULL[wall.month0() as usize], n),
        },
        'd' => padded(out, i64::from(wall.day()), n),
        'D' => padded(out, i64::from(wall.ordinal()), n),
        'F' => padded(out, i64::from((wall.day() - 1) % 7 + 1), n),
        'E' => text(out, DAYS[wall.weekday().num_days_from_monday() as usize], n),
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'H' => padded(out, hour, n),
        'k' => padded(out, if hour == 0 { 24 } else { hour }, n),
        'K' => padded(out, hour % 12, n),
        'h' => padded(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
        'm' => padded(out, i64::from(wall.minute()), n),
        's' => padded(out, i64::from(wall.second()), n),
        'S' => {
            let nanos = format!("{:09}", wall.nanosecond().min(999_999_999));
            out.push_str(&nanos[..n.min(9)]);
        }
        'V' => out.push_str(zone.id),
        'z' => out.push_str(&zone_name(zone, wall, n == 4)),
        'O' => {
            if offset == 0 {
                out.push_str("GMT");
            } else {
                out.push_str("GMT");
                out.push_str(&offset_text(offset, n == 4, true));
            }
        }
        'X' | 'x' => {
            if c == 'X' && offset == 0 {
                out.push('Z');
                return;
            }
            let (colon, seconds, minutes) = match n {
                1 => (false, false, offset % 3600 != 0),
                2 => (false, false, true),
                3 => (true, false, true),
                4 => (false, true, true),
                _ => (true, true, true),
            };
            out.push_str(&iso_offset(offset, colon, minutes, seconds));
        }
        'Z' => match n {
            1..=3 => out.push_str(&iso_offset(offset, false, true, false)),
            4 if offset == 0 => out.push_str("GMT"),
            4 => {
                out.push_str("GMT");
                out.push_str(&offset_text(offset, true, true));
            }
            _ if offset == 0 => out.push('Z'),
            _ => out.push_str(&iso_offset(offset, true, true, true)),
        },
        _ => {}
    }
}

/// `+hh[mm[ss]]` with or without colons; seconds only when not zero.
fn iso_offset(offset: i32, colon: bool, minutes: bool, seconds: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let sep = if colon { ":" } else { "" };
    let mut t = format!("{sign}{h:02}");
    if minutes {
        t.push_str(&format!("{sep}{m:02}"));
    }
    if seconds && s != 0 {
        t.push_str(&format!("{sep}{s:02}"));
    }
    t
}

/// The localized offset after `GMT`: `-8`, `-7:52:58` (short) or
/// `-08:00`, `-07:52:58` (full).
fn offset_text(offset: i32, full: bool, seconds: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let mut t = if full {
        format!("{sign}{h:02}:{m:02}")
    } else if m != 0 || s != 0 {
        format!("{sign}{h}:{m:02}")
    } else {
        format!("{sign}{h}")
    };
    if seconds && s != 0 {
        t.push_str(&format!(":{s:02}"));
    }
    t
}

/// Java's names of the common zones: id, standard and daylight short names,
/// standard and daylight full names.
const ZONE_NAMES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "America/Los_Angeles",
        "PST",
        "PDT",
        "Pacific Standard Time",
        "Pacific Daylight Time",
    ),
    (
        "US/Pacific",
        "PST",
        "PDT",
        "Pacific Standard Time",
        "Pacific Daylight Time",
    ),
    (
        "PST",
        "PST",
        "PDT",
        "Pacific Standard Time",
        "Pacific Daylight Time",
    ),
    (
        "America/Denver",
        "MST",
        "MDT",
        "Mountain Standard Time",
        "Mountain Daylight Time",
    ),
    (
        "America/Chicago",
        "CST",
        "CDT",
        "Central Standard Time",
        "Central Daylight Time",
    ),
    (
        "America/New_York",
        "EST",
        "EDT",
        "Eastern Standard Time",
        "Eastern Daylight Time",
    ),
    (
        "US/Eastern",
        "EST",
        "EDT",
        "Eastern Standard Time",
        "Eastern Daylight Time",
    ),
    (
        "UTC",
        "UTC",
        "UTC",
        "Coordinated Universal Time",
        "Coordinated Universal Time",
    ),
    (
        "Etc/UTC",
        "UTC",
        "UTC",
        "Coordinated Universal Time",
        "Coordinated Universal Time",
    ),
    (
        "GMT",
        "GMT",
        "GMT",
        "Greenwich Mean Time",
        "Greenwich Mean Time",
    ),
    (
        "Europe/London",
        "GMT",
        "BST",
        "Greenwich Mean Time",
        "British Summer Time",
    ),
    (
        "Europe/Paris",
        "CET",
        "CEST",
        "Central European Standard Time",
        "Central European Summer Time",
    ),
    (
        "Europe/Berlin",
        "CET",
        "CEST",
        "Central European Standard Time",
        "Central European Summer Time",
    ),
    (
        "Europe/Amsterdam",
        "CET",
        "CEST",
        "Central European Standard Time",
        "Central European Summer Time",
    ),
    (
        "CET",
        "CET",
        "CEST",
        "Central European Standard Time",
        "Central European Summer Time",
    ),
    (
        "Asia/Shanghai",
        "CST",
        "CDT",
        "China Standard Time",
        "China Daylight Time",
    ),
    (
        "Asia/Tokyo",
        "JST",
        "JDT",
        "Japan Standard Time",
        "Japan Daylight Time",
    ),
    (
        "Asia/Kolkata",
        "IST",
        "IST",
        "India Standard Time",
        "India Standard Time",
    ),
];

/// The zone's name at `wall` as Java prints `z` (short) or `zzzz` (full):
/// standard or daylight by whether the zone keeps daylight time then.
fn zone_name(zone: &Zone, wall: &NaiveDateTime, full: bool) -> String {
    let offset_at = |w: &NaiveDateTime| {
        zone.tz
            .offset_from_local_datetime(w)
            .earliest()
            .map(|o| o.fix().local_minus_utc())
    };
    let Some((_, std_short, dst_short, std_full, dst_full)) =
        ZONE_NAMES.iter().find(|z| z.0 == zone.id)
    else {
        // A fixed offset or a zone without a known name: its offset.
        let offset = offset_at(wall).unwrap_or(0);
        return if offset == 0 {
            "Z".into()
        } else {
            iso_offset(offset, true, true, true)
        };
    };
    // Daylight time when the offset exceeds January's and July's least.
    let year = wall.year().clamp(1900, 9999);
    let at = |month| {
        chrono::NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .and_then(|w| offset_at(&w))
    };
    let standard = match (at(1), at(7)) {
        (Some(a), Some(b)) => a.min(b),
        _ => i32::MIN,
    };
    let daylight = wall.year() >= 1900 && offset_at(wall).is_some_and(|o| o > standard);
    match (full, daylight) {
        (false, false) => std_short.to_string(),
        (false, true) => dst_short.to_string(),
        (true, false) => std_full.to_string(),
        (true, true) => dst_full.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn print(pattern: &str, wall: &str, zone: &str) -> String {
        let tz = arrow::array::timezone::Tz::from_str(zone).unwrap();
        let wall = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        Format::compile(pattern)
            .unwrap()
            .print(&wall, &Zone { id: zone, tz: &tz })
    }

    #[test]
    fn fields_print_as_java_prints_them() {
        let la = "America/Los_Angeles";
        let w = "2018-11-17 05:33:33.123";
        assert_eq!(print("yyyy-MM-dd HH:mm:ss", w, la), "2018-11-17 05:33:33");
        assert_eq!(
            print("y yy yyy yyyy yyyyy", w, la),
            "2018 18 2018 2018 02018"
        );
        assert_eq!(print("Q QQ QQQ QQQQ q", w, la), "4 04 Q4 4th quarter 4");
        assert_eq!(print("M MM MMM MMMM L", w, la), "11 11 Nov November 11");
        assert_eq!(print("E EEEE F D DDD", w, la), "Sat Saturday 3 321 321");
        assert_eq!(print("h hh K k a", w, la), "5 05 5 5 AM");
        assert_eq!(print("S SSSS SSSSSS", w, la), "1 1230 123000");
        assert_eq!(
            print("VV z zzzz", w, la),
            "America/Los_Angeles PST Pacific Standard Time"
        );
        assert_eq!(print("X XX XXX XXXXX", w, la), "-08 -0800 -08:00 -08:00");
        assert_eq!(
            print("Z ZZZZ ZZZZZ O OOOO", w, la),
            "-0800 GMT-08:00 -08:00 GMT-8 GMT-08:00"
        );
        assert_eq!(print("G GGGG", w, la), "AD Anno Domini");
        assert_eq!(print("[yyyy]'-''T'", w, la), "2018-'T");
        assert_eq!(print("z", "2018-07-01 10:00:00", la), "PDT");
    }

    #[test]
    fn local_mean_time_has_seconds() {
        let la = "America/Los_Angeles";
        let w = "1582-05-31 19:40:35.123";
        assert_eq!(print("X XXXX XXXXX", w, la), "-0752 -075258 -07:52:58");
        assert_eq!(print("Z ZZZZ O", w, la), "-0752 GMT-07:52:58 GMT-7:52:58");
        assert_eq!(print("x xxx", w, la), "-0752 -07:52");
        assert_eq!(print("z", w, la), "PST");
    }

    #[test]
    fn refused_letters_are_named() {
        for p in ["YYYY", "ww", "yyyy-bb", "VVV"] {
            assert!(Format::compile(p).is_err(), "{p}");
        }
    }
}
