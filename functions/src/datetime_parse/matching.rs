//! Matching a row's text against a compiled pattern's nodes: the fields the
//! text sets (each at most once, or with the same value again), numbers,
//! offsets and zone names, and the date-time the fields resolve to.

use super::*;

/// Parsed field values, `None` until the text sets them, and the zone.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Fields {
    values: [Option<i64>; FIELDS],
    zone: Option<Zone>,
}

impl Fields {
    /// Sets `field`; false when the text already gave it another value.
    fn set(&mut self, field: Field, value: i64) -> bool {
        let slot = &mut self.values[field as usize];
        match *slot {
            Some(old) => old == value,
            None => {
                *slot = Some(value);
                true
            }
        }
    }

    fn get(&self, field: Field) -> Option<i64> {
        self.values[field as usize]
    }

    /// The local date-time of the fields, defaults filled in as Spark does;
    /// `None` for out-of-range or conflicting values. A named zone wins
    /// over an offset, as in java.time.
    pub(super) fn resolve(&self) -> Option<Parsed> {
        let date = self.date()?;
        let time = self.time()?;
        let offset = match self.get(Field::OffsetSeconds) {
            Some(s) => Some(Zone::Offset(i32::try_from(s).ok()?)),
            None => None,
        };
        Some(Parsed {
            local: NaiveDateTime::new(date, time),
            zone: self.zone.or(offset),
        })
    }

    fn date(&self) -> Option<NaiveDate> {
        let year = match (self.get(Field::Year), self.get(Field::YearOfEra)) {
            (Some(y), _) => y,
            (None, Some(yoe)) if yoe >= 1 => match self.get(Field::Era) {
                Some(0) => 1 - yoe,
                _ => yoe,
            },
            (None, Some(_)) => return None,
            (None, None) => 1970,
        };
        let year = i32::try_from(year).ok()?;
        let month = self.get(Field::Month);
        let day = self.get(Field::Day);
        if let Some(doy) = self.get(Field::DayOfYear) {
            let date = NaiveDate::from_yo_opt(year, u32::try_from(doy).ok()?)?;
            let agrees = month.is_none_or(|m| m == i64::from(date.month()))
                && day.is_none_or(|d| d == i64::from(date.day()));
            return agrees.then_some(date);
        }
        NaiveDate::from_ymd_opt(
            year,
            u32::try_from(month.unwrap_or(1)).ok()?,
            u32::try_from(day.unwrap_or(1)).ok()?,
        )
    }

    fn time(&self) -> Option<NaiveTime> {
        let in_range = |field: Field, lo: i64, hi: i64| match self.get(field) {
            Some(v) if !(lo..=hi).contains(&v) => Err(()),
            v => Ok(v),
        };
        let mut hour = in_range(Field::HourOfDay, 0, 23).ok()?;
        if let Some(k) = in_range(Field::ClockHourOfDay, 1, 24).ok()? {
            hour = Some(agree(hour, k % 24)?);
        }
        let mut of_am_pm = in_range(Field::HourOfAmPm, 0, 11).ok()?;
        if let Some(h) = in_range(Field::ClockHourOfAmPm, 1, 12).ok()? {
            of_am_pm = Some(agree(of_am_pm, h % 12)?);
        }
        match (self.get(Field::AmPm), of_am_pm) {
            (Some(pm), Some(h)) => hour = Some(agree(hour, pm * 12 + h)?),
            (Some(pm), None) => match hour {
                Some(h) if (h >= 12) != (pm == 1) => return None,
                Some(_) => {}
                // Spark: `PM` alone is noon.
                None => hour = Some(pm * 12),
            },
            // Without `a` an hour of the half day is in the morning.
            (None, Some(h)) => {
                if hour.is_some_and(|x| x % 12 != h) {
                    return None;
                }
                hour = hour.or(Some(h));
            }
            (None, None) => {}
        }
        let minute = in_range(Field::Minute, 0, 59).ok()?.unwrap_or(0);
        let second = in_range(Field::Second, 0, 59).ok()?.unwrap_or(0);
        let nano = self.get(Field::Nano).unwrap_or(0);
        NaiveTime::from_hms_nano_opt(
            u32::try_from(hour.unwrap_or(0)).ok()?,
            u32::try_from(minute).ok()?,
            u32::try_from(second).ok()?,
            u32::try_from(nano).ok()?,
        )
    }
}

/// `value`, unless `known` is a different value.
fn agree(known: Option<i64>, value: i64) -> Option<i64> {
    match known {
        Some(k) if k != value => None,
        _ => Some(value),
    }
}

