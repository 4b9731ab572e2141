//! Spark data types and Arrow types, both ways: schemas sent to the client,
//! types in casts and in `schema` options (DDL strings like `a INT, b
//! STRING` or Spark's JSON), and Arrow result columns cast to the types the
//! PySpark client reads (Spark has no unsigned integers or view types).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;

use kiln_functions::ddl::{self, map_type, DdlError};

use crate::error::{ConnectError, Result};
use crate::proto::data_type::{self as dt, Kind};
use crate::proto::DataType as SparkType;

fn kind(k: Kind) -> SparkType {
    SparkType { kind: Some(k) }
}

/// The Spark type of an Arrow type, as the client expects it in schemas.
pub fn to_spark(t: &DataType) -> SparkType {
    use DataType as A;
    match t {
        A::Null => kind(Kind::Null(dt::Null::default())),
        A::Boolean => kind(Kind::Boolean(dt::Boolean::default())),
        A::Int8 => kind(Kind::Byte(dt::Byte::default())),
        A::Int16 | A::UInt8 => kind(Kind::Short(dt::Short::default())),
        A::Int32 | A::UInt16 => kind(Kind::Integer(dt::Integer::default())),
        A::Int64 | A::UInt32 | A::UInt64 => kind(Kind::Long(dt::Long::default())),
        A::Float16 | A::Float32 => kind(Kind::Float(dt::Float::default())),
        A::Float64 => kind(Kind::Double(dt::Double::default())),
        A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) => {
            kind(Kind::Decimal(dt::Decimal {
                precision: Some(i32::from(*p)),
                scale: Some(i32::from(*s)),
                type_variation_reference: 0,
            }))
        }
        A::Decimal256(p, s) => kind(Kind::Decimal(dt::Decimal {
            precision: Some(i32::from(*p).min(38)),
            scale: Some(i32::from(*s)),
            type_variation_reference: 0,
        })),
        A::Utf8 | A::LargeUtf8 | A::Utf8View => kind(Kind::String(dt::String::default())),
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => {
            kind(Kind::Binary(dt::Binary::default()))
        }
        A::Date32 | A::Date64 => kind(Kind::Date(dt::Date::default())),
        A::Timestamp(_, Some(_)) => kind(Kind::Timestamp(dt::Timestamp::default())),
        A::Timestamp(_, None) => kind(Kind::TimestampNtz(dt::TimestampNtz::default())),
        A::Interval(_) | A::Duration(_) => {
            kind(Kind::DayTimeInterval(dt::DayTimeInterval::default()))
        }
        A::List(f) | A::LargeList(f) | A::ListView(f) | A::FixedSizeList(f, _) => {
            kind(Kind::Array(Box::new(dt::Array {
                element_type: Some(Box::new(to_spark(f.data_type()))),
                contains_null: f.is_nullable(),
                type_variation_reference: 0,
            })))
        }
        A::Struct(fields) => kind(Kind::Struct(struct_of(fields))),
        A::Map(entries, _) => match entries.data_type() {
            A::Struct(kv) if kv.len() == 2 => kind(Kind::Map(Box::new(dt::Map {
                key_type: Some(Box::new(to_spark(kv[0].data_type()))),
                value_type: Some(Box::new(to_spark(kv[1].data_type()))),
                value_contains_null: kv[1].is_nullable(),
                type_variation_reference: 0,
            }))),
            _ => kind(Kind::String(dt::String::default())),
        },
        A::Dictionary(_, v) => to_spark(v),
        _ => kind(Kind::String(dt::String::default())),
    }
}

fn struct_of(fields: &Fields) -> dt::Struct {
    dt::Struct {
        fields: fields
            .iter()
            .map(|f| dt::StructField {
                name: f.name().clone(),
                data_type: Some(to_spark(f.data_type())),
                nullable: f.is_nullable(),
                metadata: f.metadata().get(SPARK_METADATA).cloned(),
            })
            .collect(),
        type_variation_reference: 0,
    }
}

/// The Spark struct type of an Arrow schema.
pub fn schema_to_spark(schema: &Schema) -> SparkType {
    kind(Kind::Struct(struct_of(schema.fields())))
}

