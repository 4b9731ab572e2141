//! `DataFrame.show()`'s text, as Spark prints it: values as Spark casts them
//! to strings (`NULL`, Java's double format, `[a, b]` arrays, `{k -> v}`
//! maps), cells cut to `truncate` characters and right-aligned, or the
//! vertical `-RECORD n-` layout.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// Java's `Double.toString`: plain between 1e-3 and 1e7, else `1.0E10`.
pub use kiln_functions::java_double;

fn java_float(v: f32) -> String {
    // Shortest round-trip digits of the f32, in Java's layout.
    let as_f64: f64 = format!("{v:?}").parse().unwrap_or(f64::from(v));
    java_double(as_f64)
}

/// One value as Spark's `show()` prints it.
pub fn cell(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    match array.data_type() {
        DataType::Float64 => java_double(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
        ),
        DataType::Float32 => java_float(
            array
                .as_primitive::<arrow::datatypes::Float32Type>()
                .value(row),
        ),
        DataType::Timestamp(unit, _) => {
            let opts = FormatOptions::default();
            let text = ArrayFormatter::try_new(array, &opts)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default();
            let text = text.replacen('T', " ", 1);
            // Drop the zone suffix and trailing zero fractions, as Spark does.
            let text = text.trim_end_matches('Z').to_string();
            let text = match text.split_once('+') {
                Some((t, _)) if !matches!(unit, TimeUnit::Second) => t.to_string(),
                _ => text,
            };
            match text.split_once('.') {
                Some((t, frac)) => {
                    let frac = frac.trim_end_matches('0');
                    if frac.is_empty() {
                        t.to_string()
                    } else {
                        format!("{t}.{frac}")
                    }
                }
                None => text,
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes: Vec<u8> = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
                DataType::LargeBinary => array.as_binary::<i64>().value(row).to_vec(),
                _ => array.as_binary_view().value(row).to_vec(),
            };
            format!(
                "[{}]",
                bytes
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array
                .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                .value(row);
            calendar_interval(v.months, v.days, v.nanoseconds / 1_000)
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            let months = array
                .as_primitive::<arrow::datatypes::IntervalYearMonthType>()
                .value(row);
            let sign = if months < 0 { "-" } else { "" };
            let abs = months.unsigned_abs();
            format!("INTERVAL '{sign}{}-{}' YEAR TO MONTH", abs / 12, abs % 12)
        }
        DataType::Duration(TimeUnit::Microsecond) => day_time_interval(
            array
                .as_primitive::<arrow::datatypes::DurationMicrosecondType>()
                .value(row),
        ),
        DataType::List(_) => list(array.as_list::<i32>().value(row).as_ref()),
        DataType::LargeList(_) => list(array.as_list::<i64>().value(row).as_ref()),
        DataType::Struct(_) => {
            let s = array.as_struct();
            format!(
                "{{{}}}",
                s.columns()
                    .iter()
                    .map(|c| cell(c.as_ref(), row))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        DataType::Map(_, _) => {
            let m = array.as_map();
            let entries = m.value(row);
            let (k, v) = (entries.column(0), entries.column(1));
            format!(
                "{{{}}}",
                (0..entries.len())
                    .map(|i| format!("{} -> {}", cell(k.as_ref(), i), cell(v.as_ref(), i)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        _ => {
            let opts = FormatOptions::default();
            ArrayFormatter::try_new(array, &opts)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        }
    }
}

/// `micros` as seconds with up to six decimals, no trailing zeros
/// (Java's `BigDecimal.valueOf(micros, 6).stripTrailingZeros()`).
fn seconds_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let text = format!("{}.{:06}", abs / 1_000_000, abs % 1_000_000);
    format!("{sign}{}", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Spark's `CalendarInterval` text: `1 years 2 months 3 days 4 hours 5
/// minutes 6.5 seconds`, units that are zero left out.
fn calendar_interval(months: i32, days: i32, micros: i64) -> String {
    if months == 0 && days == 0 && micros == 0 {
        return "0 seconds".into();
    }
    let mut parts = vec![];
    let mut unit = |v: i64, name: &str| {
        if v != 0 {
            parts.push(format!("{v} {name}"));
        }
    };
    unit(i64::from(months / 12), "years");
    unit(i64::from(months % 12), "months");
    unit(i64::from(days), "days");
    unit(micros / 3_600_000_000, "hours");
    unit(micros % 3_600_000_000 / 60_000_000, "minutes");
    let seconds = micros % 60_000_000;
    if seconds != 0 {
        parts.push(format!("{} seconds", seconds_text(seconds)));
    }
    parts.join(" ")
}

/// A day-time interval as Spark prints `INTERVAL DAY TO SECOND`:
/// `INTERVAL '1 12:30:01.001001' DAY TO SECOND`.
fn day_time_interval(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let rest = micros.unsigned_abs();
    let (days, rest) = (rest / 86_400_000_000, rest % 86_400_000_000);
    let (hours, rest) = (rest / 3_600_000_000, rest % 3_600_000_000);
    let (minutes, secs) = (rest / 60_000_000, rest % 60_000_000);
    let lead = if secs < 10_000_000 { "0" } else { "" };
    format!(
        "INTERVAL '{sign}{days} {hours:02}:{minutes:02}:{lead}{}' DAY TO SECOND",
        seconds_text(secs as i64)
    )
}

fn list(values: &dyn Array) -> String {
    format!(
        "[{}]",
        (0..values.len())
            .map(|i| cell(values, i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn cut(s: String, truncate: usize) -> String {
    if truncate > 0 && width(&s) > truncate {
        if truncate < 4 {
            s.chars().take(truncate).collect()
        } else {
            format!("{}...", s.chars().take(truncate - 3).collect::<String>())
        }
    } else {
        s
    }
}

/// The text of `show(num_rows, truncate, vertical)` over `batches` (which
/// hold at most `num_rows + 1` rows: one more tells there were more).
pub fn show_string(
    names: &[String],
    batches: &[RecordBatch],
    num_rows: usize,
    truncate: usize,
    vertical: bool,
) -> String {
    let mut rows: Vec<Vec<String>> = vec![];
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| cut(cell(c.as_ref(), r), truncate))
                    .collect(),
            );
        }
    }
    let has_more = rows.len() > num_rows;
    rows.truncate(num_rows);
    // Spark cuts cells, never the column names.
    let header: Vec<String> = names
        .iter()
        .map(|n| kiln_core::spark_names::display_name(n).to_string())
        .collect();
    let mut out = String::new();
    if !vertical {
        let mut widths: Vec<usize> = header.iter().map(|h| width(h).max(3)).collect();
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(c));
            }
        }
        let sep: String = widths.iter().fold("+".to_string(), |mut s, w| {
            s.push_str(&"-".repeat(*w));
            s.push('+');
            s
        });
        let line = |cells: &[String]| -> String {
            let mut s = "|".to_string();
            for (c, w) in cells.iter().zip(&widths) {
                let pad = " ".repeat(w - width(c));
                if truncate > 0 {
                    s.push_str(&pad);
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&pad);
                }
                s.push('|');
            }
            s
        };
        out.push_str(&sep);
        out.push('\n');
        out.push_str(&line(&header));
        out.push('\n');
        out.push_str(&sep);
        out.push('\n');
        for row in &rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out.push_str(&sep);
        out.push('\n');
    } else if rows.is_empty() {
        out.push_str("(0 rows)");
    } else {
        // Spark's minimum column width is 3 in both layouts.
        let name_width = header.iter().map(|h| width(h)).fold(3, usize::max);
        let data_width = rows
            .iter()
            .flat_map(|r| r.iter().map(|c| width(c)))
            .fold(3, usize::max);
        for (i, row) in rows.iter().enumerate() {
            let title = format!("-RECORD {i}");
            let total = name_width + data_width + 5;
            out.push_str(&title);
            out.push_str(&"-".repeat(total.saturating_sub(width(&title))));
            out.push('\n');
            for (h, c) in header.iter().zip(row) {
                out.push_str(&format!(
                    " {h}{} | {c}{} \n",
                    " ".repeat(name_width - width(h)),
                    " ".repeat(data_width - width(c))
                ));
            }
        }
    }
    if has_more && !(vertical && rows.is_empty()) {
        let noun = if num_rows == 1 { "row" } else { "rows" };
        // No newline after the footer: PySpark prints the string with one.
        out.push_str(&format!("only showing top {num_rows} {noun}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn intervals_as_spark_prints_them() {
        assert_eq!(
            calendar_interval(1211, 8, 45_001_001_001),
            "100 years 11 months 8 days 12 hours 30 minutes 1.001001 seconds"
        );
        assert_eq!(calendar_interval(0, 0, 0), "0 seconds");
        assert_eq!(
            calendar_interval(-2, 0, -1_500_000),
            "-2 months -1.5 seconds"
        );
        assert_eq!(
            day_time_interval(131_401_001_001),
            "INTERVAL '1 12:30:01.001001' DAY TO SECOND"
        );
        assert_eq!(
            day_time_interval(-61_000_000),
            "INTERVAL '-0 00:01:01' DAY TO SECOND"
        );
    }

    use arrow::array::{Float64Array, Int64Array, StringArray};

    #[test]
    fn doubles_print_as_java_prints_them() {
        assert_eq!(java_double(3.5), "3.5");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1234567.0), "1234567.0");
    }

    #[test]
    fn table_layout_pads_truncates_and_says_there_is_more() {
        let b = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![Some(1), None])) as _),
            (
                "s",
                Arc::new(StringArray::from(vec![
                    "a",
                    "a very long string, longer than 20",
                ])) as _,
            ),
            ("d", Arc::new(Float64Array::from(vec![0.5, 2.0])) as _),
        ])
        .unwrap();
        let names = vec!["id".to_string(), "s".to_string(), "d".to_string()];
        let text = show_string(&names, &[b], 1, 20, false);
        assert_eq!(
            text,
            "+---+---+---+\n| id|  s|  d|\n+---+---+---+\n|  1|  a|0.5|\n+---+---+---+\nonly showing top 1 row"
        );
    }

    /// Expected texts as Spark 4.2.1 printed them for the same data.
    #[test]
    fn vertical_layout_keeps_names_and_minimum_widths() {
        let b = RecordBatch::try_from_iter(vec![
            ("identifier", Arc::new(Int64Array::from(vec![1])) as _),
            ("longname", Arc::new(StringArray::from(vec!["alice"])) as _),
        ])
        .unwrap();
        let names = vec!["identifier".to_string(), "longname".to_string()];
        assert_eq!(
            show_string(&names, std::slice::from_ref(&b), 1, 4, true),
            "-RECORD 0----------\n identifier | 1    \n longname   | a... \n"
        );
        assert_eq!(show_string(&names, &[b], 0, 20, true), "(0 rows)");
        let ids =
            RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(vec![0, 1])) as _)])
                .unwrap();
        assert_eq!(
            show_string(&["id".to_string()], &[ids], 1, 20, true),
            "-RECORD 0--\n id  | 0   \nonly showing top 1 row"
        );
    }
}
