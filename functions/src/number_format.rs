//! Spark's `to_char` / `to_varchar`, `to_number` and `try_to_number`, and
//! the number format strings they take (`0 9 . D , G $ S MI PR`): parsing
//! and checking a format, formatting a number with it and reading one.
//!
//! A format is `[MI|S] [$] [0|9|G|,]* [.|D] [0|9]* [$] [PR|MI|S]`, case
//! insensitive. Its digits give the DECIMAL type `to_number` returns: all
//! of them the precision, those after the point the scale. `to_char` of a
//! date or timestamp is `date_format`, of a binary value hex, base64 or
//! UTF-8 text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Float32Type, Float64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::Arrays;

/// One piece of a digit group: a run of digits or a thousands separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// `n` digits; `zero` when the run starts with `0` (padded with zeros
    /// when formatting, and must be filled exactly when parsing).
    Digits {
        n: usize,
        zero: bool,
    },
    Separator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Group(Vec<Piece>),
    Point,
    Dollar,
    /// `S`: `+` or `-`.
    PlusMinus,
    /// `MI`: `-` or a space.
    Minus,
    /// `PR`: `<` before, `>` after a negative number.
    Open,
    Close,
    Other(char),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Group(_) => "digit sequence".into(),
            Token::Point => "decimal point".into(),
            Token::Dollar => "dollar sign '$'".into(),
            Token::PlusMinus => "optional sign 'S'".into(),
            Token::Minus => "optional minus sign 'MI'".into(),
            Token::Open | Token::Close => "'PR'".into(),
            Token::Other(c) => format!("character '{c}'"),
        }
    }

    fn digits(&self) -> usize {
        match self {
            Token::Group(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Digits { n, .. } => *n,
                    Piece::Separator => 0,
                })
                .sum(),
            _ => 0,
        }
    }
}

/// A checked number format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFormat {
    text: String,
    tokens: Vec<Token>,
    /// How many digits the format has.
    pub precision: usize,
    /// How many of them follow the decimal point.
    pub scale: usize,
}

fn tokens_of(format: &str) -> Vec<Token> {
    let chars: Vec<char> = format.to_uppercase().chars().collect();
    let mut raw = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '0' | '9' => {
                let start = i;
                while i < chars.len() && matches!(chars[i], '0' | '9') {
                    i += 1;
                }
                raw.push(Token::Group(vec![Piece::Digits {
                    n: i - start,
                    zero: c == '0',
                }]));
                continue;
            }
            '.' | 'D' => raw.push(Token::Point),
            ',' | 'G' => raw.push(Token::Group(vec![Piece::Separator])),
            '$' => raw.push(Token::Dollar),
            'S' => raw.push(Token::PlusMinus),
            'M' if chars.get(i + 1) == Some(&'I') => {
                raw.push(Token::Minus);
                i += 1;
            }
            'P' if chars.get(i + 1) == Some(&'R') => {
                // The brackets wrap the whole number.
                raw.insert(0, Token::Open);
                raw.push(Token::Close);
                i += 1;
            }
            other => raw.push(Token::Other(other)),
        }
        i += 1;
    }
    // Adjacent digit runs and separators make one group.
    let mut tokens: Vec<Token> = Vec::new();
    for t in raw {
        match (tokens.last_mut(), t) {
            (Some(Token::Group(pieces)), Token::Group(more)) => pieces.extend(more),
            (_, t) => tokens.push(t),
        }
    }
    tokens
}

