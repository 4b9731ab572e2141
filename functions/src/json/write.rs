//! Arrow values as JSON text, as Spark's `to_json` writes them: structs and
//! maps as objects (NULL fields left out), arrays as arrays, dates and
//! timestamps as strings of the `dateFormat`/`timestampFormat` patterns,
//! doubles as Java prints them, VARIANT values as their JSON.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::array_value_to_string;
use datafusion::common::Result;

use arrow::array::timezone::Tz;

use crate::datetime_pattern::{Format, Zone};
use crate::datetime_value::{date_time, wall_of, MICROS_PER_DAY};
use crate::doc_udf::{Call, Options};

/// What writing needs besides the value: the patterns and the session zone.
pub struct Style {
    /// How dates print (`dateFormat`, default `yyyy-MM-dd`).
    pub date: Format,
    /// How timestamps print (`timestampFormat`).
    pub timestamp: Format,
    /// How timestamps without a zone print (`timestampNTZFormat`).
    pub timestamp_ntz: Format,
    /// The session zone timestamps print in, and its id.
    tz: Tz,
    zone_id: String,
}

impl Style {
    /// Spark's default patterns, or the ones `options` names, in the
    /// session zone of `call`.
    pub fn new(call: &Call, options: &Options) -> Result<Self> {
        let ctx = crate::datetime_value::Ctx::new(call.config, call.name)?;
        let pattern =
            |key: &str, default: &str| Format::compile(options.get(key).unwrap_or(default));
        Ok(Style {
            date: pattern("dateformat", "yyyy-MM-dd")?,
            timestamp: pattern("timestampformat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX")?,
            timestamp_ntz: pattern("timestampntzformat", "yyyy-MM-dd'T'HH:mm:ss[.SSS]")?,
            tz: ctx.tz,
            zone_id: ctx.zone,
        })
    }

    fn zone(&self) -> Zone<'_> {
        Zone {
            id: &self.zone_id,
            tz: &self.tz,
        }
    }
}

/// One string per row of `value`, written by `f` (NULL where `value` is).
pub fn texts(
    value: &dyn Array,
    mut f: impl FnMut(usize, &mut String) -> Result<()>,
) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    for row in 0..value.len() {
        if value.is_null(row) {
            out.append_null();
            continue;
        }
        let mut s = String::new();
        f(row, &mut s)?;
        out.append_value(s);
    }
    Ok(Arc::new(out.finish()))
}

/// Row `row` of `array` (not NULL) as JSON, appended to `out`.
pub fn write(array: &dyn Array, row: usize, style: &Style, out: &mut String) -> Result<()> {
    match array.data_type() {
        DataType::Struct(fields) => {
            let s = array.as_struct();
            out.push('{');
            let mut first = true;
            for (f, col) in fields.iter().zip(s.columns()) {
                if col.is_null(row) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                push_string(f.name(), out);
                out.push(':');
                write(col.as_ref(), row, style, out)?;
            }
            out.push('}');
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            write_items(items.as_ref(), style, out)?;
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            write_items(items.as_ref(), style, out)?;
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push(',');
                }
                let key = entries.column(0);
                push_string(&plain_text(key.as_ref(), i)?, out);
                out.push(':');
                let value = entries.column(1);
                if value.is_null(i) {
                    out.push_str("null");
                } else {
                    write(value.as_ref(), i, style, out)?;
                }
            }
            out.push('}');
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            push_string(&array_value_to_string(array, row)?, out);
        }
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => out.push_str(&array_value_to_string(array, row)?),
        DataType::Float64 => {
            out.push_str(&java_double(array.as_primitive::<Float64Type>().value(row)))
        }
        DataType::Float32 => out.push_str(&java_double(f64::from(
            array.as_primitive::<Float32Type>().value(row),
        ))),
        _ => push_string(&plain_text_styled(array, row, style)?, out),
    }
    Ok(())
}

fn write_items(items: &dyn Array, style: &Style, out: &mut String) -> Result<()> {
    out.push('[');
    for i in 0..items.len() {
        if i > 0 {
            out.push(',');
        }
        if items.is_null(i) {
            out.push_str("null");
        } else {
            write(items, i, style, out)?;
        }
    }
    out.push(']');
    Ok(())
}

/// A value as text: dates and timestamps in the style's patterns, the rest
/// as Arrow displays them.
pub fn plain_text_styled(array: &dyn Array, row: usize, style: &Style) -> Result<String> {
    use arrow::datatypes::{Date32Type, TimeUnit, TimestampMicrosecondType};
    match array.data_type() {
        DataType::Date32 => {
            let days = i64::from(array.as_primitive::<Date32Type>().value(row));
            match date_time(days * MICROS_PER_DAY) {
                Some(wall) => Ok(style.date.print(&wall, &style.zone())),
                None => plain_text(array, row),
            }
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            let (wall, format) = match tz {
                Some(_) => (wall_of(&style.tz, micros), &style.timestamp),
                None => (Some(micros), &style.timestamp_ntz),
            };
            match wall.and_then(date_time) {
                Some(wall) => Ok(format.print(&wall, &style.zone())),
                None => plain_text(array, row),
            }
        }
        _ => plain_text(array, row),
    }
}

/// A value as Arrow displays it.
pub fn plain_text(array: &dyn Array, row: usize) -> Result<String> {
    Ok(array_value_to_string(array, row)?)
}

/// `s` as a JSON string.
pub fn push_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double as Java's `Double.toString` prints it (`1.0`, `0.001`,
/// `1.0E7`, `1.0E-4`, `-0.0`, `NaN`, `Infinity`), as Spark's `show()` and
/// its JSON writer print doubles.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    if (1e-3..1e7).contains(&v.abs()) {
        let s = format!("{v:?}");
        return if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        };
    }
    // Rust: 1e10, 1.5e-5; Java: 1.0E10, 1.5E-5.
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_json() {
        let mut out = String::new();
        push_string("a\"b\\c\n\u{1}", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u0001""#);
    }
}
