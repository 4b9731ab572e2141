//! Spark's XML functions: the `xpath` family (XPath 1.0 over one document
//! per row, as Spark's Java XPath evaluates it) and `from_xml`, `to_xml`,
//! `schema_of_xml` ([`doc`]).
//!
//! The `xpath_*` answers follow XPath's conversions: `xpath_boolean` is
//! `boolean()`, `xpath_string` `string()` (the first node's text), the
//! number forms `number()` cast as Java casts a double (NaN is 0 for the
//! integers), and `xpath` the text of every node in document order. A NULL
//! or empty document gives NULL; a document that is not XML is an error.

pub mod doc;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    ListBuilder, StringArray, StringBuilder,
};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use sxd_xpath::{Context, Factory, Value, XPath};

use crate::doc_udf::{arity, Call, DocUdf};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut out = vec![
        DocUdf::udf("xpath", returns, xpath),
        DocUdf::udf("xpath_boolean", returns, xpath_boolean),
        DocUdf::udf("xpath_string", returns, xpath_string),
        DocUdf::udf("xpath_double", returns, xpath_double),
        DocUdf::udf("xpath_number", returns, xpath_double),
        DocUdf::udf("xpath_float", returns, xpath_float),
        DocUdf::udf("xpath_int", returns, xpath_int),
        DocUdf::udf("xpath_long", returns, xpath_long),
        DocUdf::udf("xpath_short", returns, xpath_short),
    ];
    out.extend(doc::functions());
    out
}

fn returns(name: &str, types: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    arity(name, types, 2, 2)?;
    Ok(match name {
        "xpath" => DataType::new_list(DataType::Utf8, true),
        "xpath_boolean" => DataType::Boolean,
        "xpath_string" => DataType::Utf8,
        "xpath_float" => DataType::Float32,
        "xpath_int" => DataType::Int32,
        "xpath_long" => DataType::Int64,
        "xpath_short" => DataType::Int16,
        _ => DataType::Float64,
    })
}

/// Evaluates each row's path over its document and maps the XPath value
/// with `f`; NULL where the document or path is NULL or the document empty.
fn each<T>(call: &Call, f: impl Fn(&Value) -> T) -> Result<Vec<Option<T>>> {
    let docs = call.strings(0)?;
    let paths = call.strings(1)?;
    let factory = Factory::new();
    let mut compiled: Option<(String, XPath)> = None;
    let mut out = Vec::with_capacity(docs.len());
    for (d, p) in docs.iter().zip(&paths) {
        let (Some(d), Some(p)) = (d, p) else {
            out.push(None);
            continue;
        };
        if d.is_empty() {
            out.push(None);
            continue;
        }
        if compiled.as_ref().is_none_or(|(text, _)| text != p) {
            let xp = match factory.build(p) {
                Ok(Some(xp)) => xp,
                Ok(None) => return exec_err!("`{}`: the path is empty", call.name),
                Err(e) => return exec_err!("`{}`: invalid XPath '{p}': {e}", call.name),
            };
            compiled = Some((p.clone(), xp));
        }
        let Some((_, xp)) = &compiled else {
            return exec_err!("`{}`: no compiled path", call.name);
        };
        let package = match sxd_document::parser::parse(d) {
            Ok(p) => p,
            Err(e) => return exec_err!("`{}`: invalid XML document '{d}': {e}", call.name),
        };
        let document = package.as_document();
        let value = xp.evaluate(&Context::new(), document.root()).map_err(|e| {
            datafusion::common::DataFusionError::Execution(format!(
                "`{}`: cannot evaluate '{p}': {e}",
                call.name
            ))
        })?;
        out.push(Some(f(&value)));
    }
    Ok(out)
}

fn xpath(call: &Call) -> Result<ArrayRef> {
    let rows = each(call, |v| match v {
        Value::Nodeset(nodes) => nodes
            .document_order()
            .iter()
            .map(|n| n.string_value())
            .collect(),
        other => vec![other.string()],
    })?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in rows {
        match r {
            Some(items) => {
                for s in items {
                    out.values().append_value(s);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn xpath_boolean(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(BooleanArray::from(each(call, |v| v.boolean())?)))
}

fn xpath_string(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(each(call, |v| v.string())?)))
}

fn xpath_double(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(Float64Array::from(each(call, |v| v.number())?)))
}

fn xpath_float(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(Float32Array::from(each(call, |v| {
        v.number() as f32
    })?)))
}

// Rust's float-to-integer `as` saturates and maps NaN to 0, as Java's
// narrowing of a double does (Spark then narrows int to short as Java does).
fn xpath_int(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(Int32Array::from(each(call, |v| {
        v.number() as i32
    })?)))
}

fn xpath_long(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(Int64Array::from(each(call, |v| {
        v.number() as i64
    })?)))
}

fn xpath_short(call: &Call) -> Result<ArrayRef> {
    Ok(Arc::new(Int16Array::from(each(call, |v| {
        v.number() as i32 as i16
    })?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::config::ConfigOptions;

    fn run(f: fn(&Call) -> Result<ArrayRef>, t: DataType, doc: &str, path: &str) -> ArrayRef {
        let args: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some(doc), None])),
            Arc::new(StringArray::from(vec![path, path])),
        ];
        let config = ConfigOptions::default();
        f(&Call {
            name: "xpath",
            args: &args,
            return_type: &t,
            config: &config,
        })
        .unwrap()
    }

    #[test]
    fn xpath_values_convert_as_xpath_1() {
        use arrow::array::{Array, AsArray};
        let doc = "<a><b>1</b><b>2</b><c>cc</c></a>";
        let sum = run(xpath_int, DataType::Int32, doc, "sum(a/b)");
        assert_eq!(
            sum.as_primitive::<arrow::datatypes::Int32Type>().value(0),
            3
        );
        assert!(sum.is_null(1));
        let nan = run(xpath_int, DataType::Int32, doc, "a/c");
        assert_eq!(
            nan.as_primitive::<arrow::datatypes::Int32Type>().value(0),
            0
        );
        let s = run(xpath_string, DataType::Utf8, doc, "a/c");
        assert_eq!(s.as_string::<i32>().value(0), "cc");
        let list = run(
            xpath,
            DataType::new_list(DataType::Utf8, true),
            doc,
            "a/b/text()",
        );
        let items = list.as_list::<i32>().value(0);
        assert_eq!(
            items
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
    }
}
