//! Spark's string functions DataFusion has none of: `split` with a Java
//! regular expression and a limit.

use std::sync::Arc;

use arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};
use regex::Regex;

use crate::kinded;

use crate::args::Arrays;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(Split, "split")])
}

/// `split(str, regex[, limit])`: the pieces of `str` around matches of
/// `regex`; with `limit > 0` at most `limit` pieces, the last holding the
/// rest. Trailing empty pieces are kept, as Spark keeps them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Split;

impl kinded::Kind for Split {
    fn signature(&self) -> Signature {
        Signature::variadic_any(Volatility::Immutable)
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=3).contains(&arg_types.len()) {
            return exec_err!("split takes 2 or 3 arguments, got {}", arg_types.len());
        }
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let (arrays, rows) = (&input.arrays, input.rows);
        let text = cast(&arrays[0], &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let pattern = cast(&arrays[1], &DataType::Utf8)?;
        let pattern = pattern.as_string::<i32>();
        let limit = match arrays.get(2) {
            Some(l) => Some(cast(l, &DataType::Int64)?),
            None => None,
        };
        let mut out = ListBuilder::new(StringBuilder::new());
        let mut compiled: Option<(String, Regex)> = None;
        for row in 0..rows {
            if text.is_null(row) || pattern.is_null(row) {
                out.append_null();
                continue;
            }
            let p = pattern.value(row);
            if compiled.as_ref().map(|(s, _)| s.as_str()) != Some(p) {
                let re = Regex::new(p).map_err(|e| {
                    datafusion::error::DataFusionError::Execution(format!(
                        "[INVALID_PARAMETER_VALUE.PATTERN] split: '{p}' is not a valid regular expression: {e}"
                    ))
                })?;
                compiled = Some((p.to_string(), re));
            }
            let Some((_, re)) = compiled.as_ref() else {
                continue;
            };
            let n = match &limit {
                Some(l) => {
                    let l = l.as_primitive::<arrow::datatypes::Int64Type>();
                    if l.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    l.value(row)
                }
                None => -1,
            };
            let s = text.value(row);
            if p.is_empty() && !s.is_empty() {
                // Spark splits on an empty pattern into characters (no
                // empty first and last pieces, as the regex would give);
                // with a limit the last piece holds the rest.
                let keep = if n > 0 { n as usize } else { usize::MAX };
                let mut chars = s.char_indices();
                for _ in 1..keep {
                    let Some((i, c)) = chars.next() else {
                        break;
                    };
                    out.values().append_value(&s[i..i + c.len_utf8()]);
                }
                if let Some((i, _)) = chars.next() {
                    out.values().append_value(&s[i..]);
                }
            } else if n > 0 {
                for piece in re.splitn(s, n as usize) {
                    out.values().append_value(piece);
                }
            } else if s.is_empty() {
                out.values().append_value("");
            } else {
                for piece in re.split(s) {
                    out.values().append_value(piece);
                }
            }
            out.append(true);
        }
        input.answer(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::query;

    // Spark 4.2's golden answers (sql-tests string-functions.sql).
    #[test]
    fn an_empty_pattern_splits_into_characters() {
        assert_eq!(
            query("SELECT split('hello', ''), split('hello', '', 3), split('hello', '', 100), split('hello', '', 1)"),
            vec![r#"[h, e, l, l, o]|[h, e, llo]|[h, e, l, l, o]|[hello]"#]
        );
        assert_eq!(
            query("SELECT split('a,b,,c', ','), split('a,b,c', ',', 2)"),
            vec!["[a, b, , c]|[a, b,c]"]
        );
    }
}
