//! Spark's string functions that edit characters in place: `overlay`
//! (Spark's positions and its default length, the replacement's) and
//! `mask`; and `collation`, which names the one collation Kiln compares
//! strings by (UTF-8 bytes, Spark's default).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded::{self, is_text};

kinded::family! {
    /// `overlay(input, replace, pos[, len])`.
    Overlay = "overlay",
    /// `mask(input[, upper[, lower[, digit[, other]]]])`.
    Mask = "mask",
    /// `collation(str)`.
    Collation = "collation",
}

/// Spark's `substringSQL(pos, length)` of `chars`: 1-based, 0 as 1, a
/// negative position counted from the end.
fn substring_sql(chars: &[char], pos: i64, length: i64) -> &[char] {
    let len = chars.len() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        p if p < 0 => len + p,
        _ => 0,
    };
    let end = start.saturating_add(length).min(len);
    let start = start.max(0);
    if start >= end {
        return &[];
    }
    &chars[start as usize..end as usize]
}

/// `overlay`: `input` with `len` characters from `pos` on replaced by
/// `replace` (`len` < 0: as many as `replace` has).
fn overlay(input: &str, replace: &str, pos: i64, len: i64) -> String {
    let chars: Vec<char> = input.chars().collect();
    let replace_len = replace.chars().count() as i64;
    let len = if len >= 0 { len } else { replace_len };
    let mut out: String = substring_sql(&chars, 1, pos - 1).iter().collect();
    out.push_str(replace);
    out.extend(substring_sql(
        &chars,
        pos.saturating_add(len),
        i64::from(i32::MAX),
    ));
    out
}

/// `mask` of one character: upper, lower, digit, other (None: kept).
fn mask_char(c: char, with: [Option<char>; 4]) -> char {
    let slot = if c.is_uppercase() {
        0
    } else if c.is_lowercase() {
        1
    } else if c.is_ascii_digit() {
        2
    } else {
        3
    };
    with[slot].unwrap_or(c)
}

impl kinded::Kind for Kind {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let int = |t: &DataType| t.is_integer() || t.is_null();
        match (*self, arg_types) {
            (Kind::Overlay, [a, b, p]) if is_text(a) && is_text(b) && int(p) => {
                Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Int64])
            }
            (Kind::Overlay, [a, b, p, l]) if is_text(a) && is_text(b) && int(p) && int(l) => {
                Ok(vec![
                    DataType::Utf8,
                    DataType::Utf8,
                    DataType::Int64,
                    DataType::Int64,
                ])
            }
            (Kind::Mask, ts) if (1..=5).contains(&ts.len()) && ts.iter().all(is_text) => {
                Ok(vec![DataType::Utf8; ts.len()])
            }
            (Kind::Collation, [t]) if is_text(t) => Ok(vec![t.clone()]),
            _ => plan_err!(
                "{} takes {}, got ({arg_types:?})",
                name,
                match *self {
                    Kind::Overlay => "two strings, an INT position and an optional INT length",
                    Kind::Mask => "a string and up to four one-character strings",
                    Kind::Collation => "a string",
                }
            ),
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if *self == Kind::Collation {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                "SYSTEM.BUILTIN.UTF8_BINARY".into(),
            ))));
        }
        let a = Arrays::new(&args.args, args.number_rows)?;
        let out: ArrayRef = match *self {
            Kind::Overlay => {
                let (input, replace) = (
                    a.arrays[0].as_string::<i32>(),
                    a.arrays[1].as_string::<i32>(),
                );
                let pos = a.arrays[2].as_primitive::<Int64Type>();
                let minus_one = Int64Array::from(vec![-1; a.rows]);
                let len = match a.arrays.get(3) {
                    Some(l) => l.as_primitive::<Int64Type>(),
                    None => &minus_one,
                };
                let out: StringArray = (0..a.rows)
                    .map(|r| {
                        if input.is_null(r)
                            || replace.is_null(r)
                            || pos.is_null(r)
                            || len.is_null(r)
                        {
                            return None;
                        }
                        Some(overlay(
                            input.value(r),
                            replace.value(r),
                            pos.value(r),
                            len.value(r),
                        ))
                    })
                    .collect();
                Arc::new(out)
            }
            _ => {
                let texts = a
                    .arrays
                    .iter()
                    .map(|x| cast(x, &DataType::Utf8))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let input = texts[0].as_string::<i32>();
                let defaults = [Some('X'), Some('x'), Some('n'), None];
                let out: StringArray = (0..a.rows)
                    .map(|r| {
                        if input.is_null(r) {
                            return None;
                        }
                        let mut with = defaults;
                        for (i, slot) in with.iter_mut().enumerate() {
                            if let Some(t) = texts.get(i + 1).map(|t| t.as_string::<i32>()) {
                                *slot = if t.is_null(r) {
                                    None
                                } else {
                                    t.value(r).chars().next()
                                };
                            }
                        }
                        Some(
                            input
                                .value(r)
                                .chars()
                                .map(|c| mask_char(c, with))
                                .collect::<String>(),
                        )
                    })
                    .collect();
                Arc::new(out)
            }
        };
        a.answer(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_as_spark() {
        assert_eq!(overlay("SPARK_SQL", "CORE", 7, -1), "SPARK_CORE");
        assert_eq!(overlay("SPARK_SQL", "CORE", 7, 0), "SPARK_CORESQL");
        assert_eq!(overlay("SPARK_SQL", "CORE", 7, 2), "SPARK_COREL");
        assert_eq!(overlay("SPARK_SQL", "ANSI ", 7, 0), "SPARK_ANSI SQL");
    }

    #[test]
    fn mask_by_character_class() {
        let m = |s: &str, w| s.chars().map(|c| mask_char(c, w)).collect::<String>();
        assert_eq!(
            m("AbCD123-@$#", [Some('X'), Some('x'), Some('n'), None]),
            "XxXXnnn-@$#"
        );
        assert_eq!(m("ab-1", [Some('Y'), None, Some('d'), Some('*')]), "ab*d");
    }
}
