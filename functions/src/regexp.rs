//! Spark's regular-expression functions over strings: `regexp_replace`
//! (every match from a position on, with Java's `$1` replacement syntax),
//! `regexp_extract`, `regexp_extract_all` and `regexp_substr`.
//!
//! Patterns are Java regular expressions in Spark; Kiln compiles them
//! with the `regex` crate, which reads the common syntax the same way
//! (no look-around or back-references).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use regex::Regex;

use crate::args::Arrays;
use crate::kinded::{self, is_text};

kinded::family! {
    /// `regexp_replace(str, regexp, rep[, position])`.
    Replace = "regexp_replace",
    /// `regexp_extract(str, regexp[, idx])`.
    Extract = "regexp_extract",
    /// `regexp_extract_all(str, regexp[, idx])`.
    ExtractAll = "regexp_extract_all",
    /// `regexp_substr(str, regexp)`.
    Substr = "regexp_substr",
}

/// The compiled pattern of the last row, compiled again only when a row's
/// pattern differs.
struct Patterns<'a> {
    name: &'a str,
    last: Option<(String, Regex)>,
}

impl Patterns<'_> {
    fn get(&mut self, pattern: &str) -> Result<&Regex> {
        if self.last.as_ref().map(|(p, _)| p.as_str()) != Some(pattern) {
            let re = Regex::new(pattern).map_err(|e| {
                DataFusionError::Execution(format!(
                    "[INVALID_PARAMETER_VALUE.PATTERN] {}: '{pattern}' is not a valid regular expression: {e}",
                    self.name
                ))
            })?;
            self.last = Some((pattern.to_string(), re));
        }
        match &self.last {
            Some((_, re)) => Ok(re),
            None => exec_err!("{}: no pattern", self.name),
        }
    }
}