impl NumberFormat {
    /// Parses and checks `format` as Spark does, with Spark's error class in
    /// the message of a bad one.
    pub fn parse(format: &str) -> Result<Self> {
        let tokens = tokens_of(format);
        let upper = format.to_uppercase();
        let bad = |class: &str, why: &str| {
            exec_err!("[INVALID_FORMAT.{class}] The format is invalid: '{upper}'. {why}")
        };
        if format.is_empty() {
            return bad("EMPTY", "The number format string cannot be empty.");
        }
        if !tokens.iter().any(|t| matches!(t, Token::Group(_))) {
            return bad(
                "WRONG_NUM_DIGIT",
                "The format string requires at least one number digit.",
            );
        }
        let count = |want: &Token| tokens.iter().filter(|t| *t == want).count();
        for (token, name) in [
            (Token::Point, ". or D"),
            (Token::PlusMinus, "S"),
            (Token::Dollar, "$"),
            (Token::Minus, "MI"),
        ] {
            if count(&token) > 1 {
                return bad(
                    "WRONG_NUM_TOKEN",
                    &format!("At most one {name} is allowed in the number format."),
                );
            }
        }
        if count(&Token::Close) > 1
            || (count(&Token::Close) == 1 && tokens.last() != Some(&Token::Close))
        {
            return bad(
                "WRONG_NUM_TOKEN",
                "At most one PR is allowed, at the end of the number format.",
            );
        }
        let position = |f: &dyn Fn(&Token) -> bool| tokens.iter().position(f);
        let dollar = position(&|t| *t == Token::Dollar);
        let first_digit = position(&|t| matches!(t, Token::Group(_)));
        let point = position(&|t| *t == Token::Point);
        if let Some(dollar) = dollar {
            if first_digit.is_some_and(|d| d < dollar) {
                return bad(
                    "CUR_MUST_BEFORE_DIGIT",
                    "Currency characters must appear before digits in the number format.",
                );
            }
            if point.is_some_and(|p| p < dollar) {
                return bad(
                    "CUR_MUST_BEFORE_DEC",
                    "Currency characters must appear before any decimal point in the number format.",
                );
            }
        }
        for (i, t) in tokens.iter().enumerate() {
            let Token::Group(pieces) = t else { continue };
            let after_point = point.is_some_and(|p| i > p);
            let separators = pieces.iter().filter(|p| **p == Piece::Separator).count();
            if after_point && separators > 0 {
                return bad(
                    "THOUSANDS_SEPS_MUST_BEFORE_DEC",
                    "Thousands separators (, or G) may not appear after the decimal point in the number format.",
                );
            }
            let loose = pieces.iter().enumerate().any(|(j, p)| {
                *p == Piece::Separator
                    && (j == 0
                        || j == pieces.len() - 1
                        || pieces[j - 1] == Piece::Separator
                        || pieces[j + 1] == Piece::Separator)
            });
            if loose {
                return bad(
                    "CONT_THOUSANDS_SEPS",
                    "Thousands separators (, or G) must have digits in between them in the number format.",
                );
            }
        }
        // The order Spark allows, each slot at most once.
        let slots: [&dyn Fn(&Token) -> bool; 8] = [
            &|t| *t == Token::Open,
            &|t| matches!(t, Token::Minus | Token::PlusMinus),
            &|t| *t == Token::Dollar,
            &|t| matches!(t, Token::Group(_)),
            &|t| *t == Token::Point,
            &|t| matches!(t, Token::Group(_)),
            &|t| *t == Token::Dollar,
            &|t| matches!(t, Token::Minus | Token::PlusMinus | Token::Close),
        ];
        let mut at = 0;
        for slot in slots {
            if tokens.get(at).is_some_and(slot) {
                at += 1;
            }
        }
        if let Some(t) = tokens.get(at) {
            return bad(
                "UNEXPECTED_TOKEN",
                &format!(
                    "Found the unexpected {} in the format string; the structure of the format string must match: `[MI|S]` `[$]` `[0|9|G|,]*` `[.|D]` `[0|9]*` `[$]` `[PR|MI|S]`.",
                    t.describe()
                ),
            );
        }
        let precision = tokens.iter().map(Token::digits).sum();
        let scale = point
            .map(|p| tokens[p..].iter().map(Token::digits).sum())
            .unwrap_or(0);
        if precision > 38 {
            return exec_err!(
                "number format '{format}' has {precision} digits; a DECIMAL holds at most 38"
            );
        }
        Ok(NumberFormat {
            text: format.to_string(),
            tokens,
            precision,
            scale,
        })
    }

    fn groups(&self) -> (Option<&[Piece]>, usize) {
        let point = self.tokens.iter().position(|t| *t == Token::Point);
        let int = self.tokens.iter().enumerate().find_map(|(i, t)| match t {
            Token::Group(p) if point.is_none_or(|pt| i < pt) => Some(p.as_slice()),
            _ => None,
        });
        (int, self.scale)
    }

