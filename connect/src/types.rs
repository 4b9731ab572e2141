//! Spark data types and Arrow types, both ways: schemas sent to the client,
//! types in casts and in `schema` options (DDL strings like `a INT, b
//! STRING` or Spark's JSON), and Arrow result columns cast to the types the
//! PySpark client reads (Spark has no unsigned integers or view types).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

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

fn map_type(key: DataType, value: DataType, value_nullable: bool) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("key", key, false),
                    Field::new("value", value, value_nullable),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

fn decimal(p: i32, s: i32) -> Result<DataType> {
    let (Ok(p), Ok(s)) = (u8::try_from(p), i8::try_from(s)) else {
        return Err(ConnectError::IllegalArgument(format!(
            "decimal({p},{s}) is out of range"
        )));
    };
    if p == 0 || p > 38 || s as i32 > p as i32 {
        return Err(ConnectError::IllegalArgument(format!(
            "decimal({p},{s}): precision must be 1..38 and scale at most the precision"
        )));
    }
    Ok(DataType::Decimal128(p, s))
}

/// Parses a Spark type string: `int`, `bigint`, `decimal(10,2)`,
/// `array<string>`, `map<string,int>`, `struct<a:int,b:string>`, or Spark's
/// JSON form of a type.
pub fn parse_type(s: &str) -> Result<DataType> {
    let s = s.trim();
    if s.starts_with('{') || s.starts_with('"') {
        let v: serde_json::Value = serde_json::from_str(s)
            .map_err(|e| ConnectError::Parse(format!("invalid type JSON `{s}`: {e}")))?;
        return from_json(&v);
    }
    let mut p = TypeParser { s, pos: 0 };
    let t = p.data_type()?;
    p.skip_ws();
    if p.pos != s.len() {
        return Err(p.error("end of the type"));
    }
    Ok(t)
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

/// Parses a DDL string the way Spark Connect's `DDLParse` does: a column
/// list (`a int, b string`) is a struct, anything else one type (`long`,
/// `array<int>`, `struct<...>`, or the JSON form). A UDF's return type
/// `"long"` is therefore `long`, not a one-column struct.
pub fn parse_ddl(s: &str) -> Result<DataType> {
    let trimmed = s.trim();
    if trimmed.starts_with('{') || trimmed.to_ascii_lowercase().starts_with("struct<") {
        return parse_type(trimmed);
    }
    let mut p = TypeParser { s: trimmed, pos: 0 };
    let fields = p.field_list(None).and_then(|f| {
        p.skip_ws();
        if p.pos == trimmed.len() {
            Ok(f)
        } else {
            Err(p.error("`,` or the end of the schema"))
        }
    });
    match fields {
        Ok(fields) => Ok(DataType::Struct(fields.into())),
        Err(e) => parse_type(trimmed).map_err(|_| e),
    }
}

fn from_json(v: &serde_json::Value) -> Result<DataType> {
    use serde_json::Value;
    match v {
        Value::String(s) => parse_type(s),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("struct") => {
                let fields = o
                    .get("fields")
                    .and_then(Value::as_array)
                    .map(|fs| {
                        fs.iter()
                            .map(|f| {
                                let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                                let t = from_json(f.get("type").unwrap_or(&Value::Null))?;
                                let nullable =
                                    f.get("nullable").and_then(Value::as_bool).unwrap_or(true);
                                Ok(Field::new(name, t, nullable))
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .transpose()?
                    .unwrap_or_default();
                Ok(DataType::Struct(fields.into()))
            }
            Some("array") => {
                let elem = from_json(o.get("elementType").unwrap_or(&Value::Null))?;
                let nullable = o
                    .get("containsNull")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                Ok(DataType::List(Arc::new(Field::new(
                    "element", elem, nullable,
                ))))
            }
            Some("map") => {
                let k = from_json(o.get("keyType").unwrap_or(&Value::Null))?;
                let val = from_json(o.get("valueType").unwrap_or(&Value::Null))?;
                let nullable = o
                    .get("valueContainsNull")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                Ok(map_type(k, val, nullable))
            }
            _ => Err(ConnectError::Parse(format!("unknown type JSON {v}"))),
        },
        other => Err(ConnectError::Parse(format!("unknown type JSON {other}"))),
    }
}

struct TypeParser<'a> {
    s: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn error(&self, expected: &str) -> ConnectError {
        ConnectError::Parse(format!(
            "cannot parse the data type `{}`: expected {expected} at position {}",
            self.s, self.pos
        ))
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.s[self.pos..]
            .chars()
            .next()
            .filter(|c| c.is_whitespace())
        {
            self.pos += c.len_utf8();
        }
    }

    /// Spark's line (from 1) and position (characters from 0) of byte
    /// offset `at`.
    fn line_pos(&self, at: usize) -> (usize, usize) {
        let before = &self.s[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count(),
        )
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<String> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        if let Some(quoted) = rest.strip_prefix('`') {
            let end = quoted
                .find('`')
                .ok_or_else(|| self.error("a closing backtick"))?;
            self.pos += end + 2;
            return Ok(quoted[..end].to_string());
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("a name"));
        }
        self.pos += len;
        Ok(rest[..len].to_string())
    }

    fn number(&mut self) -> Result<i32> {
        let n = self.ident()?;
        n.parse().map_err(|_| self.error("a number"))
    }

    /// `name type [NOT NULL] [COMMENT '...'], ...` up to `close` (or the end).
    fn field_list(&mut self, close: Option<char>) -> Result<Vec<Field>> {
        let mut fields = vec![];
        loop {
            self.skip_ws();
            if let Some(c) = close {
                if self.eat(c) {
                    break;
                }
            } else if self.pos == self.s.len() {
                break;
            }
            let name = self.ident()?;
            self.eat(':');
            let t = self.data_type()?;
            let mut nullable = true;
            let save = self.pos;
            if let Ok(w) = self.ident() {
                if w.eq_ignore_ascii_case("not") && self.ident()?.eq_ignore_ascii_case("null") {
                    nullable = false;
                } else {
                    self.pos = save;
                }
            }
            fields.push(Field::new(name, t, nullable));
            if !self.eat(',') {
                if let Some(c) = close {
                    if !self.eat(c) {
                        return Err(self.error(&format!("`,` or `{c}`")));
                    }
                }
                break;
            }
        }
        Ok(fields)
    }

    fn data_type(&mut self) -> Result<DataType> {
        self.skip_ws();
        let start = self.pos;
        let name = self.ident()?.to_ascii_lowercase();
        Ok(match name.as_str() {
            "boolean" | "bool" => DataType::Boolean,
            "tinyint" | "byte" => DataType::Int8,
            "smallint" | "short" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" | "long" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "string" | "text" => DataType::Utf8,
            "char" | "varchar" => {
                if self.eat('(') {
                    self.number()?;
                    if !self.eat(')') {
                        return Err(self.error("`)`"));
                    }
                }
                DataType::Utf8
            }
            "binary" => DataType::Binary,
            "date" => DataType::Date32,
            "timestamp" | "timestamp_ltz" => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            "timestamp_ntz" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "void" | "null" => DataType::Null,
            "decimal" | "dec" | "numeric" => {
                if self.eat('(') {
                    let p = self.number()?;
                    let s = if self.eat(',') { self.number()? } else { 0 };
                    if !self.eat(')') {
                        return Err(self.error("`)`"));
                    }
                    decimal(p, s)?
                } else {
                    DataType::Decimal128(10, 0)
                }
            }
            "array" => {
                if !self.eat('<') {
                    return Err(self.error("`<`"));
                }
                let elem = self.data_type()?;
                if !self.eat('>') {
                    return Err(self.error("`>`"));
                }
                DataType::List(Arc::new(Field::new("element", elem, true)))
            }
            "map" => {
                if !self.eat('<') {
                    return Err(self.error("`<`"));
                }
                let k = self.data_type()?;
                if !self.eat(',') {
                    return Err(self.error("`,`"));
                }
                let v = self.data_type()?;
                if !self.eat('>') {
                    return Err(self.error("`>`"));
                }
                map_type(k, v, true)
            }
            "struct" => {
                if !self.eat('<') {
                    return Err(self.error("`<`"));
                }
                DataType::Struct(self.field_list(Some('>'))?.into())
            }
            other => {
                let (line, pos) = self.line_pos(start);
                return Err(ConnectError::unsupported_datatype(other, line, pos));
            }
        })
    }
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
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
                    .map_err(|e| ConnectError::Execution(format!("column `{}`: {e}", f.name())))
            }
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
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