/// The Arrow type of a Spark type.
pub fn from_spark(t: &SparkType) -> Result<DataType> {
    let Some(k) = &t.kind else {
        return Err(ConnectError::IllegalArgument(
            "a data type without a kind".into(),
        ));
    };
    Ok(match k {
        Kind::Null(_) => DataType::Null,
        Kind::Binary(_) => DataType::Binary,
        Kind::Boolean(_) => DataType::Boolean,
        Kind::Byte(_) => DataType::Int8,
        Kind::Short(_) => DataType::Int16,
        Kind::Integer(_) => DataType::Int32,
        Kind::Long(_) => DataType::Int64,
        Kind::Float(_) => DataType::Float32,
        Kind::Double(_) => DataType::Float64,
        Kind::Decimal(d) => decimal(d.precision.unwrap_or(10), d.scale.unwrap_or(0))?,
        Kind::String(_) | Kind::Char(_) | Kind::VarChar(_) => DataType::Utf8,
        Kind::Date(_) => DataType::Date32,
        Kind::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::TimestampNtz(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        Kind::Array(a) => {
            let elem = a
                .element_type
                .as_deref()
                .map(from_spark)
                .transpose()?
                .unwrap_or(DataType::Null);
            DataType::List(Arc::new(Field::new("element", elem, a.contains_null)))
        }
        Kind::Struct(s) => DataType::Struct(
            s.fields
                .iter()
                .map(|f| {
                    let t = f
                        .data_type
                        .as_ref()
                        .map(from_spark)
                        .transpose()?
                        .unwrap_or(DataType::Null);
                    Ok(Field::new(&f.name, t, f.nullable))
                })
                .collect::<Result<Vec<_>>>()?
                .into(),
        ),
        Kind::Map(m) => {
            let key = m
                .key_type
                .as_deref()
                .map(from_spark)
                .transpose()?
                .unwrap_or(DataType::Utf8);
            let value = m
                .value_type
                .as_deref()
                .map(from_spark)
                .transpose()?
                .unwrap_or(DataType::Utf8);
            map_type(key, value, m.value_contains_null)
        }
        Kind::Unparsed(u) => parse_type(&u.data_type_string)?,
        other => {
            return Err(ConnectError::Unsupported(format!(
                "the data type {:?}",
                std::mem::discriminant(other)
            )))
        }
    })
}

impl From<DdlError> for ConnectError {
    fn from(e: DdlError) -> Self {
        match e {
            DdlError::Parse(m) => ConnectError::Parse(m),
            DdlError::OutOfRange(m) => ConnectError::IllegalArgument(m),
            DdlError::UnsupportedType { name, line, pos } => {
                ConnectError::unsupported_datatype(&name, line, pos)
            }
        }
    }
}

fn decimal(p: i32, s: i32) -> Result<DataType> {
    Ok(ddl::decimal(p, s)?)
}

/// Parses a Spark type string: `int`, `bigint`, `decimal(10,2)`,
/// `array<string>`, `map<string,int>`, `struct<a:int,b:string>`, or Spark's
/// JSON form of a type ([`kiln_functions::ddl::parse_type`]).
pub fn parse_type(s: &str) -> Result<DataType> {
    Ok(ddl::parse_type(s)?)
}

/// Parses a schema: a DDL list (`a INT, b STRING`), `struct<...>`, or
/// Spark's JSON schema.
pub fn parse_schema(s: &str) -> Result<SchemaRef> {
    match parse_ddl(s)? {
        DataType::Struct(fields) => Ok(Arc::new(Schema::new(fields))),
        // As Spark: a schema that is one type (`createDataFrame([1, 2],
        // "int")`) is a column named `value`.
        other => Ok(Arc::new(Schema::new(vec![Field::new(
            "value", other, true,
        )]))),
    }
}

/// Parses a DDL string the way Spark Connect's `DDLParse` does
/// ([`kiln_functions::ddl::parse_ddl`]).
pub fn parse_ddl(s: &str) -> Result<DataType> {
    Ok(ddl::parse_ddl(s)?)
}

/// The Arrow type the client reads for `t` (Spark has no unsigned, view or
/// large types, and its timestamps are microseconds).
pub fn client_type(t: &DataType) -> DataType {
    use DataType as A;
    match t {
        A::Utf8View | A::LargeUtf8 => A::Utf8,
        A::BinaryView | A::LargeBinary | A::FixedSizeBinary(_) => A::Binary,
        A::UInt8 => A::Int16,
        A::UInt16 => A::Int32,
        A::UInt32 | A::UInt64 => A::Int64,
        A::Float16 => A::Float32,
        A::Date64 => A::Date32,
        A::Decimal32(p, s) | A::Decimal64(p, s) => A::Decimal128(*p, *s),
        A::Decimal256(p, s) => A::Decimal128((*p).min(38), *s),
        A::Timestamp(_, tz) => A::Timestamp(TimeUnit::Microsecond, tz.clone()),
        A::Dictionary(_, v) => client_type(v),
        A::List(f) | A::LargeList(f) | A::ListView(f) | A::FixedSizeList(f, _) => {
            A::List(Arc::new(client_field(f)))
        }
        A::Struct(fs) => A::Struct(
            fs.iter()
                .map(|f| client_field(f))
                .collect::<Vec<_>>()
                .into(),
        ),
        A::Map(f, sorted) => A::Map(Arc::new(client_field(f)), *sorted),
        other => other.clone(),
    }
}

fn client_field(f: &Field) -> Field {
    // Duplicate result names carry a hidden suffix inside the engine.
    let name = kiln_core::spark_names::display_name(f.name());
    let field = Field::new(name, client_type(f.data_type()), f.is_nullable());
    match f.metadata().get(SPARK_METADATA) {
        Some(m) => field.with_metadata([(SPARK_METADATA.to_string(), m.clone())].into()),
        None => field,
    }
}

/// The Arrow field metadata key of a column's Spark metadata (the JSON
/// object `withMetadata` sets), sent back in the column's StructField.
pub const SPARK_METADATA: &str = "spark.metadata";

/// `expr` named `name`, with the column's Spark metadata (a JSON object,
/// as `alias(..., metadata=...)` and `withMetadata` give it) when there
/// is one.
pub fn alias_with_spark_metadata(
    expr: datafusion::logical_expr::Expr,
    name: &str,
    metadata: Option<&str>,
) -> datafusion::logical_expr::Expr {
    match metadata.filter(|m| !m.is_empty()) {
        Some(m) => expr.alias_with_metadata(
            name,
            Some(datafusion::common::metadata::FieldMetadata::from(
                std::collections::BTreeMap::from([(SPARK_METADATA.to_string(), m.to_string())]),
            )),
        ),
        None => expr.alias(name),
    }
}

/// The schema the client reads for `schema`.
pub fn client_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| client_field(f))
            .collect::<Vec<_>>(),
    ))
}

