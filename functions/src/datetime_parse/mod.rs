//! Spark's date-time patterns for parsing (`to_timestamp`, `to_date`,
//! `unix_timestamp`, `to_unix_timestamp`).
//!
//! Spark parses with `java.time`'s `DateTimeFormatter`, built from the
//! pattern case-insensitively and strictly, with two changes of its own: a
//! run of `S` reads one up to as many digits as it has letters, and fields
//! the text lacks default to 1970-01-01 00:00:00 (an hour without `a` is in
//! the morning). A pattern compiles once to a list of nodes that each row is
//! matched against without allocating, unless the text names a zone region
//! in another capitalization than its id's.

mod matching;

use matching::{parse_nodes, Fields};
use std::str::FromStr;
use std::sync::OnceLock;

use arrow::array::timezone::Tz;
use chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::datetime_value::{instant_of, wall_of, MICROS_PER_SECOND};

/// A compiled Spark parsing pattern.
#[derive(Debug, Clone)]
pub struct ParsePattern {
    nodes: Vec<Node>,
}

/// The time zone a text names, if any.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// A fixed offset from UTC, in seconds (`+08:00`, `GMT-8`, `Z`).
    Offset(i32),
    /// A region whose offset depends on the date (`PST`, `Europe/Paris`).
    Region(Tz),
}

/// The date-time a text gives: its local fields and the zone it names.
#[derive(Debug, Clone, Copy)]
pub struct Parsed {
    /// The local date and time, missing fields defaulted as Spark does.
    pub local: NaiveDateTime,
    /// The zone of the text; `None` means the session zone.
    pub zone: Option<Zone>,
}

impl Parsed {
    /// The instant (microseconds since the epoch) of the parsed time, in its
    /// own zone or else in `session`; `None` past the representable range.
    pub fn instant(&self, session: &Tz) -> Option<i64> {
        let wall = self.local.and_utc().timestamp_micros();
        match self.zone {
            Some(Zone::Offset(secs)) => wall.checked_sub(i64::from(secs) * MICROS_PER_SECOND),
            Some(Zone::Region(tz)) => instant_of(&tz, wall),
            None => instant_of(session, wall),
        }
    }

    /// The session-zone wall clock (microseconds, Kiln's `TIMESTAMP`) of
    /// the parsed time; `None` past the representable range.
    pub fn session_wall(&self, session: &Tz) -> Option<i64> {
        match self.zone {
            // Text without a zone is already a session wall clock, unless
            // summer time skips it (java.time then moves it forward).
            None if !matches!(session.from_local_datetime(&self.local), LocalResult::None) => {
                Some(self.local.and_utc().timestamp_micros())
            }
            _ => wall_of(session, self.instant(session)?),
        }
    }
}

/// One element of a compiled pattern.
#[derive(Debug, Clone)]
enum Node {
    /// Text matched case-insensitively.
    Literal(String),
    /// Digits of a field.
    Number(Number),
    /// One of `names`, case-insensitively; the field's value is its index
    /// plus `base`.
    Text {
        field: Field,
        names: &'static [&'static str],
        base: i64,
    },
    /// A zone name or region id (`z`, `zzzz`, `VV`).
    ZoneText(ZoneStyle),
    /// `GMT` with an optional offset (`O`, `OOOO`, `ZZZZ`).
    LocalizedOffset { full: bool },
    /// A numeric offset (`X`, `x`, `Z`).
    Offset(OffsetStyle),
    /// `[...]`: parsed if it can be, else skipped.
    Optional(Vec<Node>),
}

/// A numeric field: `min` to `max` digits.
#[derive(Debug, Clone, Copy)]
struct Number {
    field: Field,
    min: usize,
    max: usize,
    sign: Sign,
    /// `yy`: two digits of a year from 2000.
    reduced: bool,
    /// Whether the field takes part in java.time's adjacent value parsing
    /// (a run of `S` longer than one does not).
    chains: bool,
    /// Digits left for the fixed-width numbers that directly follow.
    reserve: usize,
}

