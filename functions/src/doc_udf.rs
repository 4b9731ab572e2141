//! The scalar-function shape shared by the document functions (JSON, CSV,
//! XML, VARIANT): a name, a rule for the answer's type (often read from a
//! literal argument, as `from_json`'s schema), and a row-at-a-time body
//! over the arguments as arrays. Also their `options` argument, Spark's
//! `map<string, string>` of reader and writer options.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::Arrays;

/// The answer's type from the arguments' types and their literal values
/// (`None` for a column).
pub type ReturnFn = fn(&str, &[DataType], &[Option<&ScalarValue>]) -> Result<DataType>;

/// The answer for a batch: one value per row of the arguments.
pub type InvokeFn = fn(&Call) -> Result<ArrayRef>;

/// One evaluation of a document function over a batch.
pub struct Call<'a> {
    /// The function's name, for messages.
    pub name: &'a str,
    /// The arguments, as arrays of one length.
    pub args: &'a [ArrayRef],
    /// The answer's type, as [`ReturnFn`] decided it.
    pub return_type: &'a DataType,
    /// The session's settings (time zone, ANSI mode).
    pub config: &'a ConfigOptions,
}

impl Call<'_> {
    /// Argument `i` as strings, or an error naming the function.
    pub fn strings(&self, i: usize) -> Result<Vec<Option<String>>> {
        strings(self.name, self.args.get(i).map(|a| a.as_ref()))
    }

    /// The options of argument `i` (Spark's `map<string,string>`), empty
    /// when the call has none.
    pub fn options(&self, i: usize) -> Result<Options> {
        match self.args.get(i) {
            None => Ok(Options::default()),
            Some(a) => Options::from_array(self.name, a.as_ref()),
        }
    }
}

/// An array of strings (any string type, or NULLs) as owned strings.
pub fn strings(name: &str, a: Option<&dyn Array>) -> Result<Vec<Option<String>>> {
    let Some(a) = a else {
        return exec_err!("`{name}` is missing an argument");
    };
    Ok(match a.data_type() {
        DataType::Utf8 => a
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => a
            .as_string::<i64>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect(),
        DataType::Utf8View => a
            .as_string_view()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect(),
        DataType::Null => vec![None; a.len()],
        other => return exec_err!("`{name}` takes a string here, not {other}"),
    })
}

/// Reader and writer options, keys lower-cased as Spark matches them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options(HashMap<String, String>);

impl Options {
    /// The options in row 0 of a map array (options are one literal map).
    pub fn from_array(name: &str, a: &dyn Array) -> Result<Self> {
        let mut out = HashMap::new();
        match a.data_type() {
            DataType::Map(..) => {
                let map = a.as_map();
                if !map.is_empty() && map.is_valid(0) {
                    let entries = map.value(0);
                    let keys = strings(name, Some(entries.column(0).as_ref()))?;
                    let values = strings(name, Some(entries.column(1).as_ref()))?;
                    for (k, v) in keys.into_iter().zip(values) {
                        if let (Some(k), Some(v)) = (k, v) {
                            out.insert(k.to_ascii_lowercase(), v);
                        }
                    }
                }
            }
            DataType::Null => {}
            other => {
                return exec_err!("`{name}`'s options must be a map<string, string>, not {other}")
            }
        }
        Ok(Options(out))
    }

    /// Refuses a `dateFormat` or `timestampFormat` that Spark's reader
    /// refuses (Spark fails the query, e.g. on `MMMMM`, before reading a
    /// document; reading on would answer NULLs where Spark errs).
    pub fn check_datetime_patterns(&self) -> Result<()> {
        for key in ["dateformat", "timestampformat"] {
            if let Some(pattern) = self.get(key) {
                if let Err(why) = crate::datetime_parse::ParsePattern::new(pattern) {
                    return exec_err!(
                        "option `{key}`: the pattern '{pattern}' cannot be read: {why}"
                    );
                }
            }
        }
        Ok(())
    }

    /// The option `key` (lower case).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A true/false option, `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(default)
    }
}

/// The string of a literal argument, or a planning error saying what the
/// argument must be.
pub fn literal_string(
    name: &str,
    what: &str,
    arg: Option<&Option<&ScalarValue>>,
) -> Result<String> {
    match arg.copied().flatten() {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Ok(s.clone()),
        _ => plan_err!("`{name}`'s {what} must be a string literal"),
    }
}

/// A document function ([`Call`]).
pub struct DocUdf {
    name: &'static str,
    signature: Signature,
    returns: ReturnFn,
    invoke: InvokeFn,
}

impl DocUdf {
    /// The function `name` with its type rule and body.
    pub fn udf(name: &'static str, returns: ReturnFn, invoke: InvokeFn) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(DocUdf {
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
            returns,
            invoke,
        }))
    }
}

impl std::fmt::Debug for DocUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocUdf").field("name", &self.name).finish()
    }
}

// Functions are one per name: the name identifies the body.
impl PartialEq for DocUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for DocUdf {}

impl Hash for DocUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for DocUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let none: Vec<Option<&ScalarValue>> = vec![None; arg_types.len()];
        (self.returns)(self.name, arg_types, &none)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let t = (self.returns)(self.name, &types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name, t, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = Arrays::new(&args.args, args.number_rows)?;
        let call = Call {
            name: self.name,
            args: &arrays.arrays,
            return_type: args.return_field.data_type(),
            config: &args.config_options,
        };
        let out = (self.invoke)(&call)?;
        arrays.answer(out)
    }
}

/// Checks the argument count is within `min..=max`.
pub fn arity(name: &str, types: &[DataType], min: usize, max: usize) -> Result<()> {
    if types.len() < min || types.len() > max {
        let wanted = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return plan_err!("`{name}` takes {wanted} arguments, not {}", types.len());
    }
    Ok(())
}