    /// `number` shown with this format: a sign, the digits before the
    /// point (no leading zeros) and after it (no trailing zeros). Digits
    /// that do not fit turn every digit of the answer into `#`.
    pub fn format(&self, negative: bool, int_digits: &str, frac_digits: &str) -> String {
        let (int_group, frac_width) = self.groups();
        let int_width: usize = int_group
            .map(|g| Token::Group(g.to_vec()).digits())
            .unwrap_or(0);
        let overflow = int_digits.len() > int_width || frac_digits.len() > frac_width;
        let mut out = String::new();
        // A sign before the digits goes right before the first digit.
        let mut pending: Option<&str> = None;
        let mut point_seen = false;
        let first_number = self
            .tokens
            .iter()
            .position(|t| matches!(t, Token::Group(_) | Token::Point))
            .unwrap_or(0);
        for (i, token) in self.tokens.iter().enumerate() {
            let leading = i < first_number;
            match token {
                Token::Open => pending = negative.then_some("<"),
                Token::PlusMinus if leading => pending = Some(if negative { "-" } else { "+" }),
                Token::Minus if leading => pending = Some(if negative { "-" } else { " " }),
                Token::Dollar => {
                    if let Some(p) = pending.take() {
                        out.push_str(p);
                    }
                    out.push('$');
                }
                Token::Group(pieces) if !point_seen => {
                    let group = int_group_text(pieces, int_digits, overflow);
                    let spaces = group.len() - group.trim_start_matches(' ').len();
                    out.push_str(&group[..spaces]);
                    if let Some(p) = pending.take() {
                        out.push_str(p);
                    }
                    out.push_str(&group[spaces..]);
                }
                Token::Group(_) => {
                    for i in 0..frac_width {
                        out.push(match frac_digits.as_bytes().get(i) {
                            _ if overflow => '#',
                            Some(d) => *d as char,
                            None => '0',
                        });
                    }
                }
                Token::Point => {
                    if let Some(p) = pending.take() {
                        out.push_str(p);
                    }
                    // No digit before the point shows as 0 (`0.5`, not ` .5`).
                    if out.ends_with(' ') {
                        out.pop();
                        out.push('0');
                    }
                    out.push('.');
                    point_seen = true;
                }
                Token::PlusMinus => {
                    strip_lone_point(&mut out);
                    push_sign(&mut out, if negative { '-' } else { '+' });
                }
                Token::Minus => {
                    if negative {
                        strip_lone_point(&mut out);
                        push_sign(&mut out, '-');
                    } else {
                        out.push(' ');
                    }
                }
                Token::Close => {
                    strip_lone_point(&mut out);
                    if negative {
                        push_sign(&mut out, '>');
                    } else {
                        out.push_str("  ");
                    }
                }
                Token::Other(_) => {}
            }
        }
        if let Some(p) = pending {
            out.push_str(p);
        }
        strip_lone_point(&mut out);
        out
    }

    /// Reads `text` with this format: the unscaled value of a DECIMAL of
    /// the format's precision and scale, `None` when `text` does not match.
    pub fn read(&self, text: &str) -> Option<i128> {
        let input: Vec<char> = text.trim().chars().collect();
        let mut at = 0;
        let mut negative = false;
        let mut opened = false;
        let mut point_seen = false;
        let mut int_digits = String::new();
        let mut frac_digits = String::new();
        for token in &self.tokens {
            let next = input.get(at).copied();
            match token {
                Token::Group(pieces) if !point_seen => {
                    let start = at;
                    while input
                        .get(at)
                        .is_some_and(|c| c.is_ascii_digit() || *c == ',')
                    {
                        at += 1;
                    }
                    let read: String = input[start..at].iter().collect();
                    if !groups_match(pieces, &read) {
                        return None;
                    }
                    int_digits = read.replace(',', "");
                }
                Token::Group(_) => {
                    let start = at;
                    while input.get(at).is_some_and(|c| c.is_ascii_digit()) {
                        at += 1;
                    }
                    if at - start > self.scale {
                        return None;
                    }
                    frac_digits = input[start..at].iter().collect();
                }
                Token::Point => {
                    if next == Some('.') {
                        at += 1;
                    }
                    point_seen = true;
                }
                Token::Dollar => match next {
                    Some('$') => at += 1,
                    Some(_) => return None,
                    None => {}
                },
                Token::PlusMinus => match next {
                    Some('+') => at += 1,
                    Some('-') => {
                        negative = !negative;
                        at += 1;
                    }
                    _ => {}
                },
                Token::Minus => {
                    if next == Some('-') {
                        negative = !negative;
                        at += 1;
                    }
                }
                Token::Open => {
                    if next == Some('<') {
                        opened = true;
                        negative = !negative;
                        at += 1;
                    }
                }
                Token::Close => match next {
                    Some('>') if opened => at += 1,
                    _ if opened => return None,
                    _ => {}
                },
                Token::Other(_) => return None,
            }
        }
        if at < input.len() || (int_digits.is_empty() && frac_digits.is_empty()) {
            return None;
        }
        let mut digits = int_digits;
        digits.push_str(&format!("{frac_digits:0<width$}", width = self.scale));
        let value: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some(if negative { -value } else { value })
    }

