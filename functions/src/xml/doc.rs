//! `from_xml`, `schema_of_xml` and `to_xml`: one XML record per row, read
//! as Spark's XML reader reads a row element. The row element's attributes
//! are fields `_name` (`attributePrefix`, unless `excludeAttribute`), its
//! child elements fields of their names (repeated ones arrays), and the
//! text beside child elements or attributes the field `_VALUE`
//! (`valueTag`). Values are text and convert to the schema's types;
//! `schema_of_xml` infers BIGINT, DOUBLE, BOOLEAN or STRING for them, with
//! struct fields in name order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use serde_json::{Map, Value};
use sxd_document::dom::{ChildOfElement, ChildOfRoot, Element};

use crate::ddl::sql_type;
use crate::doc_udf::{arity, Call, DocUdf, Options};
use crate::json::to_arrow::{self, Source};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        DocUdf::udf("from_xml", crate::json::returns_schema, from_xml),
        DocUdf::udf("schema_of_xml", returns_string, schema_of_xml),
        DocUdf::udf("to_xml", returns_string, to_xml),
    ]
}

fn returns_string(name: &str, types: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    arity(name, types, 1, 2)?;
    Ok(DataType::Utf8)
}

/// How the reader names attributes and text.
struct Names {
    attribute_prefix: String,
    value_tag: String,
    exclude_attributes: bool,
}

impl Names {
    fn new(options: &Options) -> Self {
        Names {
            attribute_prefix: options.get("attributeprefix").unwrap_or("_").to_string(),
            value_tag: options.get("valuetag").unwrap_or("_VALUE").to_string(),
            exclude_attributes: options.flag("excludeattribute", false),
        }
    }
}

/// The record of one document: its root element as a value tree.
fn record(text: &str, names: &Names) -> std::result::Result<Value, String> {
    let package = sxd_document::parser::parse(text).map_err(|e| e.to_string())?;
    let doc = package.as_document();
    let root = doc
        .root()
        .children()
        .into_iter()
        .find_map(|c| match c {
            ChildOfRoot::Element(e) => Some(e),
            _ => None,
        })
        .ok_or_else(|| "no element".to_string())?;
    Ok(element(root, names))
}

fn element(e: Element, names: &Names) -> Value {
    let mut fields = Map::new();
    if !names.exclude_attributes {
        for a in e.attributes() {
            let key = format!("{}{}", names.attribute_prefix, a.name().local_part());
            fields.insert(key, Value::String(a.value().to_string()));
        }
    }
    let mut text = String::new();
    let mut has_children = false;
    for c in e.children() {
        match c {
            ChildOfElement::Element(child) => {
                has_children = true;
                let v = element(child, names);
                let name = child.name().local_part().to_string();
                match fields.get_mut(&name) {
                    Some(Value::Array(items)) => items.push(v),
                    Some(one) => {
                        let first = one.take();
                        *one = Value::Array(vec![first, v]);
                    }
                    None => {
                        fields.insert(name, v);
                    }
                }
            }
            ChildOfElement::Text(t) => text.push_str(t.text()),
            _ => {}
        }
    }
    let text = text.trim();
    if fields.is_empty() && !has_children {
        return if text.is_empty() {
            Value::Null
        } else {
            Value::String(text.to_string())
        };
    }
    if !text.is_empty() {
        fields.insert(names.value_tag.clone(), Value::String(text.to_string()));
    }
    Value::Object(fields)
}