impl Number {
    fn new(field: Field, min: usize, max: usize, sign: Sign) -> Self {
        Number {
            field,
            min,
            max,
            sign,
            reduced: false,
            chains: true,
            reserve: 0,
        }
    }

    fn fixed(field: Field, width: usize) -> Self {
        Number::new(field, width, width, Sign::NotNegative)
    }

    fn is_fixed(&self) -> bool {
        self.chains && self.min == self.max && self.sign == Sign::NotNegative
    }
}

/// java.time's `SignStyle`s, as strict parsing reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// No sign.
    NotNegative,
    /// `-` allowed.
    Normal,
    /// `-`, or `+` when there are more digits than the letters.
    ExceedsPad,
}

/// The fields a text can set (java.time's `ChronoField`s Spark reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Era,
    Year,
    YearOfEra,
    Month,
    Day,
    DayOfYear,
    AmPm,
    ClockHourOfAmPm,
    HourOfAmPm,
    ClockHourOfDay,
    HourOfDay,
    Minute,
    Second,
    Nano,
    OffsetSeconds,
}

const FIELDS: usize = Field::OffsetSeconds as usize + 1;

/// What a zone node reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneStyle {
    /// `z` to `zzz`: abbreviations and region ids.
    Short,
    /// `zzzz`: full names and region ids.
    Long,
    /// `VV`: region ids.
    Id,
}

/// Whether an offset part is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    No,
    Optional,
    Required,
}

/// java.time's offset patterns (`+HHmm`, `+HH:MM:ss`, ...) and the text of
/// a zero offset.
#[derive(Debug, Clone, Copy)]
struct OffsetStyle {
    colon: bool,
    minutes: Need,
    seconds: Need,
    zero: &'static str,
}

/// The offset after `UTC`, `GMT`, `UT` or alone in a zone id: `+HH:MM[:ss]`.
const ID_OFFSET: OffsetStyle = OffsetStyle {
    colon: true,
    minutes: Need::Required,
    seconds: Need::Optional,
    zero: "",
};

const MONTHS_SHORT: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// English month names, as Java's formatter prints and parses them.
pub(crate) const MONTHS_FULL: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const AM_PM: &[&str] = &["AM", "PM"];
const ERAS_SHORT: &[&str] = &["BC", "AD"];
const ERAS_FULL: &[&str] = &["Before Christ", "Anno Domini"];