    /// The format as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The digits before the point, right-aligned in the group's positions.
fn int_group_text(pieces: &[Piece], digits: &str, overflow: bool) -> String {
    let width: usize = Token::Group(pieces.to_vec()).digits();
    let offset = width.saturating_sub(digits.len());
    let digits = digits.as_bytes();
    let mut out = String::new();
    let mut position = 0;
    for piece in pieces {
        match piece {
            Piece::Digits { n, zero } => {
                for _ in 0..*n {
                    out.push(if overflow {
                        '#'
                    } else if position < offset {
                        if *zero {
                            '0'
                        } else {
                            ' '
                        }
                    } else {
                        digits.get(position - offset).map_or(' ', |d| *d as char)
                    });
                    position += 1;
                }
            }
            // A separator shows only after a digit (not after padding).
            Piece::Separator => out.push(if out.ends_with(|c: char| c.is_ascii_digit()) {
                ','
            } else {
                ' '
            }),
        }
    }
    out
}

/// Whether the digits and commas `read` fit the group `pieces`: compared
/// from the right, each run of digits no longer than the format's (as
/// long, for a run starting with `0`).
fn groups_match(pieces: &[Piece], read: &str) -> bool {
    let wanted: Vec<(usize, bool)> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Digits { n, zero } => Some((*n, *zero)),
            Piece::Separator => None,
        })
        .collect();
    let got: Vec<usize> = read.split(',').map(str::len).collect();
    if got.len() > wanted.len() {
        return false;
    }
    got.iter()
        .rev()
        .zip(wanted.iter().rev())
        .all(|(g, (n, zero))| if *zero { g == n } else { g <= n })
}

fn strip_lone_point(out: &mut String) {
    if out.ends_with('.') {
        out.pop();
        out.push(' ');
    }
}

/// Appends a trailing sign, taking the place of a trailing space.
fn push_sign(out: &mut String, sign: char) {
    if out.ends_with(' ') {
        out.pop();
        out.push(sign);
        out.push(' ');
    } else {
        out.push(sign);
    }
}

/// The sign, digits before and after the point of a decimal's unscaled
/// `value` at `scale`, without leading or trailing zeros.
pub fn decimal_digits(value: i128, scale: usize) -> (bool, String, String) {
    let text = value.unsigned_abs().to_string();
    let text = format!("{text:0>width$}", width = scale + 1);
    let (int, frac) = text.split_at(text.len() - scale);
    (
        value < 0,
        int.trim_start_matches('0').to_string(),
        frac.trim_end_matches('0').to_string(),
    )
}

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let date_format = crate::datetime::functions()
        .into_iter()
        .find(|f| f.name() == "date_format");
    let mut out = vec![
        Arc::new(ScalarUDF::new_from_impl(ToNumber::new(false))),
        Arc::new(ScalarUDF::new_from_impl(ToNumber::new(true))),
    ];
    if let Some(date_format) = date_format {
        out.push(Arc::new(ScalarUDF::new_from_impl(ToChar {
            date_format,
            aliases: vec!["to_varchar".to_string()],
            signature: Signature::user_defined(Volatility::Immutable),
        })));
    }
    out
}

/// The format of one row, parsed once while it stays the same.
#[derive(Default)]
struct FormatCache(Option<NumberFormat>);

