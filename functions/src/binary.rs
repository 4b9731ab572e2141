//! Spark's conversions between strings and BINARY: `to_binary` and
//! `try_to_binary` (hex, base64 or UTF-8 text to bytes), the binary side of
//! `to_char` (bytes to hex, base64 or UTF-8 text), and `validate_utf8` /
//! `try_validate_utf8`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::Arrays;
use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(ToBinary::new(false))),
        Arc::new(ScalarUDF::new_from_impl(ToBinary::new(true))),
        kinded::function(ValidateUtf8 { try_: false }, "validate_utf8"),
        kinded::function(ValidateUtf8 { try_: true }, "try_validate_utf8"),
    ]
}

/// How text encodes bytes, as `to_binary` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Base64,
    Utf8,
}

impl Encoding {
    /// `to_binary`'s format names, case-insensitive.
    fn of(name: &str) -> Option<Self> {
        match name.to_lowercase().as_str() {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "HEX",
            Encoding::Base64 => "BASE64",
            Encoding::Utf8 => "UTF-8",
        }
    }

    /// The bytes `text` encodes; `None` when it is malformed.
    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => unhex(text),
            Encoding::Base64 => unbase64(text),
            Encoding::Utf8 => Some(text.as_bytes().to_vec()),
        }
    }
}

/// Hex digits to bytes; an odd count reads as if led by a `0`.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()?;
    let padded: Vec<u8> = if !digits.len().is_multiple_of(2) {
        std::iter::once(0).chain(digits).collect()
    } else {
        digits
    };
    Some(padded.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 text to bytes as Spark reads it: whitespace anywhere but inside
/// the padding, padding optional but complete when present.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut values = Vec::with_capacity(text.len());
    let mut padding = 0;
    let mut padding_closed = false;
    for c in text.chars() {
        if c.is_ascii_whitespace() {
            padding_closed = padding > 0;
            continue;
        }
        if c == '=' {
            if padding_closed {
                return None;
            }
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None;
        }
        let v = BASE64.iter().position(|b| *b as char == c)?;
        values.push(v as u32);
    }
    let rest = values.len() % 4;
    if rest == 1 || padding > 2 || (padding > 0 && (values.len() + padding) % 4 != 0) {
        return None;
    }
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

/// Bytes as base64 the way Spark's `base64` writes them: padded, in lines
/// of 76 characters separated by CRLF.
fn base64(bytes: &[u8]) -> String {
    let mut flat = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= (*b as u32) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                flat.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                flat.push('=');
            }
        }
    }
    let lines: Vec<&str> = flat
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap_or_default())
        .collect();
    lines.join("\r\n")
}

/// `to_char(binary, format)`: the bytes as `hex` (upper case), `base64` or
/// `utf-8` text; `format` is case-insensitive.
pub fn binary_to_char(bytes: &[u8], format: &str) -> Result<String> {
    match format.to_lowercase().as_str() {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02X}")).collect()),
        "base64" => Ok(base64(bytes)),
        "utf-8" => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => exec_err!(
                "[MALFORMED_CHARACTER_CODING] Invalid value found when performing `to_char` with utf-8"
            ),
        },
        _ => exec_err!(
            "[INVALID_PARAMETER_VALUE.BINARY_FORMAT] The value of parameter(s) `format` in `to_char` is invalid: expects one of binary formats 'base64', 'hex', 'utf-8', but got '{format}'."
        ),
    }
}

/// `to_binary(str[, fmt])` and `try_to_binary`: the bytes `str` encodes
/// in `fmt` (`hex`, the default, `base64`, `utf-8` or `utf8`). Malformed
/// text is an error for `to_binary` whatever the ANSI mode (as in Spark)
/// and NULL for `try_to_binary`, which also gives NULL for an unknown
/// format.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToBinary {
    try_: bool,
    signature: Signature,
}