/// Matches `nodes` from byte `pos` of `text`: the position after them.
pub(super) fn parse_nodes(
    nodes: &[Node],
    text: &[u8],
    mut pos: usize,
    fields: &mut Fields,
) -> Option<usize> {
    for node in nodes {
        pos = match node {
            Node::Literal(s) => starts_with(text, pos, s)?,
            Node::Number(n) => {
                let (value, end) = number(text, pos, n)?;
                fields.set(n.field, value).then_some(end)?
            }
            Node::Text { field, names, base } => {
                let (index, end) = longest(text, pos, names.iter().copied())?;
                fields.set(*field, base + index as i64).then_some(end)?
            }
            Node::ZoneText(style) => {
                let (zone, end) = zone_text(text, pos, *style)?;
                fields.zone = Some(zone);
                end
            }
            Node::LocalizedOffset { full } => {
                let (secs, end) = localized_offset(text, pos, *full)?;
                fields.set(Field::OffsetSeconds, secs).then_some(end)?
            }
            Node::Offset(style) => {
                let (secs, end) = offset(text, pos, style)?;
                fields.set(Field::OffsetSeconds, secs).then_some(end)?
            }
            Node::Optional(inner) => {
                let mut tried = *fields;
                match parse_nodes(inner, text, pos, &mut tried) {
                    Some(end) => {
                        *fields = tried;
                        end
                    }
                    None => pos,
                }
            }
        };
    }
    Some(pos)
}

/// The position after `s` if `text` has it at `pos` (ASCII letters in any
/// case).
fn starts_with(text: &[u8], pos: usize, s: &str) -> Option<usize> {
    let end = pos.checked_add(s.len())?;
    text.get(pos..end)
        .filter(|t| t.eq_ignore_ascii_case(s.as_bytes()))
        .map(|_| end)
}

/// The index of the longest of `names` at `pos` and the position after it.
fn longest<'a>(
    text: &[u8],
    pos: usize,
    names: impl Iterator<Item = &'a str>,
) -> Option<(usize, usize)> {
    names
        .enumerate()
        .filter_map(|(i, name)| starts_with(text, pos, name).map(|end| (i, end)))
        .max_by_key(|&(i, end)| (end, usize::MAX - i))
}

/// A number field at `pos`: its value and the position after it.
fn number(text: &[u8], pos: usize, n: &Number) -> Option<(i64, usize)> {
    let (mut start, mut negative, mut positive) = (pos, false, false);
    match text.get(pos) {
        Some(b'+') if n.sign == Sign::ExceedsPad => positive = true,
        Some(b'-') if n.sign != Sign::NotNegative => negative = true,
        _ => {}
    }
    if positive || negative {
        start += 1;
    }
    let available = text
        .get(start..)?
        .iter()
        .take(n.max + n.reserve)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if available < n.min {
        return None;
    }
    // Leave the following fixed-width fields their digits.
    let width = available.saturating_sub(n.reserve).max(n.min);
    // `yyyy`: a sign exactly when there are more digits than letters.
    if n.sign == Sign::ExceedsPad && !negative && (width > n.min) != positive {
        return None;
    }
    let mut value: i64 = 0;
    for &d in &text[start..start + width] {
        value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    if negative {
        if value == 0 {
            return None;
        }
        value = -value;
    }
    if n.reduced {
        value += 2000;
    } else if n.field == Field::Nano {
        value *= 10_i64.pow(9_u32.saturating_sub(width as u32));
    }
    Some((value, start + width))
}

/// `len` digits at `pos` as a number.
fn digits(text: &[u8], pos: usize, len: usize) -> Option<i64> {
    let d = text.get(pos..pos.checked_add(len)?)?;
    d.iter().all(u8::is_ascii_digit).then(|| {
        d.iter()
            .fold(0_i64, |acc, &c| acc * 10 + i64::from(c - b'0'))
    })
}

/// An offset of `style` at `pos`: seconds east of UTC and the position
/// after it.
fn offset(text: &[u8], pos: usize, style: &OffsetStyle) -> Option<(i64, usize)> {
    // java.time tries the zero text first (`x` reads `+0030` as `+00`).
    if !style.zero.is_empty() {
        if let Some(end) = starts_with(text, pos, style.zero) {
            return Some((0, end));
        }
    }
    let sign = match text.get(pos)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits(text, pos + 1, 2)?;
    let mut end = pos + 3;
    // The next two digits (after a colon when the style has them), if wanted.
    let part = |need: Need, end: &mut usize| -> Option<Option<i64>> {
        if need == Need::No {
            return Some(None);
        }
        let at = if style.colon {
            (text.get(*end) == Some(&b':')).then_some(*end + 1)
        } else {
            Some(*end)
        };
        match at.and_then(|at| digits(text, at, 2).map(|v| (v, at + 2))) {
            Some((v, next)) => {
                *end = next;
                Some(Some(v))
            }
            None if need == Need::Required => None,
            None => Some(None),
        }
    };
    let minutes = part(style.minutes, &mut end)?;
    let seconds = match minutes {
        Some(_) => part(style.seconds, &mut end)?,
        None => None,
    };
    let (minutes, seconds) = (minutes.unwrap_or(0), seconds.unwrap_or(0));
    (hours <= 23 && minutes <= 59 && seconds <= 59)
        .then_some((sign * (hours * 3600 + minutes * 60 + seconds), end))
}

/// `GMT` with an optional offset: `GMT+8`, `GMT-08:30` (`O`), or only
/// `GMT+08:00` forms (`OOOO`).
fn localized_offset(text: &[u8], pos: usize, full: bool) -> Option<(i64, usize)> {
    let mut end = starts_with(text, pos, "GMT")?;
    let sign = match text.get(end) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Some((0, end)),
    };
    end += 1;
    let width = if full {
        2
    } else {
        let d = text.get(end..)?.iter().take(2);
        d.take_while(|c| c.is_ascii_digit()).count().max(1)
    };
    let hours = digits(text, end, width)?;
    end += width;
    let after_colon = |at: usize| {
        (text.get(at) == Some(&b':'))
            .then(|| digits(text, at + 1, 2))
            .flatten()
    };
    let (mut minutes, mut seconds) = (0, 0);
    if let Some(m) = after_colon(end) {
        minutes = m;
        end += 3;
        if let Some(s) = after_colon(end) {
            seconds = s;
            end += 3;
        }
    } else if full {
        return None;
    }
    (hours <= 23 && minutes <= 59 && seconds <= 59)
        .then_some((sign * (hours * 3600 + minutes * 60 + seconds), end))
}

