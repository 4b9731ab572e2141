//! The SQL functions over number formats: `to_char` / `to_varchar` (of a
//! number by a format, of a date-time by `date_format`, of a binary value
//! as hex, base64 or UTF-8) and `to_number` / `try_to_number`.

use super::*;

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
pub(super) struct FormatCache(Option<NumberFormat>);

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
pub(super) struct ToChar {
    date_format: Arc<ScalarUDF>,
    aliases: Vec<String>,
    signature: Signature,
}

pub(super) fn is_date_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

pub(super) fn is_binary(t: &DataType) -> bool {
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
pub(super) fn number_digits(a: &ArrayRef, ansi: bool) -> Result<Vec<Digits>> {
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
pub(super) fn float_digits(text: &str, places: usize) -> Option<(bool, String, String)> {
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
pub(super) struct ToNumber {
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
pub(super) fn literal_format<'a>(
    name: &str,
    format: Option<&'a ScalarValue>,
) -> Result<Option<&'a str>> {
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
