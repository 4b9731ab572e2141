//! Spark's tumbling time windows: `window(ts, duration[, slide[, start]])`
//! is the struct `{start, end}` of the window of `duration` (offset by
//! `start`) that holds `ts`, and `window_time(window)` its last
//! microsecond, `end - 1µs`. Windows are aligned on the epoch as in Spark.
//! A slide shorter than the duration (overlapping windows, one row per
//! window) is not supported.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::kinded;

use crate::args::Arrays;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (TimeWindow { time: false }, "window"),
        (TimeWindow { time: true }, "window_time"),
    ])
}

/// `window` or (`time`) `window_time`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeWindow {
    time: bool,
}

/// The microseconds of a Spark interval string (`5 seconds`,
/// `interval 1 hour 30 minutes`, `2 weeks`).
fn duration_micros(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let body = lower.strip_prefix("interval").unwrap_or(&lower).trim();
    let words: Vec<&str> = body.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    let mut total: i64 = 0;
    for pair in words.chunks(2) {
        let n: f64 = pair[0].parse().ok()?;
        let unit = pair[1].trim_end_matches('s');
        let micros = match unit {
            "microsecond" | "us" => 1.0,
            "millisecond" | "ms" => 1e3,
            "second" | "sec" => 1e6,
            "minute" | "min" => 60e6,
            "hour" => 3_600e6,
            "day" => 86_400e6,
            "week" => 7.0 * 86_400e6,
            _ => return None,
        };
        total = total.checked_add((n * micros).round() as i64)?;
    }
    Some(total)
}

/// The start of the window of `duration` (offset by `start`) holding `t`.
fn window_start(t: i64, duration: i64, start: i64) -> i64 {
    t - (t - start).rem_euclid(duration)
}

fn window_fields(t: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("start", t.clone(), true),
        Field::new("end", t.clone(), true),
    ])
}

impl kinded::Kind for TimeWindow {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let text =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        match (self.time, arg_types) {
            (true, [DataType::Struct(_)]) => Ok(arg_types.to_vec()),
            (false, [DataType::Timestamp(_, tz), rest @ ..])
                if (1..=3).contains(&rest.len()) && rest.iter().all(text) =>
            {
                let mut out = vec![DataType::Timestamp(TimeUnit::Microsecond, tz.clone())];
                out.extend(std::iter::repeat_n(DataType::Utf8, rest.len()));
                Ok(out)
            }
            (false, [DataType::Date32 | DataType::Utf8, rest @ ..])
                if (1..=3).contains(&rest.len()) && rest.iter().all(text) =>
            {
                let mut out = vec![DataType::Timestamp(TimeUnit::Microsecond, None)];
                out.extend(std::iter::repeat_n(DataType::Utf8, rest.len()));
                Ok(out)
            }
            _ => plan_err!(
                "{} takes {}, got ({arg_types:?})",
                name,
                if self.time {
                    "a window struct"
                } else {
                    "a timestamp and one to three interval strings"
                }
            ),
        }
    }

    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType> {
        match (self.time, arg_types.first()) {
            (true, Some(DataType::Struct(fields))) => match fields.find("end") {
                Some((_, f)) => Ok(f.data_type().clone()),
                None => plan_err!("window_time takes a window struct (start, end)"),
            },
            (false, Some(t)) => Ok(DataType::Struct(window_fields(t))),
            _ => plan_err!("{} takes a timestamp or a window", name),
        }
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let t = a.arrays[0].data_type().clone();
        if self.time {
            let window = a.arrays[0].as_struct();
            let Some(end) = window.column_by_name("end") else {
                return exec_err!("window_time takes a window struct (start, end)");
            };
            if !matches!(
                end.data_type(),
                DataType::Timestamp(TimeUnit::Microsecond, _)
            ) {
                return exec_err!(
                    "window_time takes a window of timestamps, got {}",
                    end.data_type()
                );
            }
            // Raw values: instants (UTC) or wall clocks, as the column holds them.
            let micros = end.as_primitive::<TimestampMicrosecondType>();
            let last: PrimitiveArray<TimestampMicrosecondType> = (0..window.len())
                .map(|i| (window.is_valid(i) && micros.is_valid(i)).then(|| micros.value(i) - 1))
                .collect();
            let last = last.with_timezone_opt(micros.timezone().map(Arc::<str>::from));
            return a.answer(Arc::new(last));
        }
        // The durations are constants (Spark requires literals).
        let interval = |i: usize| -> Result<Option<i64>> {
            let Some(arg) = args.args.get(i) else {
                return Ok(None);
            };
            match arg {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => match duration_micros(s) {
                    Some(d) => Ok(Some(d)),
                    None => exec_err!("window: '{s}' is not an interval"),
                },
                _ => exec_err!("window: the durations must be non-NULL string literals"),
            }
        };
        let Some(duration) = interval(1)?.filter(|d| *d > 0) else {
            return exec_err!("window: the window duration must be positive");
        };
        let slide = interval(2)?.unwrap_or(duration);
        if slide != duration {
            return exec_err!(
                "window with a slide duration shorter than the window (overlapping windows) is not supported by Kiln"
            );
        }
        let start = interval(3)?.unwrap_or(0);
        // Windows align on the epoch of the raw values (instants in UTC, as
        // Spark computes them).
        let ts = a.arrays[0].as_primitive::<TimestampMicrosecondType>();
        let zone = ts.timezone().map(Arc::<str>::from);
        let starts = ts
            .unary::<_, TimestampMicrosecondType>(|v| window_start(v, duration, start))
            .with_timezone_opt(zone.clone());
        let ends = starts
            .unary::<_, TimestampMicrosecondType>(|v| v + duration)
            .with_timezone_opt(zone);
        let out = StructArray::try_new(
            window_fields(&t),
            vec![Arc::new(starts) as ArrayRef, Arc::new(ends)],
            ts.nulls().cloned(),
        )?;
        a.answer(Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_tumbling_starts() {
        assert_eq!(duration_micros("5 seconds"), Some(5_000_000));
        assert_eq!(
            duration_micros("interval 1 hour 30 minutes"),
            Some(5_400_000_000)
        );
        assert_eq!(duration_micros("2 weeks"), Some(14 * 86_400_000_000));
        assert_eq!(duration_micros("soon"), None);
        assert_eq!(window_start(7_000_000, 5_000_000, 0), 5_000_000);
        assert_eq!(window_start(-1, 5_000_000, 0), -5_000_000);
    }
}
