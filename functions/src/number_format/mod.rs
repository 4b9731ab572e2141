//! Spark's `to_char` / `to_varchar`, `to_number` and `try_to_number`, and
//! the number format strings they take (`0 9 . D , G $ S MI PR`): parsing
//! and checking a format, formatting a number with it and reading one.
//!
//! A format is `[MI|S] [$] [0|9|G|,]* [.|D] [0|9]* [$] [PR|MI|S]`, case
//! insensitive. Its digits give the DECIMAL type `to_number` returns: all
//! of them the precision, those after the point the scale. `to_char` of a
//! date or timestamp is `date_format`, of a binary value hex, base64 or
//! UTF-8 text.

mod udfs;

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

pub use udfs::functions;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_selects, column_type, query_err, query_with};

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
        assert_selects(&[
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
        ]);
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