/// `batch` with its columns cast to the client's types.
pub fn client_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = kiln_core::cast_columns::cast_columns(batch, schema, |f, e| {
        ConnectError::Execution(format!("column `{}`: {e}", f.name()))
    })?;
    batch_of(schema, columns, batch.num_rows())
}

/// A batch of `columns` under `schema` with `rows` rows: a batch without
/// columns (`df.select()`, as `isEmpty` sends it) keeps its row count.
pub fn batch_of(schema: &SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| ConnectError::Execution(e.to_string()))
}

/// Spark's `typeName` of a type (`integer`, `long`, `string`), as
/// `printSchema()` shows it.
pub fn type_name(t: &DataType) -> String {
    use DataType as A;
    match t {
        A::Int8 => "byte".into(),
        A::Int16 | A::UInt8 => "short".into(),
        A::Int32 | A::UInt16 => "integer".into(),
        A::Int64 | A::UInt32 | A::UInt64 => "long".into(),
        A::List(_) | A::LargeList(_) | A::FixedSizeList(..) => "array".into(),
        A::Struct(_) => "struct".into(),
        A::Map(..) => "map".into(),
        other => simple_string(other),
    }
}

/// The least common type of `types`, or Spark's `class` error with the
/// message `message` makes of the types' names (`int, string`).
pub fn least_common_type(
    types: &[DataType],
    class: &'static str,
    message: impl FnOnce(String) -> String,
) -> Result<DataType> {
    type_union_resolution(types).ok_or_else(|| ConnectError::Analysis {
        class,
        message: message(
            types
                .iter()
                .map(simple_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    })
}

/// Spark's short name of a type (`int`, `bigint`, `decimal(10,2)`), as in
/// result column names like `CAST(x AS INT)`.
pub fn simple_string(t: &DataType) -> String {
    use DataType as A;
    match t {
        A::Null => "void".into(),
        A::Boolean => "boolean".into(),
        A::Int8 => "tinyint".into(),
        A::Int16 | A::UInt8 => "smallint".into(),
        A::Int32 | A::UInt16 => "int".into(),
        A::Int64 | A::UInt32 | A::UInt64 => "bigint".into(),
        A::Float16 | A::Float32 => "float".into(),
        A::Float64 => "double".into(),
        A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) | A::Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        A::Utf8 | A::LargeUtf8 | A::Utf8View => "string".into(),
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => "binary".into(),
        A::Date32 | A::Date64 => "date".into(),
        A::Timestamp(_, Some(_)) => "timestamp".into(),
        A::Timestamp(_, None) => "timestamp_ntz".into(),
        A::List(f) | A::LargeList(f) | A::FixedSizeList(f, _) => {
            format!("array<{}>", simple_string(f.data_type()))
        }
        A::Struct(fs) => format!(
            "struct<{}>",
            fs.iter()
                .map(|f| format!("{}:{}", f.name(), simple_string(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string().to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ddl_schemas_and_types() {
        let s =
            parse_schema("id INT, name STRING NOT NULL, amt decimal(10, 2), tags array<string>")
                .unwrap();
        assert_eq!(s.field(0).data_type(), &DataType::Int32);
        assert!(!s.field(1).is_nullable());
        assert_eq!(s.field(2).data_type(), &DataType::Decimal128(10, 2));
        assert!(matches!(s.field(3).data_type(), DataType::List(_)));
        assert!(parse_type("struct<a:int,b:map<string,bigint>>").is_ok());
        assert!(parse_type("intt").is_err());
        assert!(parse_type("decimal(40,2)").is_err());
    }

    #[test]
    fn parses_spark_json_schemas() {
        let json = r#"{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}},{"name":"d","type":"decimal(5,1)","nullable":false,"metadata":{}}]}"#;
        let s = parse_schema(json).unwrap();
        assert_eq!(s.field(0).data_type(), &DataType::Int64);
        assert_eq!(s.field(1).data_type(), &DataType::Decimal128(5, 1));
    }

    #[test]
    fn client_types_have_no_view_or_unsigned_types() {
        assert_eq!(client_type(&DataType::Utf8View), DataType::Utf8);
        assert_eq!(client_type(&DataType::UInt64), DataType::Int64);
        assert_eq!(
            client_type(&DataType::Timestamp(TimeUnit::Nanosecond, None)),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
    }
}
