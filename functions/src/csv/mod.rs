//! Spark's CSV functions over one line per row: `from_csv` (fields by
//! position into the schema; an empty field is NULL), `to_csv` (a struct's
//! fields joined, quoted where they hold the separator, a quote or a line
//! break) and `schema_of_csv` (Spark's inference: INT, BIGINT, DOUBLE,
//! BOOLEAN or STRING per field, named `_c0`, `_c1`, ...). Options: `sep`
//! (or `delimiter`), `quote`, `escape`, `ignoreLeadingWhiteSpace`,
//! `ignoreTrailingWhiteSpace`, `nullValue`, `dateFormat`,
//! `timestampFormat`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use serde_json::{Map, Value};

use crate::ddl::sql_type;
use crate::doc_udf::{arity, Call, DocUdf, Options};
use crate::json::to_arrow::{self, Source};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        DocUdf::udf("from_csv", returns_struct, from_csv),
        DocUdf::udf("to_csv", returns_string, to_csv),
        DocUdf::udf("schema_of_csv", returns_string, schema_of_csv),
    ]
}

fn returns_struct(
    name: &str,
    types: &[DataType],
    literals: &[Option<&ScalarValue>],
) -> Result<DataType> {
    let t = crate::json::returns_schema(name, types, literals)?;
    match t {
        DataType::Struct(_) => Ok(t),
        other => datafusion::common::plan_err!(
            "`{name}`'s schema must be a struct, not {}",
            sql_type(&other)
        ),
    }
}

fn returns_string(name: &str, types: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    arity(name, types, 1, 2)?;
    Ok(DataType::Utf8)
}

/// The CSV dialect the options name.
struct Dialect {
    sep: String,
    quote: char,
    escape: char,
    trim_leading: bool,
    trim_trailing: bool,
    null_value: String,
}

impl Dialect {
    fn new(options: &Options, reading: bool) -> Self {
        let ch = |key: &str, default: char| {
            options
                .get(key)
                .and_then(|v| v.chars().next())
                .unwrap_or(default)
        };
        Dialect {
            sep: options
                .get("sep")
                .or_else(|| options.get("delimiter"))
                .map(|s| s.replace("\\t", "\t"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ",".into()),
            quote: ch("quote", '"'),
            escape: ch("escape", '\\'),
            // Spark trims when reading only when asked; its writer trims by default.
            trim_leading: options.flag("ignoreleadingwhitespace", !reading),
            trim_trailing: options.flag("ignoretrailingwhitespace", !reading),
            null_value: options.get("nullvalue").unwrap_or("").to_string(),
        }
    }

    /// The fields of one line (`None`: the null value).
    fn split(&self, line: &str) -> Vec<Option<String>> {
        let chars: Vec<char> = line.chars().collect();
        let sep: Vec<char> = self.sep.chars().collect();
        let mut fields = vec![];
        let mut i = 0;
        loop {
            let mut field = String::new();
            let mut quoted = false;
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() && chars[j] != self.quote {
                j += 1;
            }
            if chars.get(j) == Some(&self.quote) {
                quoted = true;
                i = j + 1;
                while i < chars.len() {
                    let c = chars[i];
                    // An escaped quote, or a doubled one, is one quote.
                    if (c == self.escape || c == self.quote)
                        && chars.get(i + 1) == Some(&self.quote)
                    {
                        field.push(self.quote);
                        i += 2;
                    } else if c == self.quote {
                        i += 1;
                        break;
                    } else {
                        field.push(c);
                        i += 1;
                    }
                }
                while i < chars.len() && !chars[i..].starts_with(&sep) {
                    i += 1;
                }
            } else {
                while i < chars.len() && !chars[i..].starts_with(&sep) {
                    field.push(chars[i]);
                    i += 1;
                }
            }
            if !quoted {
                if self.trim_leading {
                    field = field.trim_start().to_string();
                }
                if self.trim_trailing {
                    field = field.trim_end().to_string();
                }
            }
            fields.push((quoted || field != self.null_value).then_some(field));
            if i >= chars.len() {
                break;
            }
            i += sep.len();
        }
        fields
    }

    /// One field as the writer quotes it.
    fn quote_field(&self, v: &str) -> String {
        let needs = v.contains(self.sep.as_str())
            || v.contains(self.quote)
            || v.contains('\n')
            || v.contains('\r');
        if !needs {
            return v.to_string();
        }
        let escaped = v.replace(self.quote, &format!("{}{}", self.escape, self.quote));
        format!("{q}{escaped}{q}", q = self.quote)
    }
}

fn from_csv(call: &Call) -> Result<ArrayRef> {
    let options = call.options(2)?;
    let dialect = Dialect::new(&options, true);
    let DataType::Struct(fields) = call.return_type else {
        return exec_err!("`from_csv` answers a struct, not {}", call.return_type);
    };
    let records: Vec<Option<Value>> = call
        .strings(0)?
        .into_iter()
        .map(|line| {
            let line = line?;
            let tokens = dialect.split(&line);
            let mut o = Map::new();
            for (f, t) in fields.iter().zip(tokens) {
                if let Some(t) = t {
                    o.insert(f.name().clone(), Value::String(t));
                }
            }
            Some(Value::Object(o))
        })
        .collect();
    let refs: Vec<Option<&Value>> = records.iter().map(Option::as_ref).collect();
    to_arrow::to_array(&refs, call.return_type, Source::Text)
}

fn schema_of_csv(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let dialect = Dialect::new(&options, true);
    let mut out = StringBuilder::new();
    for line in call.strings(0)? {
        let Some(line) = line else {
            out.append_null();
            continue;
        };
        let fields: Vec<Field> = dialect
            .split(&line)
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("_c{i}"), infer(t.as_deref()), true))
            .collect();
        out.append_value(sql_type(&DataType::Struct(fields.into())));
    }
    Ok(Arc::new(out.finish()))
}