impl FormatCache {
    fn get(&mut self, text: &str) -> Result<&NumberFormat> {
        if self.0.as_ref().map(NumberFormat::text) != Some(text) {
            self.0 = Some(NumberFormat::parse(text)?);
        }
        match &self.0 {
            Some(f) => Ok(f),
            None => exec_err!("number format '{text}' could not be parsed"),
        }
    }
}

/// `to_char(expr, format)` (alias `to_varchar`): a number shown with a
/// number format, a date or timestamp with a date-time pattern (Kiln's
/// `date_format`), a binary value as `hex`, `base64` or `utf-8` text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    date_format: Arc<ScalarUDF>,
    aliases: Vec<String>,
    signature: Signature,
}

fn is_date_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, _] = arg_types else {
            return exec_err!("to_char takes 2 arguments, got {}", arg_types.len());
        };
        let value = match value {
            t if is_date_time(t) || t.is_numeric() || *t == DataType::Null => t.clone(),
            t if is_binary(t) => DataType::Binary,
            // Spark reads a string as a DECIMAL(38,18).
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                DataType::Decimal128(38, 18)
            }
            t => return exec_err!("to_char: the first argument must be a number, a date, a timestamp or a binary value, got {t}"),
        };
        Ok(vec![value, DataType::Utf8])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value_type = args
            .args
            .first()
            .map(|a| a.data_type())
            .unwrap_or(DataType::Null);
        if is_date_time(&value_type) {
            return self.date_format.invoke_with_args(args);
        }
        let ansi = args.config_options.execution.enable_ansi_mode;
        let input = Arrays::new(&args.args, args.number_rows)?;
        let formats = cast(&input.arrays[1], &DataType::Utf8)?;
        let formats = formats.as_string::<i32>();
        let value = &input.arrays[0];
        let mut out = StringBuilder::new();
        if is_binary(&value_type) {
            let bytes = value.as_binary::<i32>();
            for row in 0..input.rows {
                if bytes.is_null(row) || formats.is_null(row) {
                    out.append_null();
                } else {
                    let text = crate::binary::binary_to_char(bytes.value(row), formats.value(row))?;
                    out.append_value(text);
                }
            }
            return input.answer(Arc::new(out.finish()));
        }
        let digits = number_digits(value, ansi)?;
        let mut cache = FormatCache::default();
        for (row, digits) in digits.iter().enumerate() {
            let (Some((negative, int, frac)), false) = (digits, formats.is_null(row)) else {
                out.append_null();
                continue;
            };
            let format = cache.get(formats.value(row))?;
            out.append_value(format.format(*negative, int, frac));
        }
        input.answer(Arc::new(out.finish()))
    }
}

type Digits = Option<(bool, String, String)>;

/// Sign and digits of each number of `a`, as the DECIMAL Spark converts it
/// to (a DOUBLE to DECIMAL(30,15), a FLOAT to DECIMAL(14,7)).
fn number_digits(a: &ArrayRef, ansi: bool) -> Result<Vec<Digits>> {
    let floating = |text: Option<String>, places: usize| -> Result<Digits> {
        let Some(text) = text else { return Ok(None) };
        let rounded = float_digits(&text, places);
        match rounded {
            Some(d) => Ok(Some(d)),
            None if ansi => exec_err!(
                "[NUMERIC_VALUE_OUT_OF_RANGE] to_char: {text} cannot be represented as Decimal({}, {places}) (set spark.sql.ansi.enabled=false for NULL instead)",
                places * 2
            ),
            None => Ok(None),
        }
    };
    match a.data_type() {
        DataType::Null => Ok(vec![None; a.len()]),
        DataType::Float64 | DataType::Float16 => {
            let f = cast(a, &DataType::Float64)?;
            let f = f.as_primitive::<Float64Type>();
            (0..f.len())
                .map(|i| floating((!f.is_null(i)).then(|| f.value(i).to_string()), 15))
                .collect()
        }
        DataType::Float32 => {
            let f = a.as_primitive::<Float32Type>();
            (0..f.len())
                .map(|i| floating((!f.is_null(i)).then(|| f.value(i).to_string()), 7))
                .collect()
        }
        DataType::Decimal128(_, scale) => {
            let scale = (*scale).max(0) as usize;
            let d = a.as_primitive::<Decimal128Type>();
            Ok((0..d.len())
                .map(|i| (!d.is_null(i)).then(|| decimal_digits(d.value(i), scale)))
                .collect())
        }
        DataType::Decimal256(_, scale)
        | DataType::Decimal64(_, scale)
        | DataType::Decimal32(_, scale) => {
            let d = cast(a, &DataType::Decimal128(38, *scale))?;
            number_digits(&d, ansi)
        }
        t if t.is_integer() => {
            let d = cast(a, &DataType::Decimal128(38, 0))?;
            number_digits(&d, ansi)
        }
        t => exec_err!("to_char: cannot format a value of type {t} as a number"),
    }
}

