//! Durations as Kiln reads them, in settings (`kiln.executor.heartbeatTimeout`,
//! `spark.network.timeout`), annotations (`kiln.dev/submission-timeout`) and
//! schedules (`@every 1h30m`): Go's duration syntax, which Spark's `10s` and
//! `2m` also are, plus a bare number meaning seconds as in Spark.
//!
//! - a bare number: seconds (`90`, `1.5`);
//! - one or more `<number><unit>` with no blanks between (`1h30m`, `1.5h`,
//!   `500ms`), units `ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`.

use std::time::Duration;

/// Seconds per unit of a duration, `None` for an unknown unit.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}

/// The duration `s` writes (see the module doc); surrounding blanks are
/// ignored. An empty text, a number without digits, an unknown unit or a
/// duration too long to represent is an error naming the text.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let examples = "(examples: 500ms, 10s, 2m, 1h30m)";
    if t.is_empty() {
        return Err(format!("`{s}` is not a duration {examples}"));
    }
    let mut seconds = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let (value, after) = crate::leading_number(rest)
            .ok_or_else(|| format!("`{s}` is not a duration {examples}"))?;
        let num = &rest[..rest.len() - after.len()];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_end);
        let per = if unit.is_empty() && tail.is_empty() && rest.len() == t.len() {
            // A bare number is seconds; `1h30` (a unit missing at the end) is not.
            1.0
        } else {
            unit_seconds(unit).ok_or_else(|| {
                if unit.is_empty() {
                    format!("`{s}`: `{num}` needs a unit (ns, us, ms, s, m, h)")
                } else {
                    format!("`{s}` has an unknown unit `{unit}` (use ns, us, ms, s, m or h)")
                }
            })?
        };
        seconds += value * per;
        rest = tail;
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{s}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Result<Duration, String> {
        Ok(Duration::from_secs_f64(s))
    }

    #[test]
    fn spark_and_go_forms() {
        assert_eq!(parse_duration("500ms"), secs(0.5));
        assert_eq!(parse_duration("10s"), secs(10.0));
        assert_eq!(parse_duration("2m"), secs(120.0));
        assert_eq!(parse_duration("2min"), secs(120.0));
        assert_eq!(parse_duration("1h"), secs(3600.0));
        assert_eq!(parse_duration("1h30m"), secs(5400.0));
        assert_eq!(parse_duration("1.5h"), secs(5400.0));
        assert_eq!(parse_duration("1m0.5s"), secs(60.5));
        assert_eq!(parse_duration("250us"), secs(0.00025));
        assert_eq!(parse_duration("250µs"), secs(0.00025));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse_duration("90"), secs(90.0));
        assert_eq!(parse_duration(" 1.5 "), secs(1.5));
        assert_eq!(parse_duration("0"), secs(0.0));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        for (input, says) in [
            ("", "is not a duration"),
            ("  ", "is not a duration"),
            ("s", "is not a duration"),
            ("-5s", "is not a duration"),
            (".5s", "is not a duration"),
            ("1..5s", "is not a duration"),
            ("5 s", "unknown unit ` s`"),
            ("5d", "unknown unit `d`"),
            ("5sec", "unknown unit `sec`"),
            ("1h30", "`30` needs a unit"),
            ("99999999999999999999999h", "too long"),
        ] {
            let e = parse_duration(input).expect_err(input);
            assert!(e.contains(says), "{input}: {e}");
        }
    }
}