/// The regions java.time (Locale.US) reads zone abbreviations as; an
/// abbreviation names a region, so summer time follows its rules.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("MST", "America/Denver"),
    ("MDT", "America/Denver"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("EST", "America/New_York"),
    ("EDT", "America/New_York"),
    ("AKST", "America/Anchorage"),
    ("AKDT", "America/Anchorage"),
    ("HST", "Pacific/Honolulu"),
    ("HDT", "Pacific/Honolulu"),
    ("AST", "America/Halifax"),
    ("ADT", "America/Halifax"),
    ("NST", "America/St_Johns"),
    ("NDT", "America/St_Johns"),
    ("ART", "America/Argentina/Buenos_Aires"),
    ("BRT", "America/Sao_Paulo"),
    ("WET", "Europe/Lisbon"),
    ("WEST", "Europe/Lisbon"),
    ("CET", "Europe/Paris"),
    ("CEST", "Europe/Paris"),
    ("MET", "MET"),
    ("EET", "Europe/Athens"),
    ("EEST", "Europe/Athens"),
    ("MSK", "Europe/Moscow"),
    ("WAT", "Africa/Lagos"),
    ("CAT", "Africa/Maputo"),
    ("EAT", "Africa/Nairobi"),
    ("SAST", "Africa/Johannesburg"),
    ("PKT", "Asia/Karachi"),
    ("ICT", "Asia/Bangkok"),
    ("WIB", "Asia/Jakarta"),
    ("HKT", "Asia/Hong_Kong"),
    ("SGT", "Asia/Singapore"),
    ("JST", "Asia/Tokyo"),
    ("KST", "Asia/Seoul"),
    ("AWST", "Australia/Perth"),
    ("ACDT", "Australia/Adelaide"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
    ("ChST", "Pacific/Guam"),
    ("BST", "Pacific/Bougainville"),
    ("NZST", "Pacific/Auckland"),
    ("NZDT", "Pacific/Auckland"),
    ("SST", "Pacific/Pago_Pago"),
];

/// Full zone names (`zzzz`) and their regions.
const LONG_NAMES: &[(&str, &str)] = &[
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Pacific Daylight Time", "America/Los_Angeles"),
    ("Pacific Time", "America/Los_Angeles"),
    ("Mountain Standard Time", "America/Denver"),
    ("Mountain Daylight Time", "America/Denver"),
    ("Mountain Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Daylight Time", "America/Chicago"),
    ("Central Time", "America/Chicago"),
    ("Eastern Standard Time", "America/New_York"),
    ("Eastern Daylight Time", "America/New_York"),
    ("Eastern Time", "America/New_York"),
    ("Alaska Standard Time", "America/Anchorage"),
    ("Alaska Daylight Time", "America/Anchorage"),
    ("Hawaii-Aleutian Standard Time", "Pacific/Honolulu"),
    ("Coordinated Universal Time", "UTC"),
    ("Greenwich Mean Time", "GMT"),
    ("Western European Standard Time", "Europe/Lisbon"),
    ("Western European Summer Time", "Europe/Lisbon"),
    ("Western European Time", "Europe/Lisbon"),
    ("Central European Standard Time", "Europe/Paris"),
    ("Central European Summer Time", "Europe/Paris"),
    ("Central European Time", "Europe/Paris"),
    ("Eastern European Standard Time", "Europe/Athens"),
    ("Eastern European Summer Time", "Europe/Athens"),
    ("Eastern European Time", "Europe/Athens"),
    ("Moscow Standard Time", "Europe/Moscow"),
    ("India Standard Time", "Asia/Kolkata"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Japan Standard Time", "Asia/Tokyo"),
    ("Korean Standard Time", "Asia/Seoul"),
    ("Australian Eastern Standard Time", "Australia/Sydney"),
    ("Australian Eastern Daylight Time", "Australia/Sydney"),
];

impl ParsePattern {
    /// Compiles Spark pattern `pattern`, or says why Spark rejects it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        // With an era, `y` is the year of the era; without, Spark reads it
        // as the proleptic year (negative years allowed).
        let has_era = unquoted_letters(&chars).any(|c| c == 'G');
        let mut levels: Vec<Vec<Node>> = vec![Vec::new()];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let top = levels.len() - 1;
            match c {
                '\'' => {
                    let (text, next) = quoted(&chars, i)
                        .ok_or_else(|| "the pattern ends inside a quoted literal".to_string())?;
                    push_literal(&mut levels[top], &text);
                    i = next;
                    continue;
                }
                '[' => levels.push(Vec::new()),
                ']' if top == 0 => return Err("']' without a '[' before it".into()),
                ']' => {
                    let inner = levels.pop().unwrap_or_default();
                    levels[top - 1].push(Node::Optional(adjacent(inner)));
                }
                '{' | '}' | '#' => return Err(format!("'{c}' is reserved")),
                c if c.is_ascii_alphabetic() => {
                    let n = chars[i..].iter().take_while(|&&x| x == c).count();
                    levels[top].push(letter(c, n, has_era)?);
                    i += n;
                    continue;
                }
                c => push_literal(&mut levels[top], c.encode_utf8(&mut [0; 4])),
            }
            i += 1;
        }
        // java.time closes sections left open at the end.
        while levels.len() > 1 {
            let inner = levels.pop().unwrap_or_default();
            if let Some(parent) = levels.last_mut() {
                parent.push(Node::Optional(adjacent(inner)));
            }
        }
        let nodes = adjacent(levels.pop().unwrap_or_default());
        Ok(ParsePattern { nodes })
    }

    /// The date-time of `text`, or `None` when the whole text does not
    /// match the pattern or its fields are invalid or disagree.
    pub fn parse(&self, text: &str) -> Option<Parsed> {
        let mut fields = Fields::default();
        let end = parse_nodes(&self.nodes, text.as_bytes(), 0, &mut fields)?;
        if end != text.len() {
            return None;
        }
        fields.resolve()
    }
}

