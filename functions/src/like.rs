//! Spark's `like(str, pattern[, escape])` and `ilike(str, pattern[,
//! escape])` as functions, with any escape character: DataFusion's LIKE
//! runs only the backslash, so these translate the pattern as Spark does
//! (`_` any character, `%` any run, the escape before `_`, `%` or itself)
//! into a regular expression over the whole string.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use regex::Regex;

use crate::args::Arrays;
use crate::kinded::{self, is_text};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (Like { insensitive: false }, "like"),
        (Like { insensitive: true }, "ilike"),
    ])
}

/// `like` or (`insensitive`) `ilike` with an escape character.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Like {
    insensitive: bool,
}

/// Spark's `escapeLikeRegex`: `pattern` with escape `escape` as a regular
/// expression matching whole strings.
fn like_regex(pattern: &str, escape: char) -> std::result::Result<String, String> {
    let mut out = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(n) if n == '_' || n == '%' || n == escape => {
                    out.push_str(&regex::escape(&n.to_string()))
                }
                Some(n) => {
                    return Err(format!(
                        "the escape character is not allowed to precede '{n}'"
                    ))
                }
                None => return Err("it is not allowed to end with the escape character".into()),
            }
            continue;
        }
        match c {
            '_' => out.push('.'),
            '%' => out.push_str(".*"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    Ok(out)
}

impl kinded::Kind for Like {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let text = is_text;
        match arg_types {
            [a, b] if text(a) && text(b) => Ok(vec![DataType::Utf8; 2]),
            [a, b, c] if text(a) && text(b) && text(c) => Ok(vec![DataType::Utf8; 3]),
            _ => plan_err!(
                "{} takes a string, a pattern and an escape character, got ({arg_types:?})",
                name
            ),
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let texts = a
            .arrays
            .iter()
            .map(|x| cast(x, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // Without an escape argument the escape is Spark's default, `\`.
        let backslash: arrow::array::ArrayRef =
            Arc::new(arrow::array::StringArray::from(vec!["\\"; a.rows]));
        let (s, p, e) = (
            texts[0].as_string::<i32>(),
            texts[1].as_string::<i32>(),
            texts.get(2).unwrap_or(&backslash).as_string::<i32>(),
        );
        let mut compiled: Option<(String, char, Regex)> = None;
        let mut out = Vec::with_capacity(a.rows);
        for row in 0..a.rows {
            if s.is_null(row) || p.is_null(row) || e.is_null(row) {
                out.push(None);
                continue;
            }
            let mut escape = e.value(row).chars();
            let (Some(esc), None) = (escape.next(), escape.next()) else {
                return exec_err!(
                    "{}: the escape must be one character, got '{}'",
                    name,
                    e.value(row)
                );
            };
            let (text, pattern) = if self.insensitive {
                (s.value(row).to_lowercase(), p.value(row).to_lowercase())
            } else {
                (s.value(row).to_string(), p.value(row).to_string())
            };
            let fresh = compiled
                .as_ref()
                .is_none_or(|(cp, ce, _)| *cp != pattern || *ce != esc);
            if fresh {
                let re = like_regex(&pattern, esc)
                    .and_then(|r| Regex::new(&r).map_err(|e| e.to_string()))
                    .map_err(|reason| {
                        DataFusionError::Execution(format!(
                            "[INVALID_FORMAT.ESC_IN_THE_MIDDLE] {}: the pattern '{pattern}' is invalid: {reason}",
                            name
                        ))
                    })?;
                compiled = Some((pattern.clone(), esc, re));
            }
            out.push(compiled.as_ref().map(|(_, _, re)| re.is_match(&text)));
        }
        a.answer(Arc::new(BooleanArray::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparks_like_with_an_escape() {
        let m = |s: &str, p: &str, e| {
            like_regex(p, e)
                .ok()
                .and_then(|r| Regex::new(&r).ok())
                .map(|re| re.is_match(s))
        };
        assert_eq!(
            m("%SystemDrive%/Users/John", "/%SystemDrive/%//Users%", '/'),
            Some(true)
        );
        assert_eq!(m("a_b", "a/_b", '/'), Some(true));
        assert_eq!(m("axb", "a/_b", '/'), Some(false));
        assert_eq!(m("a\\b", "a\\b", '/'), Some(true));
        assert!(like_regex("a/", '/').is_err());
    }
}
