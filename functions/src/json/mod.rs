//! Spark's JSON functions: `from_json`, `to_json`, `schema_of_json`,
//! `get_json_object`, `json_array_length` and `json_object_keys`
//! (`json_tuple` is datafusion-spark's; Connect spreads its struct into
//! Spark's `c0, c1, ...` columns).
//!
//! Documents parse as strict JSON first; Spark's relaxed readings
//! (`allowSingleQuotes`, on by default, and `allowUnquotedFieldNames`) are
//! tried when that fails. A document that does not parse is, in Spark's
//! default `PERMISSIVE` mode, a struct of NULLs (NULL for other schemas);
//! `mode` `FAILFAST` makes it an error.

pub mod infer;
pub mod path;
pub mod to_arrow;
pub mod write;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use crate::ddl::{parse_ddl, sql_type};
pub use crate::doc_udf::Options;
use crate::doc_udf::{arity, literal_string, Call, DocUdf};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        DocUdf::udf("get_json_object", returns_string::<2, 2>, get_json_object),
        DocUdf::udf("json_array_length", returns_int, json_array_length),
        DocUdf::udf("json_object_keys", returns_keys, json_object_keys),
        DocUdf::udf("from_json", returns_schema, from_json),
        DocUdf::udf("to_json", returns_string::<1, 2>, to_json),
        DocUdf::udf("schema_of_json", returns_string::<1, 2>, schema_of_json),
    ]
}

fn returns_string<const MIN: usize, const MAX: usize>(
    name: &str,
    types: &[DataType],
    _: &[Option<&ScalarValue>],
) -> Result<DataType> {
    arity(name, types, MIN, MAX)?;
    Ok(DataType::Utf8)
}

fn returns_int(name: &str, types: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    arity(name, types, 1, 1)?;
    Ok(DataType::Int32)
}

fn returns_keys(name: &str, types: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    arity(name, types, 1, 1)?;
    Ok(DataType::new_list(DataType::Utf8, true))
}

/// The type a `from_*` function answers: its schema argument (a DDL string,
/// a type string or Spark's JSON of a type), every part nullable.
pub fn returns_schema(
    name: &str,
    types: &[DataType],
    literals: &[Option<&ScalarValue>],
) -> Result<DataType> {
    arity(name, types, 2, 3)?;
    let schema = literal_string(name, "schema", literals.get(1))?;
    let t = parse_ddl(&schema).map_err(|e| {
        datafusion::common::DataFusionError::Plan(format!("`{name}`'s schema `{schema}`: {e}"))
    })?;
    Ok(to_arrow::nullable(&t))
}

/// Parses a document as Spark's JSON reader does with `options`.
pub fn parse(text: &str, options: &Options) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let single = options.flag("allowsinglequotes", true);
    let unquoted = options.flag("allowunquotedfieldnames", false);
    if !single && !unquoted {
        return None;
    }
    serde_json::from_str(&relax(text, single, unquoted)?).ok()
}