/// The pattern letters outside quoted literals.
fn unquoted_letters(chars: &[char]) -> impl Iterator<Item = char> + '_ {
    let mut quoted = false;
    chars.iter().filter_map(move |&c| {
        if c == '\'' {
            quoted = !quoted;
            None
        } else {
            (!quoted && c.is_ascii_alphabetic()).then_some(c)
        }
    })
}

/// The literal text of the quote starting at `chars[start]` and the index
/// after it: `''` is one quote, inside or outside quoted text.
fn quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    if chars.get(start + 1) == Some(&'\'') {
        return Some(("'".into(), start + 2));
    }
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i)? {
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            '\'' => return Some((text, i + 1)),
            &c => {
                text.push(c);
                i += 1;
            }
        }
    }
}

fn push_literal(nodes: &mut Vec<Node>, text: &str) {
    if let Some(Node::Literal(s)) = nodes.last_mut() {
        s.push_str(text);
    } else {
        nodes.push(Node::Literal(text.to_string()));
    }
}

/// The node of a run of `n` letters `c`, with Spark's and java.time's
/// limits on letters and counts.
fn letter(c: char, n: usize, has_era: bool) -> Result<Node, String> {
    let too_many = || {
        Err(format!(
            "too many pattern letters: '{}'",
            c.to_string().repeat(n)
        ))
    };
    // Most numbers: one letter reads 1 to 19 digits, two exactly 2.
    let number = |field: Field| match n {
        1 => Ok(Node::Number(Number::new(field, 1, 19, Sign::Normal))),
        2 => Ok(Node::Number(Number::fixed(field, 2))),
        _ => too_many(),
    };
    let text = |field: Field, names: &'static [&'static str], base: i64| {
        Ok(Node::Text { field, names, base })
    };
    let offset = |colon: bool, minutes: Need, seconds: Need, zero: &'static str| {
        Ok(Node::Offset(OffsetStyle {
            colon,
            minutes,
            seconds,
            zero,
        }))
    };
    let (opt, req) = (Need::Optional, Need::Required);
    match c {
        'G' => match n {
            1..=3 => text(Field::Era, ERAS_SHORT, 0),
            4 => text(Field::Era, ERAS_FULL, 0),
            _ => too_many(),
        },
        'y' => {
            let field = if has_era {
                Field::YearOfEra
            } else {
                Field::Year
            };
            let mut year = match n {
                2 => Number::fixed(field, 2),
                1 | 3 => Number::new(field, n, 19, Sign::Normal),
                4..=6 => Number::new(field, n, 19, Sign::ExceedsPad),
                _ => return too_many(),
            };
            year.reduced = n == 2;
            Ok(Node::Number(year))
        }
        'M' | 'L' => match n {
            1 | 2 => number(Field::Month),
            3 => text(Field::Month, MONTHS_SHORT, 1),
            4 => text(Field::Month, MONTHS_FULL, 1),
            _ => too_many(),
        },
        'd' => number(Field::Day),
        'D' => match n {
            1 => Ok(Node::Number(Number::new(
                Field::DayOfYear,
                1,
                19,
                Sign::Normal,
            ))),
            2 => Ok(Node::Number(Number::new(
                Field::DayOfYear,
                2,
                3,
                Sign::NotNegative,
            ))),
            3 => Ok(Node::Number(Number::fixed(Field::DayOfYear, 3))),
            _ => too_many(),
        },
        'a' if n == 1 => text(Field::AmPm, AM_PM, 0),
        'a' => too_many(),
        'h' => number(Field::ClockHourOfAmPm),
        'K' => number(Field::HourOfAmPm),
        'k' => number(Field::ClockHourOfDay),
        'H' => number(Field::HourOfDay),
        'm' => number(Field::Minute),
        's' => number(Field::Second),
        'S' if n <= 9 => {
            // Spark's variable-width fraction: 1 to n digits.
            let mut fraction = Number::new(Field::Nano, 1, n, Sign::NotNegative);
            fraction.chains = n == 1;
            Ok(Node::Number(fraction))
        }
        'S' => too_many(),
        'z' => match n {
            1..=3 => Ok(Node::ZoneText(ZoneStyle::Short)),
            4 => Ok(Node::ZoneText(ZoneStyle::Long)),
            _ => too_many(),
        },
        'V' if n == 2 => Ok(Node::ZoneText(ZoneStyle::Id)),
        'V' => Err("pattern letter 'V' must appear twice ('VV')".into()),
        'O' => match n {
            1 => Ok(Node::LocalizedOffset { full: false }),
            4 => Ok(Node::LocalizedOffset { full: true }),
            _ => Err("pattern letter 'O' must appear once or four times".into()),
        },
        'X' | 'x' => {
            let zero = |z: &'static str| if c == 'X' { "Z" } else { z };
            match n {
                1 => offset(false, opt, Need::No, zero("+00")),
                2 => offset(false, req, Need::No, zero("+0000")),
                3 => offset(true, req, Need::No, zero("+00:00")),
                4 => offset(false, req, opt, zero("+0000")),
                5 => offset(true, req, opt, zero("+00:00")),
                _ => too_many(),
            }
        }
        'Z' => match n {
            1..=3 => offset(false, req, Need::No, "+0000"),
            4 => Ok(Node::LocalizedOffset { full: true }),
            5 => offset(true, req, opt, "Z"),
            _ => too_many(),
        },
        'E' | 'F' | 'q' | 'Q' => Err(format!(
            "pattern letter '{c}' can only be used for formatting, not for parsing"
        )),
        'Y' | 'W' | 'w' | 'u' | 'e' | 'c' => Err(format!(
            "week-based pattern letter '{c}' is not supported since Spark 3.0"
        )),
        other => Err(format!("unknown or unsupported pattern letter '{other}'")),
    }
}

