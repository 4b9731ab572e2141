//! Parsed documents (JSON values, and CSV and XML read into the same tree)
//! as Arrow arrays of a schema's type, the way Spark's parsers fill a
//! schema: a field whose value does not fit its type is NULL, a field the
//! document lacks is NULL, and a string field takes any other value as its
//! JSON text.

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BooleanArray, ListArray, MapArray, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use serde_json::Value;

/// Where the values come from, which decides how text converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// JSON: numbers and booleans are typed; a string fills only string,
    /// date and timestamp fields.
    Json,
    /// CSV and XML: every value is text and converts to the field's type;
    /// in XML one element fills an array field as a one-element array.
    Text,
}

/// `t` with every field, element and map value nullable, as the types
/// Spark's `from_json`/`from_csv`/`from_xml` answer are.
pub fn nullable(t: &DataType) -> DataType {
    match t {
        DataType::Struct(fields) => DataType::Struct(nullable_fields(fields)),
        DataType::List(f) => DataType::List(Arc::new(Field::new(
            f.name(),
            nullable(f.data_type()),
            true,
        ))),
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let kv = Fields::from(vec![
                    Field::new(kv[0].name(), kv[0].data_type().clone(), false),
                    Field::new(kv[1].name(), nullable(kv[1].data_type()), true),
                ]);
                DataType::Map(
                    Arc::new(Field::new(entries.name(), DataType::Struct(kv), false)),
                    *sorted,
                )
            }
            _ => t.clone(),
        },
        other => other.clone(),
    }
}

fn nullable_fields(fields: &Fields) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(f.name(), nullable(f.data_type()), true))
        .collect()
}

/// The values as one array of `t` (a type [`nullable`] made).
pub fn to_array(values: &[Option<&Value>], t: &DataType, source: Source) -> Result<ArrayRef> {
    Ok(match t {
        DataType::Null => new_null_array(t, values.len()),
        DataType::Utf8 => Arc::new(
            values
                .iter()
                .map(|v| v.and_then(text_of))
                .collect::<StringArray>(),
        ),
        DataType::Boolean => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Some(Value::Bool(b)) => Some(*b),
                    Some(Value::String(s)) if source == Source::Text => {
                        match s.trim().to_ascii_lowercase().as_str() {
                            "true" => Some(true),
                            "false" => Some(false),
                            _ => None,
                        }
                    }
                    _ => None,
                })
                .collect::<BooleanArray>(),
        ),
        DataType::Struct(fields) => {
            let mut children = Vec::with_capacity(fields.len());
            for f in fields.iter() {
                let child: Vec<Option<&Value>> = values
                    .iter()
                    .map(|v| match v {
                        Some(Value::Object(o)) => o.get(f.name()),
                        _ => None,
                    })
                    .collect();
                children.push(to_array(&child, f.data_type(), source)?);
            }
            let nulls = NullBuffer::from(
                values
                    .iter()
                    .map(|v| matches!(v, Some(Value::Object(_))))
                    .collect::<Vec<_>>(),
            );
            if fields.is_empty() {
                Arc::new(StructArray::new_empty_fields(values.len(), Some(nulls)))
            } else {
                Arc::new(StructArray::try_new(fields.clone(), children, Some(nulls))?)
            }
        }
        DataType::List(f) => {
            let mut items: Vec<Option<&Value>> = vec![];
            let mut lengths = Vec::with_capacity(values.len());
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Some(Value::Array(a)) => {
                        items.extend(a.iter().map(Some));
                        lengths.push(a.len());
                        valid.push(true);
                    }
                    Some(Value::Null) | None => {
                        lengths.push(0);
                        valid.push(false);
                    }
                    Some(one) if source == Source::Text => {
                        items.push(Some(one));
                        lengths.push(1);
                        valid.push(true);
                    }
                    Some(_) => {
                        lengths.push(0);
                        valid.push(false);
                    }
                }
            }
            let child = to_array(&items, f.data_type(), source)?;
            Arc::new(ListArray::try_new(
                f.clone(),
                OffsetBuffer::from_lengths(lengths),
                child,
                Some(NullBuffer::from(valid)),
            )?)
        }
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return Ok(new_null_array(t, values.len()));
            };
            let mut keys: Vec<Option<Value>> = vec![];
            let mut vals: Vec<Option<&Value>> = vec![];
            let mut lengths = Vec::with_capacity(values.len());
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                if let Some(Value::Object(o)) = v {
                    for (k, val) in o {
                        keys.push(Some(Value::String(k.clone())));
                        vals.push(Some(val));
                    }
                    lengths.push(o.len());
                    valid.push(true);
                } else {
                    lengths.push(0);
                    valid.push(false);
                }
            }
            let key_refs: Vec<Option<&Value>> = keys.iter().map(Option::as_ref).collect();
            let k = to_array(&key_refs, kv[0].data_type(), Source::Text)?;
            let val = to_array(&vals, kv[1].data_type(), source)?;
            let entries_array = StructArray::try_new(kv.clone(), vec![k, val], None)?;
            Arc::new(MapArray::try_new(
                entries.clone(),
                OffsetBuffer::from_lengths(lengths),
                entries_array,
                Some(NullBuffer::from(valid)),
                *sorted,
            )?)
        }
        // Numbers, decimals, dates and timestamps: through their text, with
        // Arrow's cast (a value that does not convert is NULL).
        other => {
            let text: StringArray = values
                .iter()
                .map(|v| match v {
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::String(s))
                        if source == Source::Text
                            || matches!(
                                other,
                                DataType::Date32 | DataType::Timestamp(..) | DataType::Binary
                            ) =>
                    {
                        Some(s.trim().to_string())
                    }
                    _ => None,
                })
                .collect();
            let safe = CastOptions {
                safe: true,
                ..Default::default()
            };
            cast_with_options(&text, other, &safe)?
        }
    })
}

/// A value as a string field holds it: a string as itself, anything else
/// as its JSON text.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::parse_ddl;
    use arrow::array::Array;

    #[test]
    fn documents_fill_the_schema() {
        let t = nullable(&parse_ddl("a INT, b array<string>, m map<string, bigint>").unwrap());
        let docs: Vec<Value> = [
            r#"{"a": 1, "b": ["x", 2], "m": {"k": 7}}"#,
            r#"{"a": "no", "c": 1}"#,
            "[1]",
        ]
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
        let refs: Vec<Option<&Value>> = docs.iter().map(Some).chain([None]).collect();
        let a = to_array(&refs, &t, Source::Json).unwrap();
        let s = a.as_any().downcast_ref::<StructArray>().unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.is_valid(0) && s.is_valid(1) && s.is_null(2) && s.is_null(3));
        let a0 = arrow::array::cast::as_primitive_array::<arrow::datatypes::Int32Type>(
            s.column(0).as_ref(),
        );
        assert_eq!(a0.value(0), 1);
        assert!(a0.is_null(1), "a string is not an INT in JSON");
        let b = arrow::array::cast::as_list_array(s.column(1).as_ref());
        let items = arrow::array::cast::as_string_array(b.values().as_ref());
        assert_eq!((items.value(0), items.value(1)), ("x", "2"));
    }
}