/// The digits of a float's shortest text `text` rounded half up to
/// `places` decimals; `None` when it has more than `places` digits before
/// the point (or is not finite).
fn float_digits(text: &str, places: usize) -> Option<(bool, String, String)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(places)).collect();
    digits.extend(std::iter::repeat_n(b'0', places.saturating_sub(frac.len())));
    if frac.as_bytes().get(places).is_some_and(|d| *d >= b'5') {
        // Carry the rounding up through the digits.
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let text = String::from_utf8(digits).ok()?;
    let (int, frac) = text.split_at(text.len() - places);
    let int = int.trim_start_matches('0');
    if int.len() > places {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let zero = int.is_empty() && frac.is_empty();
    Some((negative && !zero, int.to_string(), frac.to_string()))
}

/// `to_number(str, format)`: the DECIMAL `str` shows in `format` (of the
/// format's precision and scale); text that does not match is Spark's
/// `INVALID_FORMAT.MISMATCH_INPUT` error whatever the ANSI mode, and NULL
/// for `try_to_number`. The format must be a literal: it decides the type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToNumber {
    try_: bool,
    signature: Signature,
}

impl ToNumber {
    fn new(try_: bool) -> Self {
        ToNumber {
            try_,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The text of a literal format; `Ok(None)` for a NULL one.
fn literal_format<'a>(name: &str, format: Option<&'a ScalarValue>) -> Result<Option<&'a str>> {
    match format {
        Some(s) if s.is_null() => Ok(None),
        Some(s) => match s.try_as_str().flatten() {
            Some(text) => Ok(Some(text)),
            None => exec_err!("{name}: the format must be a string, got {s}"),
        },
        None => exec_err!("{name}: the format must be a literal"),
    }
}

impl ScalarUDFImpl for ToNumber {
    fn name(&self) -> &str {
        if self.try_ {
            "try_to_number"
        } else {
            "to_number"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return exec_err!("{} takes 2 arguments, got {}", self.name(), arg_types.len());
        }
        // A NULL format stays a NULL literal, so its type can be read.
        let format = if arg_types[1] == DataType::Null {
            DataType::Null
        } else {
            DataType::Utf8
        };
        Ok(vec![DataType::Utf8, format])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(10, 0))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let format = literal_format(self.name(), args.scalar_arguments.get(1).copied().flatten())?;
        let t = match format {
            Some(f) => {
                let f = NumberFormat::parse(f)?;
                DataType::Decimal128(f.precision as u8, f.scale as i8)
            }
            // Spark's type for a NULL format.
            None => DataType::Decimal128(10, 0),
        };
        Ok(Arc::new(Field::new(self.name(), t, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let format = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => literal_format(self.name(), Some(s))?,
            _ => return exec_err!("{}: the format must be a literal", self.name()),
        };
        let format = format.map(NumberFormat::parse).transpose()?;
        let input = Arrays::new(&args.args[..1], args.number_rows)?;
        let text = input.arrays[0].as_string::<i32>();
        let (precision, scale) = format
            .as_ref()
            .map_or((10, 0), |f| (f.precision as u8, f.scale as i8));
        let mut out = Decimal128Builder::with_capacity(text.len())
            .with_precision_and_scale(precision, scale)?;
        for row in 0..text.len() {
            let Some(format) = format.as_ref().filter(|_| !text.is_null(row)) else {
                out.append_null();
                continue;
            };
            match format.read(text.value(row)) {
                Some(v) => out.append_value(v),
                None if self.try_ => out.append_null(),
                None => {
                    return exec_err!(
                        "[INVALID_FORMAT.MISMATCH_INPUT] The input '{}' does not match the format '{}'.",
                        text.value(row),
                        format.text()
                    )
                }
            }
        }
        input.answer(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{column_type, query, query_err, query_with};

    fn show(value: i128, scale: usize, format: &str) -> String {
        let (n, i, f) = decimal_digits(value, scale);
        NumberFormat::parse(format).unwrap().format(n, &i, &f)
    }

    #[test]
    fn formats_as_spark() {
        // Spark 4.2.1 runs and charvarchar.sql.out, postgreSQL/int8.sql.out.
        let cases: &[(i128, usize, &str, &str)] = &[
            (7812, 2, "$99.99", "$78.12"),
            (11111, 2, "99.9", "##.#"),
            (124548, 1, "99,999.9S", "12,454.8+"),
            (454, 0, "99999", "  454"),
            (454, 0, "00000", "00454"),
            (-454, 0, "999", "454"),
            (-454, 0, "S999", "-454"),
            (1456, 3, "9.99", "#.##"),
            (5, 1, "9.99", "0.50"),
            (0, 0, "9", " "),
            (0, 0, "99.9", " 0.0"),
            (123, 0, "9G99", "1,23"),
            (1234, 0, "9,999,999", "    1,234"),
            (12, 0, "0,000", "0,012"),
            (-12, 0, "99MI", "12-"),
            (12, 0, "99MI", "12 "),
            (-12, 0, "MI99", "-12"),
            (-12, 0, "999PR", " <12>"),
            (12, 0, "999PR", " 12  "),
            (125, 1, "$999D99", "$ 12.50"),
            (1234, 0, "9,99", "# ##"),
            (12, 0, "$9,999", "$   12"),
            (-12, 0, "S$999", "-$ 12"),
            (-12, 0, "$999PR", "<$ 12>"),
            (-12, 0, "$999MI", "$ 12-"),
            (1, 1, ".9", ".1"),
            (5, 0, "9.", "5 "),
            (5, 0, "9.S", "5+ "),
            (5, 0, "90", " 5"),
            (5, 0, "9099", "   5"),
            (5, 0, "0099", "0005"),
            (-11111, 2, "99.9PR", "<##.#>"),
            (-5, 1, "S9.9", " -.5"),
            (-5, 1, "9.9PR", " <.5>"),
            (-5, 1, "9.9S", "0.5-"),
            (-5, 0, "9999PR", "   <5>"),
            (-5, 0, "0000PR", "<0005>"),
            (5, 0, "MI9999", "    5"),
            (-5, 0, "MI9999", "   -5"),
            (-1234, 0, "S9,999,999", "    -1,234"),
            (
                -4567890123456789,
                0,
                "9999999999999999S",
                "4567890123456789-",
            ),
        ];
        for (value, scale, format, want) in cases {
            assert_eq!(&show(*value, *scale, format), want, "{value} {format}");
        }
    }

    #[test]
    fn rejects_formats_as_spark() {
        for (format, class) in [
            ("", "EMPTY"),
            ("abc", "WRONG_NUM_DIGIT"),
            ("99.99.9", "WRONG_NUM_TOKEN"),
            ("999$", "CUR_MUST_BEFORE_DIGIT"),
            ("G99", "CONT_THOUSANDS_SEPS"),
            ("999G", "CONT_THOUSANDS_SEPS"),
            ("99G999G999D999G999", "THOUSANDS_SEPS_MUST_BEFORE_DEC"),
            ("$S999", "UNEXPECTED_TOKEN"),
        ] {
            let e = NumberFormat::parse(format).unwrap_err().to_string();
            assert!(e.contains(class), "{format}: {e}");
        }
    }

    #[test]
    fn reads_as_spark() {
        // Spark 4.2.1 runs and string-functions.sql.out, postgreSQL/numeric.sql.out.
        let cases: &[(&str, &str, Option<i128>)] = &[
            ("454", "999", Some(454)),
            ("45", "999", Some(45)),
            ("4545", "999", None),
            ("45", "000", None),
            (" 454", "999", Some(454)),
            ("", "999", None),
            ("1,234", "9,999", Some(1234)),
            ("1234", "9,999", None),
            ("1,2", "9,999", Some(12)),
            ("12,345", "9,999", None),
            ("5.", "9.9", Some(50)),
            (".5", "9.9", Some(5)),
            ("5", "9.9", Some(50)),
            ("5.55", "9.9", None),
            ("$5", "$9", Some(5)),
            ("5", "$9", None),
            ("-5", "9", None),
            ("5-", "9S", Some(-5)),
            ("12", "0999", None),
            ("12", "9099", Some(12)),
            ("<5>", "9PR", Some(-5)),
            ("5", "9PR", Some(5)),
            ("<5", "9PR", None),
            ("-$5", "S$9", Some(-5)),
            ("$-5", "S$9", None),
            ("12,454.8-", "00,000.9MI", Some(-124548)),
            ("<00,454.8>", "00,000.9PR", Some(-4548)),
            ("1,2,3", "9,9,9", Some(123)),
            ("1,23", "9,9,9", None),
            (",123", "9,999", Some(123)),
            ("0.00001-", "9.999999S", Some(-10)),
            ("34,50", "999,99", Some(3450)),
            ("123456", "999G999", None),
        ];
        for (text, format, want) in cases {
            assert_eq!(
                NumberFormat::parse(format).unwrap().read(text),
                *want,
                "{text} {format}"
            );
        }
        let f = NumberFormat::parse("00,000.9MI").unwrap();
        assert_eq!((f.precision, f.scale), (6, 1));
    }

    #[test]
    fn to_char_and_to_number_run_as_spark() {
        // charvarchar.sql.out, string-functions.sql.out and Spark 4.2.1 runs.
        for (sql, want) in [
            ("to_varchar(78.12, '$99.99')", "$78.12"),
            ("to_char(111.11, '99.9')", "##.#"),
            ("to_char(cast(12454.8 as double), '99,999.9S')", "12,454.8+"),
            ("to_char(cast(1.5 as double), '9.9')", "1.5"),
            ("to_char(cast(1.25 as double), '9.9')", "#.#"),
            ("to_char(cast(0.1 as double), '9.99')", "0.10"),
            ("to_char(cast(1.5 as float), '9.9')", "1.5"),
            ("to_char(cast(5 as tinyint), '99')", " 5"),
            (
                "to_char(cast(-4567890123456789 as bigint), '9999999999999999.999PR')",
                "<4567890123456789.000>",
            ),
            ("to_char('12', '999')", " 12"),
            ("to_char(date '2016-04-08', 'yyyy-MM-dd')", "2016-04-08"),
            (
                "to_char(cast('2016-04-08 10:11:12' as timestamp), 'yyyy HH')",
                "2016 10",
            ),
            ("to_number('454', '000')", "454"),
            ("to_number('12,454.8-', '00,000.9MI')", "-12454.8"),
            ("to_number('$78.12', '$00.00')", "78.12"),
            ("to_number('5', '9.9')", "5.0"),
            ("try_to_number('4545', '999')", "NULL"),
            ("try_to_number(null, '999')", "NULL"),
            ("to_number('1', null)", "NULL"),
        ] {
            assert_eq!(
                query(&format!("select {sql}")),
                vec![want.to_string()],
                "{sql}"
            );
        }
        assert_eq!(
            column_type("select to_number('12,454.8-', '00,000.9MI')"),
            DataType::Decimal128(6, 1)
        );
        for (sql, class) in [
            ("to_number('-34,338,492', '99G999G999')", "MISMATCH_INPUT"),
            ("to_number('123,000','999G')", "CONT_THOUSANDS_SEPS"),
            ("try_to_number('454', 'x')", "WRONG_NUM_DIGIT"),
            ("to_char(12, '999$')", "CUR_MUST_BEFORE_DIGIT"),
            (
                "to_char(cast(1e20 as double), '9.9')",
                "NUMERIC_VALUE_OUT_OF_RANGE",
            ),
        ] {
            let e = query_err(&format!("select {sql}"));
            assert!(e.contains(class), "{sql}: {e}");
        }
        // The same mismatch outside ANSI mode: still an error in Spark.
        let e = crate::test_support::query_err_with("select to_number('4545', '999')", false);
        assert!(e.contains("MISMATCH_INPUT"), "{e}");
        assert_eq!(
            query_with("select to_char(cast(1e20 as double), '9.9')", false),
            vec!["NULL"]
        );
    }
}