/// Spark's CSV inference of one field.
fn infer(field: Option<&str>) -> DataType {
    let Some(s) = field.map(str::trim).filter(|s| !s.is_empty()) else {
        return DataType::Utf8;
    };
    if s.parse::<i32>().is_ok() {
        DataType::Int32
    } else if s.parse::<i64>().is_ok() {
        DataType::Int64
    } else if s.parse::<f64>().is_ok()
        && !s.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E')
    {
        DataType::Float64
    } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        DataType::Boolean
    } else {
        DataType::Utf8
    }
}

fn to_csv(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let dialect = Dialect::new(&options, false);
    let value = &call.args[0];
    let DataType::Struct(_) = value.data_type() else {
        return exec_err!("`to_csv` takes a struct, not {}", value.data_type());
    };
    let style = crate::json::write::Style::new(call, &options)?;
    let s = value.as_struct();
    crate::json::write::texts(s, |row, out| {
        let mut parts = Vec::with_capacity(s.num_columns());
        for col in s.columns() {
            if col.is_null(row) {
                parts.push(dialect.null_value.clone());
                continue;
            }
            let text = crate::json::write::plain_text_styled(col.as_ref(), row, &style)?;
            parts.push(dialect.quote_field(&text));
        }
        out.push_str(&parts.join(&dialect.sep));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_infer_as_spark() {
        let d = Dialect::new(&Options::default(), true);
        assert_eq!(
            d.split(r#""1","a,b",,x"#),
            vec![Some("1".into()), Some("a,b".into()), None, Some("x".into())]
        );
        let types: Vec<String> = d
            .split("1,a,true,3000000000,1.5,")
            .iter()
            .map(|t| sql_type(&infer(t.as_deref())))
            .collect();
        assert_eq!(
            types,
            ["INT", "STRING", "BOOLEAN", "BIGINT", "DOUBLE", "STRING"]
        );
        assert_eq!(d.quote_field("[1, 2]"), "\"[1, 2]\"");
    }
}