impl ToBinary {
    fn new(try_: bool) -> Self {
        ToBinary {
            try_,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The encoding of a literal format: `Ok(None)` for NULL (or, for
    /// `try_to_binary`, an unknown name).
    fn encoding(&self, format: Option<&ScalarValue>) -> Result<Option<Encoding>> {
        let Some(format) = format else {
            return Ok(Some(Encoding::Hex));
        };
        let text = match format {
            ScalarValue::Null => None,
            other => other.try_as_str().flatten(),
        };
        let Some(text) = text else {
            if format.is_null() {
                return Ok(None);
            }
            return if self.try_ {
                Ok(None)
            } else {
                exec_err!(
                    "{}: the format must be a string literal, got {format}",
                    self.name()
                )
            };
        };
        match Encoding::of(text) {
            Some(e) => Ok(Some(e)),
            None if self.try_ => Ok(None),
            None => exec_err!(
                "[DATATYPE_MISMATCH.INVALID_ARG_VALUE] to_binary: the format '{}' is not one of 'hex', 'utf-8', 'utf8', or 'base64'",
                text.to_lowercase()
            ),
        }
    }
}

impl ScalarUDFImpl for ToBinary {
    fn name(&self) -> &str {
        if self.try_ {
            "try_to_binary"
        } else {
            "to_binary"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(1..=2).contains(&arg_types.len()) {
            return exec_err!(
                "{} takes 1 or 2 arguments, got {}",
                self.name(),
                arg_types.len()
            );
        }
        // Spark reads numbers as their text; a non-string format of
        // try_to_binary is NULL, kept as it is.
        let mut types = vec![DataType::Utf8];
        if let Some(t) = arg_types.get(1) {
            types.push(if *t == DataType::Null || (self.try_ && !is_string(t)) {
                t.clone()
            } else {
                DataType::Utf8
            });
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(None) = args.scalar_arguments.get(1) {
            if !self.try_ {
                return exec_err!(
                    "to_binary: the format must be a literal (Spark's NON_FOLDABLE_INPUT)"
                );
            }
        }
        if let Some(Some(f)) = args.scalar_arguments.get(1) {
            self.encoding(Some(f))?;
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Binary, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let encoding = match args.args.get(1) {
            None => Some(Encoding::Hex),
            Some(ColumnarValue::Scalar(s)) => self.encoding(Some(s))?,
            Some(ColumnarValue::Array(_)) if self.try_ => None,
            Some(ColumnarValue::Array(_)) => {
                return exec_err!("to_binary: the format must be a literal")
            }
        };
        let input = Arrays::new(&args.args[..1], args.number_rows)?;
        let text = cast(&input.arrays[0], &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut out = BinaryBuilder::new();
        for row in 0..text.len() {
            let Some(encoding) = encoding.filter(|_| !text.is_null(row)) else {
                out.append_null();
                continue;
            };
            let value = text.value(row);
            match encoding.decode(value) {
                Some(bytes) => out.append_value(bytes),
                None if self.try_ => out.append_null(),
                None => {
                    return exec_err!(
                        "[CONVERSION_INVALID_INPUT] The value '{value}' ('{}') cannot be converted to \"BINARY\" because it is malformed. Use `try_to_binary` to tolerate malformed input and return NULL instead.",
                        encoding.name()
                    )
                }
            }
        }
        input.answer(Arc::new(out.finish()))
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `validate_utf8(x)`: `x` as a string when its bytes are valid UTF-8, else
/// Spark's `INVALID_UTF8_STRING` error; `try_validate_utf8` gives NULL
/// instead.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ValidateUtf8 {
    try_: bool,
}

impl kinded::Kind for ValidateUtf8 {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_string(t) || *t == DataType::Null => Ok(vec![DataType::Utf8]),
            [_] => Ok(vec![DataType::Binary]),
            _ => exec_err!("{name} takes 1 argument, got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let a: &ArrayRef = &input.arrays[0];
        if a.data_type() == &DataType::Utf8 {
            // Arrow strings are valid UTF-8 already.
            return input.answer(a.clone());
        }
        let bytes = a.as_binary::<i32>();
        let mut out = StringBuilder::new();
        for row in 0..bytes.len() {
            if bytes.is_null(row) {
                out.append_null();
                continue;
            }
            match std::str::from_utf8(bytes.value(row)) {
                Ok(s) => out.append_value(s),
                Err(_) if self.try_ => out.append_null(),
                Err(_) => {
                    let shown: String = bytes
                        .value(row)
                        .iter()
                        .map(|b| {
                            if b.is_ascii() {
                                (*b as char).to_string()
                            } else {
                                format!("\\x{b:02X}")
                            }
                        })
                        .collect();
                    return exec_err!("[INVALID_UTF8_STRING] Invalid UTF8 byte sequence found in string: {shown}.");
                }
            }
        }
        input.answer(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_selects, query, query_err};

    #[test]
    fn decodes_hex_base64_and_utf8_as_spark() {
        // string-functions.sql.out and try-string-functions.sql.out (4.2.0),
        // and a Spark 4.2.1 run for the hex() of each answer.
        assert_selects(&[
            ("hex(to_binary('737472696E67'))", "737472696E67"),
            ("hex(to_binary('abc', 'Hex'))", "0ABC"),
            ("hex(to_binary('123', 'hex'))", "0123"),
            ("hex(to_binary('', 'hex'))", ""),
            ("hex(to_binary(' ab c=', 'base64'))", "69B7"),
            ("hex(to_binary('YWJ\njZA==', 'base64'))", "61626364"),
            ("hex(to_binary('YWJjZA', 'base64'))", "61626364"),
            ("hex(to_binary('YR==', 'BASE64'))", "61"),
            ("hex(to_binary('  ', 'base64'))", ""),
            (
                "hex(to_binary('大千世界', 'utf8'))",
                "E5A4A7E58D83E4B896E7958C",
            ),
            ("hex(to_binary(12, 'hex'))", "12"),
            ("to_char(to_binary('537061726b'), 'base64')", "U3Bhcms="),
            ("to_char(to_binary('537061726b'), 'HEX')", "537061726B"),
            ("to_char(to_binary('537061726b'), 'Utf-8')", "Spark"),
            ("validate_utf8('abc')", "abc"),
        ]);
        for sql in [
            "try_to_binary(' ab cdef= = ', 'base64')",
            "try_to_binary('a', 'base64')",
            "try_to_binary('abcd=', 'base64')",
            "try_to_binary('ab==f', 'base64')",
            "try_to_binary('GG')",
            "try_to_binary('01 AF', 'hex')",
            "try_to_binary('abc', 'invalidFormat')",
            "try_to_binary('abc', 1)",
            "to_binary('abc', null)",
            "to_binary(null, 'utf-8')",
            "try_validate_utf8(to_binary('80'))",
        ] {
            assert_eq!(query(&format!("select {sql}")), vec!["NULL"], "{sql}");
        }
        for (sql, class) in [
            ("to_binary('a?', 'base64')", "CONVERSION_INVALID_INPUT"),
            ("to_binary('GG')", "CONVERSION_INVALID_INPUT"),
            ("to_binary('abc', 'invalidFormat')", "INVALID_ARG_VALUE"),
            ("validate_utf8(to_binary('80'))", "INVALID_UTF8_STRING"),
            (
                "to_char(to_binary('80'), 'utf-8')",
                "MALFORMED_CHARACTER_CODING",
            ),
            ("to_char(to_binary('80'), 'utf8')", "BINARY_FORMAT"),
        ] {
            let e = query_err(&format!("select {sql}"));
            assert!(e.contains(class), "{sql}: {e}");
        }
    }

    #[test]
    fn base64_lines_are_76_characters() {
        // Spark 4.2.1: to_char of 58 bytes breaks the line with CRLF.
        let bytes: Vec<u8> = (0..58).collect();
        let text = base64(&bytes);
        assert_eq!(text.find("\r\n"), Some(76));
        assert_eq!(unbase64(&text), Some(bytes));
    }
}