/// java.time's adjacent value parsing: a number directly followed by
/// fixed-width numbers (`yyyyMMdd`) leaves their digits to them.
fn adjacent(mut nodes: Vec<Node>) -> Vec<Node> {
    let mut i = 0;
    while i < nodes.len() {
        let Node::Number(head) = &nodes[i] else {
            i += 1;
            continue;
        };
        if !head.chains {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut width = 0;
        while let Some(Node::Number(next)) = nodes.get(j) {
            if !next.is_fixed() {
                break;
            }
            width += next.max;
            j += 1;
        }
        if let Some(Node::Number(head)) = nodes.get_mut(i) {
            head.reserve = width;
        }
        i = j;
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::matching::named_region;
    use super::*;

    fn local(pattern: &str, text: &str) -> Option<String> {
        let p = ParsePattern::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        p.parse(text)
            .map(|t| t.local.format("%Y-%m-%d %H:%M:%S%.f").to_string())
    }

    #[test]
    fn common_patterns_parse() {
        assert_eq!(
            local("d/M/yy", "3/9/95").as_deref(),
            Some("2095-09-03 00:00:00")
        );
        assert_eq!(
            local("dd/MM/yyyy HH:mm:ss.SSS", "03/09/1995 10:11:12.123").as_deref(),
            Some("1995-09-03 10:11:12.123")
        );
        assert_eq!(
            local("MMM d, yyyy h:mm a", "oct 6, 2019 1:05 PM").as_deref(),
            Some("2019-10-06 13:05:00")
        );
        assert_eq!(local("MMM yyyy", "Sept 2019"), None);
        assert_eq!(local("yyyy-MM-dd", " 2019-10-06"), None, "no trimming");
        assert_eq!(local("yyyy-MM-dd", "2019-10-06 "), None);
    }

    #[test]
    fn adjacent_numbers_leave_digits_to_fixed_width_ones() {
        assert_eq!(
            local("yyyyMMddHHmmss", "20191006101112").as_deref(),
            Some("2019-10-06 10:11:12")
        );
        assert_eq!(local("yyyyMdd", "2019106"), None);
        assert_eq!(
            local("MMddyyyyHH", "1006201912").as_deref(),
            Some("2019-10-06 12:00:00")
        );
        assert_eq!(
            local("yyyy-MM-dd HH:mm:ssSS", "2019-10-06 10:11:1256").as_deref(),
            Some("2019-10-06 10:11:12.560")
        );
    }

    #[test]
    fn years_follow_their_letter_counts() {
        assert_eq!(local("yy", "19").as_deref(), Some("2019-01-01 00:00:00"));
        assert_eq!(local("yyyy", "1"), None);
        assert_eq!(local("yyyy", "10000"), None);
        assert_eq!(
            local("yyyy", "+10000").as_deref(),
            Some("+10000-01-01 00:00:00")
        );
        assert_eq!(local("yyyy-MM-dd", "+2019-10-06"), None);
        assert_eq!(
            local("y-MM-dd", "-2019-10-06").as_deref(),
            Some("-2019-10-06 00:00:00")
        );
        assert_eq!(
            local("dd yyyy G", "12 2019 BC").as_deref(),
            Some("-2018-01-12 00:00:00")
        );
    }

    #[test]
    fn hours_of_the_half_day_and_conflicts() {
        assert_eq!(local("h", "5").as_deref(), Some("1970-01-01 05:00:00"));
        assert_eq!(local("h a", "5 pm").as_deref(), Some("1970-01-01 17:00:00"));
        assert_eq!(
            local("yyyy hh", "2019 12").as_deref(),
            Some("2019-01-01 00:00:00")
        );
        assert_eq!(local("HH a", "17 AM"), None);
        assert_eq!(local("kk", "24").as_deref(), Some("1970-01-01 00:00:00"));
        assert_eq!(local("HH", "24"), None);
        assert_eq!(local("HH mm HH", "10 11 12"), None);
        assert_eq!(
            local("yyyy a", "2019 PM").as_deref(),
            Some("2019-01-01 12:00:00")
        );
    }

    #[test]
    fn offsets_follow_their_patterns() {
        let secs = |pattern: &str, text: &str| {
            let p = ParsePattern::new(pattern).unwrap();
            match p.parse(text).and_then(|t| t.zone) {
                Some(Zone::Offset(s)) => Some(s),
                _ => None,
            }
        };
        assert_eq!(secs("X", "+08"), Some(8 * 3600));
        assert_eq!(secs("X", "z"), Some(0));
        assert_eq!(secs("XX", "+08"), None);
        assert_eq!(secs("XXX", "+08:30"), Some(8 * 3600 + 1800));
        assert_eq!(secs("XXXX", "+083015"), Some(8 * 3600 + 1815));
        assert_eq!(secs("x", "+0000"), None, "java.time reads +00 first");
        assert_eq!(secs("Z", "Z"), None);
        assert_eq!(secs("ZZZZZ", "-08:00"), Some(-8 * 3600));
        assert_eq!(secs("O", "GMT-8:30"), Some(-8 * 3600 - 1800));
        assert_eq!(secs("OOOO", "GMT+8"), None);
        assert_eq!(secs("z", "UTC+08:00"), Some(8 * 3600));
        assert_eq!(secs("VV", "Z"), Some(0));
    }

    #[test]
    fn every_zone_name_has_a_region() {
        for (style, names) in [
            (ZoneStyle::Short, SHORT_NAMES),
            (ZoneStyle::Long, LONG_NAMES),
        ] {
            for (i, (name, id)) in names.iter().enumerate() {
                assert!(named_region(style, i).is_some(), "{name}: {id}");
            }
        }
    }

    #[test]
    fn spark_rejects_some_letters_for_parsing() {
        for p in [
            "dd MM yyyy EEEEE",
            "dd MM yyyy EEEE",
            "dd/MMMMM/yyyy",
            "yyyy-MM-dd GGGGG",
            "yyyy Q",
            "YYYY",
            "yyyyyyy",
            "SSSSSSSSSS",
            "ddd",
            "V",
            "zzzzz",
            "yyyy-MM-dd]",
            "yyyy-MM-dd'",
            "yyyy {",
            "yyyy b",
        ] {
            assert!(ParsePattern::new(p).is_err(), "{p}");
        }
        assert!(ParsePattern::new("yyyy-MM-dd[").is_ok());
    }
}