fn from_xml(call: &Call) -> Result<ArrayRef> {
    let options = call.options(2)?;
    let names = Names::new(&options);
    let fail_fast = options
        .get("mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("failfast"));
    let mut parsed = vec![];
    for d in call.strings(0)? {
        parsed.push(match d {
            None => None,
            Some(text) => match record(&text, &names) {
                // A row element with only text is a record without fields.
                Ok(Value::Object(o)) => Some(Value::Object(o)),
                Ok(_) => Some(Value::Object(Map::new())),
                Err(e) if fail_fast => {
                    return exec_err!(
                        "[MALFORMED_RECORD_IN_PARSING] Malformed records are detected in record parsing: {text} ({e}). Parse Mode: FAILFAST."
                    )
                }
                Err(_) => Some(Value::Object(Map::new())),
            },
        });
    }
    let refs: Vec<Option<&Value>> = parsed.iter().map(Option::as_ref).collect();
    to_arrow::to_array(&refs, call.return_type, Source::Text)
}

fn schema_of_xml(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let names = Names::new(&options);
    let mut out = StringBuilder::new();
    for d in call.strings(0)? {
        match d {
            None => out.append_null(),
            Some(text) => match record(&text, &names) {
                Ok(v) => {
                    let t = match infer(&v) {
                        t @ DataType::Struct(_) => t,
                        _ => DataType::Struct(Default::default()),
                    };
                    out.append_value(sql_type(&t));
                }
                Err(e) => return exec_err!("`schema_of_xml`: not an XML document '{text}': {e}"),
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The type Spark's XML reader infers for a value tree.
fn infer(v: &Value) -> DataType {
    match v {
        Value::Null => DataType::Utf8,
        Value::String(s) => infer_text(s),
        Value::Array(items) => DataType::new_list(
            items
                .iter()
                .map(infer)
                .reduce(|a, b| crate::json::infer::merge(&a, &b))
                .unwrap_or(DataType::Utf8),
            true,
        ),
        Value::Object(o) => DataType::Struct(
            o.iter()
                .map(|(k, v)| Field::new(k, infer(v), true))
                .collect::<Vec<_>>()
                .into(),
        ),
        Value::Bool(_) => DataType::Boolean,
        Value::Number(_) => DataType::Float64,
    }
}

fn infer_text(s: &str) -> DataType {
    let s = s.trim();
    if s.parse::<i64>().is_ok() {
        DataType::Int64
    } else if s.parse::<f64>().is_ok() && !s.chars().any(char::is_alphabetic) {
        DataType::Float64
    } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        DataType::Boolean
    } else {
        DataType::Utf8
    }
}

fn to_xml(call: &Call) -> Result<ArrayRef> {
    let options = call.options(1)?;
    let row_tag = options.get("rowtag").unwrap_or("ROW").to_string();
    let names = Names::new(&options);
    let value = &call.args[0];
    let DataType::Struct(_) = value.data_type() else {
        return exec_err!("`to_xml` takes a struct, not {}", value.data_type());
    };
    let style = crate::json::write::Style::new(call, &options)?;
    crate::json::write::texts(value.as_ref(), |row, s| {
        write_element(&row_tag, value.as_ref(), row, 0, &names, &style, s)
    })
}

/// Writes `<tag>` for row `row` of `array` at `depth`, four spaces an
/// indent as Spark's writer does.
fn write_element(
    tag: &str,
    array: &dyn Array,
    row: usize,
    depth: usize,
    names: &Names,
    style: &crate::json::write::Style,
    out: &mut String,
) -> Result<()> {
    let indent = "    ".repeat(depth);
    match array.data_type() {
        DataType::Struct(fields) => {
            let s = array.as_struct();
            out.push_str(&format!("{indent}<{tag}"));
            for (f, col) in fields.iter().zip(s.columns()) {
                if let Some(attr) = f.name().strip_prefix(names.attribute_prefix.as_str()) {
                    if !attr.is_empty() && f.name() != &names.value_tag && col.is_valid(row) {
                        let v = crate::json::write::plain_text_styled(col.as_ref(), row, style)?;
                        out.push_str(&format!(" {attr}=\"{}\"", escape(&v)));
                    }
                }
            }
            out.push('>');
            let mut wrote_child = false;
            for (f, col) in fields.iter().zip(s.columns()) {
                if col.is_null(row) {
                    continue;
                }
                if f.name() == &names.value_tag {
                    let v = crate::json::write::plain_text_styled(col.as_ref(), row, style)?;
                    out.push_str(&escape(&v));
                    continue;
                }
                if f.name().starts_with(names.attribute_prefix.as_str()) {
                    continue;
                }
                out.push('\n');
                wrote_child = true;
                write_element(f.name(), col.as_ref(), row, depth + 1, names, style, out)?;
            }
            if wrote_child {
                out.push('\n');
                out.push_str(&indent);
            }
            out.push_str(&format!("</{tag}>"));
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            let mut first = true;
            for i in 0..items.len() {
                if items.is_null(i) {
                    continue;
                }
                if !first {
                    out.push('\n');
                }
                first = false;
                write_element(tag, items.as_ref(), i, depth, names, style, out)?;
            }
        }
        _ => {
            let v = crate::json::write::plain_text_styled(array, row, style)?;
            out.push_str(&format!("{indent}<{tag}>{}</{tag}>", escape(&v)));
        }
    }
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(xml: &str, exclude: bool) -> String {
        let names = Names {
            attribute_prefix: "_".into(),
            value_tag: "_VALUE".into(),
            exclude_attributes: exclude,
        };
        sql_type(&infer(&record(xml, &names).unwrap()))
    }

    #[test]
    fn records_infer_as_spark() {
        assert_eq!(schema("<p><a>1</a></p>", false), "STRUCT<a: BIGINT>");
        assert_eq!(
            schema("<p><a>1</a><a>2</a></p>", false),
            "STRUCT<a: ARRAY<BIGINT>>"
        );
        assert_eq!(
            schema(r#"<p><a attr="2">1</a></p>"#, true),
            "STRUCT<a: BIGINT>"
        );
        assert_eq!(
            schema(r#"<p><a attr="2">1</a></p>"#, false),
            "STRUCT<a: STRUCT<_VALUE: BIGINT, _attr: BIGINT>>"
        );
        assert_eq!(
            schema(
                "<root><person><name>Alice</name><age>30</age></person></root>",
                false
            ),
            "STRUCT<person: STRUCT<age: BIGINT, name: STRING>>"
        );
    }
}