/// `text` with single-quoted strings double-quoted and bare field names
/// quoted, where the options allow them; `None` when nothing changes.
fn relax(text: &str, single: bool, unquoted: bool) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || (c == '\'' && single) {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    s.push(chars[i]);
                    i += 1;
                } else if chars[i] == '"' {
                    s.push('\\');
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            changed |= c == '\'';
            out.push('"');
            out.push_str(&s);
            out.push('"');
            continue;
        }
        if unquoted && (c.is_alphabetic() || c == '_' || c == '$') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let rest = chars[i..].iter().find(|c| !c.is_whitespace());
            if rest == Some(&':') && !matches!(word.as_str(), "true" | "false" | "null") {
                out.push('"');
                out.push_str(&word);
                out.push('"');
                changed = true;
            } else {
                out.push_str(&word);
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

fn get_json_object(call: &Call) -> Result<ArrayRef> {
    let docs = call.strings(0)?;
    let paths = call.strings(1)?;
    let none = Options::default();
    let out: StringArray = docs
        .iter()
        .zip(&paths)
        .map(|(d, p)| {
            let steps = path::parse(p.as_deref()?)?;
            path::get_json_object(&parse(d.as_deref()?, &none)?, &steps)
        })
        .collect();
    Ok(Arc::new(out))
}

fn json_array_length(call: &Call) -> Result<ArrayRef> {
    let out: Int32Array = call
        .strings(0)?
        .iter()
        .map(|d| match serde_json::from_str::<Value>(d.as_deref()?) {
            Ok(Value::Array(a)) => i32::try_from(a.len()).ok(),
            _ => None,
        })
        .collect();
    Ok(Arc::new(out))
}

fn json_object_keys(call: &Call) -> Result<ArrayRef> {
    let mut out = ListBuilder::new(StringBuilder::new());
    for d in call.strings(0)? {
        // Spark's reader allows single quotes here too.
        let keys = d.as_deref().and_then(|t| {
            object_keys(t).or_else(|| relax(t, true, false).as_deref().and_then(object_keys))
        });
        match keys {
            Some(keys) => {
                for k in keys {
                    out.values().append_value(k);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The top-level keys of a JSON object in document order (serde_json's
/// maps sort them), or `None` for anything else or invalid JSON.
fn object_keys(text: &str) -> Option<Vec<String>> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys = vec![];
            while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(k);
            }
            Ok(Some(keys))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let keys = (&mut de).deserialize_any(Keys).ok()?;
    de.end().ok()?;
    keys
}

fn from_json(call: &Call) -> Result<ArrayRef> {
    let docs = call.strings(0)?;
    let options = call.options(2)?;
    options.check_datetime_patterns()?;
    let fail_fast = options
        .get("mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("failfast"));
    let is_struct = matches!(call.return_type, DataType::Struct(_));
    let empty = Value::Object(Default::default());
    let mut parsed = Vec::with_capacity(docs.len());
    for d in &docs {
        parsed.push(match d {
            None => None,
            Some(text) => match parse(text, &options) {
                // A struct schema reads an object; other documents a
                // struct of NULLs, as Spark.
                Some(v) if is_struct && !v.is_object() => Some(empty.clone()),
                Some(v) => Some(v),
                None if fail_fast => {
                    return exec_err!(
                        "[MALFORMED_RECORD_IN_PARSING] Malformed records are detected in record parsing: {text}. Parse Mode: FAILFAST."
                    )
                }
                // PERMISSIVE: a struct of NULLs.
                None if is_struct => Some(empty.clone()),
                None => None,
            },
        });
    }
    let refs: Vec<Option<&Value>> = parsed.iter().map(Option::as_ref).collect();
    to_arrow::to_array(&refs, call.return_type, to_arrow::Source::Json)
}

fn to_json(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let style = write::Style::new(call, &options)?;
    let value = call.args[0].as_ref();
    write::texts(value, |row, s| write::write(value, row, &style, s))
}

fn schema_of_json(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let mut out = StringBuilder::new();
    for d in call.strings(0)? {
        match d {
            None => out.append_null(),
            Some(text) => match parse(&text, &options) {
                Some(v) => out.append_value(sql_type(&infer::infer(&v))),
                None => {
                    return exec_err!(
                    "`schema_of_json`: the input is not JSON Spark can infer a schema from: {text}"
                )
                }
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_json_reads_as_spark() {
        let unquoted = Options::default();
        assert!(parse("{a:123}", &unquoted).is_none());
        assert_eq!(
            relax("{a: 'x', \"b\": true}", true, true).as_deref(),
            Some(r#"{"a": "x", "b": true}"#)
        );
        assert_eq!(
            parse("{'a': 1}", &unquoted),
            Some(serde_json::json!({"a": 1}))
        );
    }

    #[test]
    fn object_keys_keep_document_order() {
        assert_eq!(
            object_keys(r#"{"b":1,"a":{"c":2}}"#),
            Some(vec!["b".into(), "a".into()])
        );
        assert_eq!(object_keys("{}"), Some(vec![]));
        assert_eq!(object_keys("[1]"), None);
        assert_eq!(object_keys("{"), None);
    }
}
