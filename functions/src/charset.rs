//! Spark's `encode(str, charset)` and two-argument `decode(bin, charset)`:
//! text to bytes and back in a Java character set.
//!
//! Spark 4 takes `US-ASCII`, `ISO-8859-1`, `UTF-8`, `UTF-16BE`,
//! `UTF-16LE`, `UTF-16` and `UTF-32` (any case); with
//! `spark.sql.legacy.javaCharsets=true` any character set Java knows
//! (here: the WHATWG encodings, `windows-1252` and friends). A character a
//! set cannot hold, or bytes that are not text in it, are an error, or
//! with `spark.sql.legacy.codingErrorAction=true` replaced as Java
//! replaces them (`?` when encoding, U+FFFD when decoding). `UTF-16`
//! writes a byte-order mark and big-endian units, as Java does; decoding
//! `UTF-16` and `UTF-32` follows a byte-order mark, big-endian without.
//!
//! Both settings are read while the driver plans: `simplify` adds them to
//! the call as two literal arguments, so executors answer alike.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::Arrays;
use crate::settings::flag;

/// `spark.sql.legacy.javaCharsets`.
const LEGACY_CHARSETS: &str = "spark.sql.legacy.javaCharsets";
/// `spark.sql.legacy.codingErrorAction`.
const LEGACY_ERRORS: &str = "spark.sql.legacy.codingErrorAction";

/// The functions of this module: `encode`, and the charset form of
/// `decode` (`misc`'s `decode` plans into it).
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(Coding::new(Direction::Encode))),
        charset_decode(),
    ]
}

/// The charset form of `decode`, by its internal name.
pub fn charset_decode() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Coding::new(Direction::Decode)))
}

/// `decode(bin, charset)` planned with the session's settings.
pub fn plan_decode(args: Vec<Expr>, info: &SimplifyContext) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        charset_decode(),
        with_settings(args, info),
    ))
}