/// A zone at `pos` as java.time's zone-text and zone-id parsers read it:
/// an offset, `UTC`/`GMT`/`UT` with an optional offset, a name or region
/// id (the longest that matches), or `Z`.
fn zone_text(text: &[u8], pos: usize, style: ZoneStyle) -> Option<(Zone, usize)> {
    let first = *text.get(pos)?;
    if first == b'+' || first == b'-' {
        let (secs, end) = offset(text, pos, &ID_OFFSET)?;
        return Some((Zone::Offset(secs as i32), end));
    }
    if let Some(end) = starts_with(text, pos, "GMT0") {
        return Some((Zone::Offset(0), end));
    }
    for prefix in ["UTC", "GMT", "UT"] {
        if let Some(end) = starts_with(text, pos, prefix) {
            if let Some((secs, after)) = offset(text, end, &ID_OFFSET) {
                return Some((Zone::Offset(secs as i32), after));
            }
            return Some((Zone::Offset(0), end));
        }
    }
    let names: &[(&str, &str)] = match style {
        ZoneStyle::Short => SHORT_NAMES,
        ZoneStyle::Long => LONG_NAMES,
        ZoneStyle::Id => &[],
    };
    let name = longest(text, pos, names.iter().map(|(n, _)| *n))
        .and_then(|(i, end)| Some((named_region(style, i)?, end)));
    let name_end = name.map_or(pos, |(_, end)| end);
    match region(text, pos, name_end) {
        Some((tz, end)) => Some((Zone::Region(tz), end)),
        None => match name {
            Some((tz, end)) => Some((Zone::Region(tz), end)),
            None if first.eq_ignore_ascii_case(&b'Z') => Some((Zone::Offset(0), pos + 1)),
            None => None,
        },
    }
}

/// The region of entry `i` of `style`'s names, looked up once per process.
pub(super) fn named_region(style: ZoneStyle, i: usize) -> Option<Tz> {
    static SHORT: OnceLock<Vec<Option<Tz>>> = OnceLock::new();
    static LONG: OnceLock<Vec<Option<Tz>>> = OnceLock::new();
    let (cell, names) = match style {
        ZoneStyle::Short => (&SHORT, SHORT_NAMES),
        ZoneStyle::Long => (&LONG, LONG_NAMES),
        ZoneStyle::Id => return None,
    };
    let regions = cell.get_or_init(|| names.iter().map(|(_, id)| Tz::from_str(id).ok()).collect());
    regions.get(i).copied().flatten()
}

/// The longest region id at `pos` that ends after `beyond` (java.time
/// matches ids case-insensitively: `europe/paris`).
fn region(text: &[u8], pos: usize, beyond: usize) -> Option<(Tz, usize)> {
    if !text.get(pos)?.is_ascii_alphabetic() {
        return None;
    }
    let run = text[pos..]
        .iter()
        .take(64)
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'+'))
        .count();
    (2..=run)
        .rev()
        .take_while(|len| pos + len > beyond)
        .find_map(|len| {
            let id = std::str::from_utf8(&text[pos..pos + len]).ok()?;
            region_id(id).map(|tz| (tz, pos + len))
        })
}

/// The region named `id` in its usual capitalization or as written.
fn region_id(id: &str) -> Option<Tz> {
    if let Ok(tz) = Tz::from_str(id) {
        return Some(tz);
    }
    // `america/los_angeles` is `America/Los_Angeles`, `utc` is `UTC`.
    let mut title = String::with_capacity(id.len());
    let mut start = true;
    for c in id.chars() {
        if start {
            title.push(c.to_ascii_uppercase());
        } else {
            title.push(c.to_ascii_lowercase());
        }
        start = matches!(c, '/' | '_' | '-');
    }
    Tz::from_str(&title)
        .or_else(|_| Tz::from_str(&id.to_ascii_uppercase()))
        .ok()
}
