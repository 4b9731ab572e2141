//! Spark's (Java's `DateTimeFormatter`) date-time patterns for formatting
//! (`date_format`, `from_unixtime`), translated to chrono's `strftime`
//! format items. Parsing has its own rules (`datetime_parse`).

use datafusion::common::{exec_err, not_impl_err, Result};

/// The chrono format string for Spark pattern `pattern`, or an error naming
/// the letter Kiln cannot translate.
pub fn to_chrono(pattern: &str) -> Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; `''` is one quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        // Spark prints one `M`, `d`, `H`, ... without padding.
        let unpadded = |padded: &'static str, bare: &'static str| match n {
            1 => bare,
            _ => padded,
        };
        let item: String = match c {
            'y' | 'u' => match n {
                2 => "%y".into(),
                _ => "%Y".into(),
            },
            'M' | 'L' => match n {
                1 | 2 => unpadded("%m", "%-m").into(),
                3 => "%b".into(),
                _ => "%B".into(),
            },
            'd' => unpadded("%d", "%-d").into(),
            'D' => "%j".into(),
            'H' => unpadded("%H", "%-H").into(),
            'k' => "%H".into(),
            'h' => unpadded("%I", "%-I").into(),
            'K' => "%I".into(),
            'm' => unpadded("%M", "%-M").into(),
            's' => unpadded("%S", "%-S").into(),
            // chrono prints only 3, 6 or 9 digits: a marker with the width,
            // filled in by `fill_fractions`.
            'S' => format!("{FRACTION}{}{FRACTION}", n.min(9)),
            'a' => "%p".into(),
            'E' => match n {
                1..=3 => "%a".into(),
                _ => "%A".into(),
            },
            'e' => "%u".into(),
            'Q' | 'q' => {
                return not_impl_err!(
                    "date-time pattern letter '{c}' (quarter) is not supported yet in '{pattern}'"
                )
            }
            'z' | 'V' | 'O' => "%Z".into(),
            'Z' | 'x' => "%z".into(),
            'X' => "%:z".into(),
            'G' => "AD".into(),
            // Spark's error class, so a task fails at once (not retried).
            other => return exec_err!(
                "[INVALID_DATETIME_PATTERN.ILLEGAL_CHARACTER] unknown date-time pattern letter '{other}' in '{pattern}'"
            ),
        };
        out.push_str(&item);
        i += n;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

const FRACTION: char = '\u{1}';

/// Replaces the second-fraction markers of formatted text with the first
/// digits of `nanos`, as many as the pattern's run of `S`.
pub fn fill_fractions(text: &str, nanos: u32) -> String {
    if !text.contains(FRACTION) {
        return text.to_string();
    }
    let digits = format!("{:09}", nanos.min(999_999_999));
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split(FRACTION);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    while let (Some(width), Some(rest)) = (parts.next(), parts.next()) {
        let n: usize = width.parse().unwrap_or(3);
        out.push_str(&digits[..n.min(9)]);
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_patterns_translate() {
        assert_eq!(
            to_chrono("yyyy-MM-dd HH:mm:ss").unwrap(),
            "%Y-%m-%d %H:%M:%S"
        );
        assert_eq!(to_chrono("yyyy-MM").unwrap(), "%Y-%m");
        assert_eq!(to_chrono("d/M/yy").unwrap(), "%-d/%-m/%y");
        assert_eq!(
            to_chrono("EEEE, MMM d 'at' h a").unwrap(),
            "%A, %b %-d at %-I %p"
        );
        assert_eq!(to_chrono("'100%' yyyy").unwrap(), "100%% %Y");
        let f = to_chrono("HH:mm:ss.SS").unwrap();
        assert_eq!(fill_fractions(&f, 123_456_789), "%H:%M:%S.12");
    }

    #[test]
    fn unknown_letters_are_named() {
        let e = to_chrono("yyyy-bb").unwrap_err().to_string();
        assert!(e.contains("'b'") && e.contains("yyyy-bb"), "{e}");
    }
}
