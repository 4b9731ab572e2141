//! Spark's schema inference for JSON (`schema_of_json`): integers are
//! BIGINT (DECIMAL(20,0) past it), other numbers DOUBLE, objects STRUCTs of
//! their fields in name order, arrays of the merge of their elements, and
//! what stays unknown (NULLs, empty arrays) STRING.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use serde_json::Value;

/// The type Spark infers for one JSON document.
pub fn infer(v: &Value) -> DataType {
    settle(&shape(v))
}

fn shape(v: &Value) -> DataType {
    match v {
        Value::Null => DataType::Null,
        Value::Bool(_) => DataType::Boolean,
        Value::Number(n) if n.is_i64() => DataType::Int64,
        Value::Number(n) if n.is_u64() => DataType::Decimal128(20, 0),
        Value::Number(_) => DataType::Float64,
        Value::String(_) => DataType::Utf8,
        Value::Array(items) => {
            let elem = items
                .iter()
                .map(shape)
                .reduce(|a, b| merge(&a, &b))
                .unwrap_or(DataType::Null);
            list(elem)
        }
        Value::Object(o) => {
            // serde_json's map iterates in key order, Spark's field order.
            let fields: Vec<Field> = o
                .iter()
                .map(|(k, v)| Field::new(k, shape(v), true))
                .collect();
            DataType::Struct(fields.into())
        }
    }
}

fn list(elem: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", elem, true)))
}

/// The type two documents' types merge to, as Spark widens them.
pub fn merge(a: &DataType, b: &DataType) -> DataType {
    use DataType as T;
    match (a, b) {
        (x, y) if x == y => x.clone(),
        (T::Null, x) | (x, T::Null) => x.clone(),
        (T::Int64, T::Float64) | (T::Float64, T::Int64) => T::Float64,
        (T::Decimal128(..), T::Int64) | (T::Int64, T::Decimal128(..)) => T::Decimal128(20, 0),
        (T::Decimal128(..), T::Float64) | (T::Float64, T::Decimal128(..)) => T::Float64,
        (T::List(x), T::List(y)) => list(merge(x.data_type(), y.data_type())),
        (T::Struct(x), T::Struct(y)) => {
            let mut fields: BTreeMap<String, DataType> = BTreeMap::new();
            for f in x.iter().chain(y.iter()) {
                let t = match fields.get(f.name()) {
                    Some(old) => merge(old, f.data_type()),
                    None => f.data_type().clone(),
                };
                fields.insert(f.name().clone(), t);
            }
            T::Struct(
                fields
                    .into_iter()
                    .map(|(k, t)| Field::new(k, t, true))
                    .collect::<Vec<_>>()
                    .into(),
            )
        }
        _ => T::Utf8,
    }
}

/// Unknown types (only NULLs seen) as STRING.
fn settle(t: &DataType) -> DataType {
    match t {
        DataType::Null => DataType::Utf8,
        DataType::List(f) => list(settle(f.data_type())),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), settle(f.data_type()), true))
                .collect::<Vec<_>>()
                .into(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::sql_type;

    #[test]
    fn documents_infer_as_spark() {
        let t = |s: &str| sql_type(&infer(&serde_json::from_str(s).unwrap()));
        assert_eq!(t(r#"{"a": 0}"#), "STRUCT<a: BIGINT>");
        assert_eq!(
            t(r#"{"b": [1, 2.5], "a": null, "c": {"x": true}}"#),
            "STRUCT<a: STRING, b: ARRAY<DOUBLE>, c: STRUCT<x: BOOLEAN>>"
        );
        assert_eq!(
            t(r#"[{"a": 1}, {"b": "x"}]"#),
            "ARRAY<STRUCT<a: BIGINT, b: STRING>>"
        );
    }
}
