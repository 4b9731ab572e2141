//! Spark's type strings: DDL column lists (`a INT, b STRING`), type names
//! (`bigint`, `decimal(10,2)`, `array<string>`, `struct<a: int>`), Spark's
//! JSON form of a type, and the SQL form Spark prints (`STRUCT<a: BIGINT>`,
//! as `schema_of_json` answers). One parser for every caller: Connect's
//! schemas and casts, and the schema arguments of `from_json`, `from_csv`
//! and `from_xml`, which executors parse again.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};

/// Why a type string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdlError {
    /// Not a type string: what was expected and where.
    #[error("{0}")]
    Parse(String),
    /// A well-formed type with parameters out of range (`decimal(40,2)`).
    #[error("{0}")]
    OutOfRange(String),
    /// A type name Spark does not have, at a line (from 1) and position
    /// (characters from 0).
    #[error("Unsupported data type \"{}\" (line {line}, pos {pos})", name.to_ascii_uppercase())]
    UnsupportedType {
        /// The name as written.
        name: String,
        /// Its line, from 1.
        line: usize,
        /// Its position in the line, in characters from 0.
        pos: usize,
    },
}

type Result<T> = std::result::Result<T, DdlError>;

/// The Arrow map type Spark's `map<key, value>` is.
pub fn map_type(key: DataType, value: DataType, value_nullable: bool) -> DataType {
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

/// Spark's `decimal(p, s)`, or why its precision or scale is out of range.
pub fn decimal(p: i32, s: i32) -> Result<DataType> {
    let (Ok(p), Ok(s)) = (u8::try_from(p), i8::try_from(s)) else {
        return Err(DdlError::OutOfRange(format!(
            "decimal({p},{s}) is out of range"
        )));
    };
    if p == 0 || p > 38 || s as i32 > p as i32 {
        return Err(DdlError::OutOfRange(format!(
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
            .map_err(|e| DdlError::Parse(format!("invalid type JSON `{s}`: {e}")))?;
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
            _ => Err(DdlError::Parse(format!("unknown type JSON {v}"))),
        },
        other => Err(DdlError::Parse(format!("unknown type JSON {other}"))),
    }
}

struct TypeParser<'a> {
    s: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn error(&self, expected: &str) -> DdlError {
        DdlError::Parse(format!(
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
                return Err(DdlError::UnsupportedType {
                    name: other.to_string(),
                    line,
                    pos,
                });
            }
        })
    }
}

/// Spark's SQL form of a type, as `schema_of_json` and `schema_of_csv`
/// print it: `STRUCT<a: BIGINT, b: ARRAY<STRING>>`.
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| {
                    let not_null = if f.is_nullable() { "" } else { " NOT NULL" };
                    format!(
                        "{}: {}{not_null}",
                        quoted(f.name()),
                        sql_type(f.data_type())
                    )
                })
                .collect();
            format!("STRUCT<{}>", fields.join(", "))
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("ARRAY<{}>", sql_type(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP<{}, {}>",
                sql_type(kv[0].data_type()),
                sql_type(kv[1].data_type())
            ),
            other => format!("MAP<{}>", sql_type(other)),
        },
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP_NTZ".into(),
        other => crate::misc::spark_type_name(other).to_ascii_uppercase(),
    }
}

/// A field name as Spark's SQL form shows it: backquoted unless a plain
/// identifier.
fn quoted(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_and_sql_forms_round_trip() {
        let t = parse_ddl("a INT, b array<string>, `c d` map<string, bigint>").unwrap();
        assert_eq!(
            sql_type(&t),
            "STRUCT<a: INT, b: ARRAY<STRING>, `c d`: MAP<STRING, BIGINT>>"
        );
        assert_eq!(parse_ddl(&sql_type(&t)).unwrap(), t);
        assert!(matches!(
            parse_type("intt"),
            Err(DdlError::UnsupportedType {
                line: 1,
                pos: 0,
                ..
            })
        ));
        assert!(matches!(
            parse_type("decimal(40,2)"),
            Err(DdlError::OutOfRange(_))
        ));
    }
}