fn with_settings(mut args: Vec<Expr>, info: &SimplifyContext) -> Vec<Expr> {
    let config = info.config_options();
    for key in [LEGACY_CHARSETS, LEGACY_ERRORS] {
        args.push(Expr::Literal(
            ScalarValue::Boolean(Some(flag(config, key))),
            None,
        ));
    }
    args
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    Encode,
    Decode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Coding {
    direction: Direction,
    signature: Signature,
}

impl Coding {
    fn new(direction: Direction) -> Self {
        Coding {
            direction,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Coding {
    fn name(&self) -> &str {
        match self.direction {
            Direction::Encode => "encode",
            Direction::Decode => "spark_charset_decode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 && arg_types.len() != 4 {
            return exec_err!(
                "{} takes 2 arguments (the value and a character set), got {}",
                self.name(),
                arg_types.len()
            );
        }
        let value = match self.direction {
            Direction::Encode => DataType::Utf8,
            Direction::Decode => DataType::Binary,
        };
        let mut types = vec![value, DataType::Utf8];
        types.extend(arg_types[2..].iter().map(|_| DataType::Boolean));
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.direction {
            Direction::Encode => DataType::Binary,
            Direction::Decode => DataType::Utf8,
        })
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() != 2 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
            ScalarFunction::new_udf(
                Arc::new(ScalarUDF::new_from_impl(Coding::new(self.direction))),
                with_settings(args, info),
            ),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let a = &input.arrays;
        let setting = |i: usize| -> bool {
            a.get(i)
                .map(|x| x.as_boolean())
                .is_some_and(|b| !b.is_empty() && b.is_valid(0) && b.value(0))
        };
        let (legacy_charsets, replace) = (setting(2), setting(3));
        let names = cast(&a[1], &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let mut cache: Option<(String, Charset)> = None;
        let mut charset_at = |row: usize| -> Result<Option<Charset>> {
            if names.is_null(row) {
                return Ok(None);
            }
            let name = names.value(row);
            if let Some((n, c)) = &cache {
                if n == name {
                    return Ok(Some(*c));
                }
            }
            let c = Charset::named(name, legacy_charsets, self.name())?;
            cache = Some((name.to_string(), c));
            Ok(Some(c))
        };
        let out: ArrayRef = match self.direction {
            Direction::Encode => {
                let text = cast(&a[0], &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(text.len());
                for row in 0..text.len() {
                    let charset = charset_at(row)?;
                    match (text.is_valid(row), charset) {
                        (true, Some(c)) => out.push(Some(c.encode(text.value(row), replace)?)),
                        _ => out.push(None),
                    }
                }
                Arc::new(BinaryArray::from_iter(out))
            }
            Direction::Decode => {
                let bytes = cast(&a[0], &DataType::Binary)?;
                let bytes = bytes.as_binary::<i32>();
                let mut out: Vec<Option<String>> = Vec::with_capacity(bytes.len());
                for row in 0..bytes.len() {
                    let charset = charset_at(row)?;
                    match (bytes.is_valid(row), charset) {
                        (true, Some(c)) => out.push(Some(c.decode(bytes.value(row), replace)?)),
                        _ => out.push(None),
                    }
                }
                Arc::new(StringArray::from(out))
            }
        };
        input.answer(out)
    }
}

/// Byte order of UTF-16 and UTF-32 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Big,
    Little,
    /// A byte-order mark decides when decoding; big-endian with a mark
    /// when encoding UTF-16, without for UTF-32.
    Marked,
}

/// A character set Kiln encodes and decodes.
#[derive(Debug, Clone, Copy)]
enum Charset {
    Ascii,
    Latin1,
    Utf8,
    Utf16(Order),
    Utf32,
    /// Another encoding Java knows, with `spark.sql.legacy.javaCharsets`.
    Other(&'static encoding_rs::Encoding),
}

const SPARK_CHARSETS: &str = "US-ASCII, ISO-8859-1, UTF-8, UTF-16BE, UTF-16LE, UTF-16, UTF-32";

impl Charset {
    fn named(name: &str, legacy: bool, function: &str) -> Result<Self> {
        let upper = name.trim().to_ascii_uppercase();
        let spark = match upper.as_str() {
            "US-ASCII" => Some(Charset::Ascii),
            "ISO-8859-1" => Some(Charset::Latin1),
            "UTF-8" => Some(Charset::Utf8),
            "UTF-16BE" => Some(Charset::Utf16(Order::Big)),
            "UTF-16LE" => Some(Charset::Utf16(Order::Little)),
            "UTF-16" => Some(Charset::Utf16(Order::Marked)),
            "UTF-32" => Some(Charset::Utf32),
            _ => None,
        };
        if let Some(c) = spark {
            return Ok(c);
        }
        if legacy {
            // Java's aliases of the sets above, then the WHATWG labels.
            let alias = match upper.as_str() {
                "ASCII" | "US_ASCII" | "ISO646-US" => Some(Charset::Ascii),
                "LATIN1" | "ISO8859_1" | "ISO-LATIN-1" => Some(Charset::Latin1),
                "UTF8" => Some(Charset::Utf8),
                "UTF_16BE" | "UNICODEBIGUNMARKED" => Some(Charset::Utf16(Order::Big)),
                "UTF_16LE" | "UNICODELITTLEUNMARKED" => Some(Charset::Utf16(Order::Little)),
                "UTF16" | "UTF_16" | "UNICODE" => Some(Charset::Utf16(Order::Marked)),
                "UTF32" | "UTF_32" => Some(Charset::Utf32),
                _ => None,
            };
            if let Some(c) = alias {
                return Ok(c);
            }
            if let Some(e) = encoding_rs::Encoding::for_label(name.trim().as_bytes()) {
                return Ok(Charset::Other(e));
            }
        }
        exec_err!(
            "[INVALID_PARAMETER_VALUE.CHARSET] The value of parameter `charset` in `{}` is invalid: expects one of {SPARK_CHARSETS}, but got '{name}'",
            if function == "encode" { "encode" } else { "decode" }
        )
    }

    fn encode(self, s: &str, replace: bool) -> Result<Vec<u8>> {
        let unmappable = |c: char, set: &str| {
            exec_err!(
                "[MALFORMED_CHARACTER_CODING] Invalid value found when performing `encode` with `{set}`: the character '{c}' has no code in it (set spark.sql.legacy.codingErrorAction=true to write '?' instead)"
            )
        };
        Ok(match self {
            Charset::Utf8 => s.as_bytes().to_vec(),
            Charset::Ascii | Charset::Latin1 => {
                let max = if matches!(self, Charset::Ascii) {
                    0x7f
                } else {
                    0xff
                };
                let mut out = Vec::with_capacity(s.len());
                for c in s.chars() {
                    match u32::from(c) {
                        v if v <= max => out.push(v as u8),
                        _ if replace => out.push(b'?'),
                        _ => return unmappable(c, self.label()),
                    }
                }
                out
            }
            Charset::Utf16(order) => {
                let mut out = Vec::with_capacity(2 * s.len() + 2);
                if order == Order::Marked {
                    out.extend([0xfe, 0xff]);
                }
                for unit in s.encode_utf16() {
                    match order {
                        Order::Little => out.extend(unit.to_le_bytes()),
                        _ => out.extend(unit.to_be_bytes()),
                    }
                }
                out
            }
            Charset::Utf32 => s.chars().flat_map(|c| u32::from(c).to_be_bytes()).collect(),
            Charset::Other(e) => {
                let mut out = vec![];
                let mut buf = [0u8; 4];
                for c in s.chars() {
                    let (bytes, _, failed) = e.encode(c.encode_utf8(&mut buf));
                    match (failed, replace) {
                        (false, _) => out.extend_from_slice(&bytes),
                        (true, true) => out.push(b'?'),
                        (true, false) => return unmappable(c, e.name()),
                    }
                }
                out
            }
        })
    }

    fn decode(self, b: &[u8], replace: bool) -> Result<String> {
        let text = match self {
            Charset::Utf8 if replace => Some(String::from_utf8_lossy(b).into_owned()),
            Charset::Utf8 => std::str::from_utf8(b).ok().map(str::to_string),
            Charset::Latin1 => Some(b.iter().map(|&x| char::from(x)).collect()),
            Charset::Ascii => {
                if replace || b.is_ascii() {
                    Some(
                        b.iter()
                            .map(|&x| if x < 0x80 { char::from(x) } else { '\u{fffd}' })
                            .collect(),
                    )
                } else {
                    None
                }
            }
            Charset::Utf16(order) => {
                let (order, body) = match (order, b) {
                    (Order::Marked, [0xfe, 0xff, rest @ ..]) => (Order::Big, rest),
                    (Order::Marked, [0xff, 0xfe, rest @ ..]) => (Order::Little, rest),
                    (Order::Marked, _) => (Order::Big, b),
                    (o, _) => (o, b),
                };
                let units = body.chunks(2).map(|u| match (u, order) {
                    ([x, y], Order::Little) => Some(u16::from_le_bytes([*x, *y])),
                    ([x, y], _) => Some(u16::from_be_bytes([*x, *y])),
                    _ => None,
                });
                let mut s = String::with_capacity(body.len() / 2);
                let mut ok = true;
                let odd = units.clone().any(|u| u.is_none());
                for c in char::decode_utf16(units.flatten()) {
                    match c {
                        Ok(c) => s.push(c),
                        Err(_) => {
                            ok = false;
                            s.push('\u{fffd}');
                        }
                    }
                }
                if odd {
                    ok = false;
                    s.push('\u{fffd}');
                }
                (ok || replace).then_some(s)
            }
            Charset::Utf32 => {
                let (little, body) = match b {
                    [0, 0, 0xfe, 0xff, rest @ ..] => (false, rest),
                    [0xff, 0xfe, 0, 0, rest @ ..] => (true, rest),
                    _ => (false, b),
                };
                let mut s = String::with_capacity(body.len() / 4);
                let mut ok = true;
                for u in body.chunks(4) {
                    let c = match u {
                        [a, b2, c, d] if little => {
                            char::from_u32(u32::from_le_bytes([*a, *b2, *c, *d]))
                        }
                        [a, b2, c, d] => char::from_u32(u32::from_be_bytes([*a, *b2, *c, *d])),
                        _ => None,
                    };
                    match c {
                        Some(c) => s.push(c),
                        None => {
                            ok = false;
                            s.push('\u{fffd}');
                        }
                    }
                }
                (ok || replace).then_some(s)
            }
            Charset::Other(e) if replace => Some(e.decode_without_bom_handling(b).0.into_owned()),
            Charset::Other(e) => e
                .decode_without_bom_handling_and_without_replacement(b)
                .map(|s| s.into_owned()),
        };
        match text {
            Some(t) => Ok(t),
            None => exec_err!(
                "[MALFORMED_CHARACTER_CODING] Invalid value found when performing `decode` with `{}`: the bytes are not text in it (set spark.sql.legacy.codingErrorAction=true to read U+FFFD instead)",
                self.label()
            ),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Charset::Ascii => "US-ASCII",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Utf8 => "UTF-8",
            Charset::Utf16(Order::Big) => "UTF-16BE",
            Charset::Utf16(Order::Little) => "UTF-16LE",
            Charset::Utf16(Order::Marked) => "UTF-16",
            Charset::Utf32 => "UTF-32",
            Charset::Other(e) => e.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charset(name: &str) -> Charset {
        Charset::named(name, true, "encode").unwrap()
    }

    #[test]
    fn encodes_as_java_does() {
        assert_eq!(
            charset("UTF-16").encode("A", false).unwrap(),
            [0xfe, 0xff, 0, 0x41]
        );
        assert_eq!(charset("utf-16le").encode("A", false).unwrap(), [0x41, 0]);
        assert_eq!(
            charset("UTF-32").encode("A", false).unwrap(),
            [0, 0, 0, 0x41]
        );
        assert_eq!(charset("US-ASCII").encode("a渭", true).unwrap(), b"a?");
        assert!(charset("US-ASCII").encode("a渭", false).is_err());
        assert_eq!(charset("windows-1252").encode("é", false).unwrap(), [0xe9]);
    }

    #[test]
    fn decodes_as_java_does() {
        let text = "大千世界 Spark";
        for name in ["UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "UTF-32"] {
            let c = charset(name);
            assert_eq!(
                c.decode(&c.encode(text, false).unwrap(), false).unwrap(),
                text,
                "{name}"
            );
        }
        assert_eq!(
            charset("UTF-16")
                .decode(&[0xff, 0xfe, 0x41, 0], false)
                .unwrap(),
            "A"
        );
        assert_eq!(
            charset("US-ASCII").decode(&[0x61, 0xe5], true).unwrap(),
            "a\u{fffd}"
        );
        assert!(charset("US-ASCII").decode(&[0x61, 0xe5], false).is_err());
        assert!(charset("UTF-8").decode(&[0xe5, 0x8a], false).is_err());
    }

    #[test]
    fn only_sparks_sets_without_the_legacy_setting() {
        assert!(Charset::named("WINDOWS-1252", false, "encode").is_err());
        assert!(Charset::named("utf8", false, "encode").is_err());
        assert!(Charset::named("Windows-xxx", true, "encode").is_err());
        assert!(Charset::named("utf-8", false, "encode").is_ok());
    }
}