/// Java's replacement text (`$1`, `${name}`, `\$` for a dollar) in the
/// `regex` crate's syntax, for a pattern of `groups` groups.
fn java_replacement(rep: &str, groups: usize) -> String {
    let mut out = String::with_capacity(rep.len() + 4);
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(n) => out.push(n),
                None => {}
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    out.push('$');
                    continue;
                }
                // Java reads as many digits as still name a group.
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    let candidate = format!("{n}{d}");
                    if !n.is_empty() && candidate.parse::<usize>().map_or(true, |v| v > groups) {
                        break;
                    }
                    n = candidate;
                    chars.next();
                }
                if n.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{n}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl kinded::Kind for Kind {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let int = |t: &DataType| t.is_integer() || t.is_null();
        let ok = match (*self, arg_types) {
            (Kind::Replace, [s, p, r]) => is_text(s) && is_text(p) && is_text(r),
            (Kind::Replace, [s, p, r, pos]) => is_text(s) && is_text(p) && is_text(r) && int(pos),
            (Kind::Extract | Kind::ExtractAll, [s, p]) => is_text(s) && is_text(p),
            (Kind::Extract | Kind::ExtractAll, [s, p, i]) => is_text(s) && is_text(p) && int(i),
            (Kind::Substr, [s, p]) => is_text(s) && is_text(p),
            _ => false,
        };
        if !ok {
            return plan_err!(
                "{} takes strings{}, got ({arg_types:?})",
                name,
                match *self {
                    Kind::Replace => " (str, regexp, rep) and an optional INT position",
                    Kind::Extract | Kind::ExtractAll => " (str, regexp) and an optional INT group",
                    Kind::Substr => " (str, regexp)",
                }
            );
        }
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let numeric = match *self {
                    Kind::Replace => i == 3,
                    Kind::Extract | Kind::ExtractAll => i == 2,
                    Kind::Substr => false,
                };
                if numeric {
                    DataType::Int64
                } else {
                    DataType::Utf8
                }
            })
            .collect())
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match *self {
            Kind::ExtractAll => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
            }
            _ => DataType::Utf8,
        })
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let text = |i: usize| cast(&a.arrays[i], &DataType::Utf8);
        let (s, p) = (text(0)?, text(1)?);
        let (s, p) = (s.as_string::<i32>(), p.as_string::<i32>());
        let number_at = match *self {
            Kind::Replace => 3,
            _ => 2,
        };
        let number = match a.arrays.get(number_at) {
            Some(n) => Some(cast(n, &DataType::Int64)?),
            None => None,
        };
        let number = number.as_ref().map(|n| n.as_primitive::<Int64Type>());
        let number_of = |row: usize| -> Option<i64> {
            match number {
                Some(n) if n.is_null(row) => None,
                Some(n) => Some(n.value(row)),
                // Both the position and the group default to 1.
                None => Some(1),
            }
        };
        let mut patterns = Patterns { name, last: None };
        let out: ArrayRef = match *self {
            Kind::Replace => {
                let rep = text(2)?;
                let rep = rep.as_string::<i32>();
                let mut out = StringBuilder::new();
                for row in 0..a.rows {
                    let pos = number_of(row);
                    if s.is_null(row) || p.is_null(row) || rep.is_null(row) || pos.is_none() {
                        out.append_null();
                        continue;
                    }
                    let pos = pos.unwrap_or(1);
                    if pos < 1 {
                        return exec_err!(
                            "[INVALID_PARAMETER_VALUE.REGEX_POSITION] regexp_replace: the position must be at least 1, got {pos}"
                        );
                    }
                    let re = patterns.get(p.value(row))?;
                    let value = s.value(row);
                    let start = value
                        .char_indices()
                        .nth(pos as usize - 1)
                        .map_or(value.len(), |(i, _)| i);
                    let rep = java_replacement(rep.value(row), re.captures_len() - 1);
                    let replaced = re.replace_all(&value[start..], rep.as_str());
                    out.append_value(format!("{}{replaced}", &value[..start]));
                }
                Arc::new(out.finish())
            }
            Kind::Extract | Kind::Substr => {
                let mut out: Vec<Option<String>> = Vec::with_capacity(a.rows);
                for row in 0..a.rows {
                    let idx = number_of(row);
                    if s.is_null(row) || p.is_null(row) || idx.is_none() {
                        out.push(None);
                        continue;
                    }
                    let re = patterns.get(p.value(row))?;
                    let found = re.captures(s.value(row));
                    out.push(if *self == Kind::Substr {
                        found.and_then(|c| c.get(0)).map(|m| m.as_str().to_string())
                    } else {
                        let g = group_index(re, idx.unwrap_or(1), name)?;
                        Some(
                            found
                                .and_then(|c| c.get(g))
                                .map_or(String::new(), |m| m.as_str().to_string()),
                        )
                    });
                }
                Arc::new(StringArray::from(out))
            }
            Kind::ExtractAll => {
                let mut out = ListBuilder::new(StringBuilder::new());
                for row in 0..a.rows {
                    let idx = number_of(row);
                    if s.is_null(row) || p.is_null(row) || idx.is_none() {
                        out.append_null();
                        continue;
                    }
                    let re = patterns.get(p.value(row))?;
                    let g = group_index(re, idx.unwrap_or(1), name)?;
                    for c in re.captures_iter(s.value(row)) {
                        out.values()
                            .append_value(c.get(g).map_or("", |m| m.as_str()));
                    }
                    out.append(true);
                }
                Arc::new(out.finish())
            }
        };
        a.answer(out)
    }
}

/// The group `idx` names in `re`, or Spark's error when it has fewer.
fn group_index(re: &Regex, idx: i64, name: &str) -> Result<usize> {
    let groups = re.captures_len() - 1;
    if idx < 0 || idx as usize > groups {
        return exec_err!(
            "[INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX] The value of parameter `idx` in `{name}` is invalid: Expects group index between 0 and {groups}, but got {idx}."
        );
    }
    Ok(idx as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn java_replacements() {
        assert_eq!(java_replacement("--", 1), "--");
        assert_eq!(java_replacement("<$1>", 1), "<${1}>");
        assert_eq!(java_replacement("$12", 1), "${1}2");
        assert_eq!(java_replacement("\\$1", 1), "$$1");
    }

    #[test]
    fn every_match_is_replaced() {
        assert_eq!(
            query(
                r"SELECT regexp_replace('100-200', '(\d+)', '--'), regexp_replace('100-200', '(\d+)', '<$1>', 3)"
            ),
            vec!["-----|10<0>-<200>"]
        );
        assert_eq!(
            query(
                r"SELECT regexp_extract_all('100-200, 300-400', '(\d+)-(\d+)', 2), regexp_substr('1a 2b', '\d+'), regexp_extract('ab', '(x)?b', 1)"
            ),
            vec!["[200, 400]|1|"]
        );
    }
}
