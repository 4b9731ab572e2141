//! Spark's implicit casts of function arguments where the function's own
//! signature refuses them: `left('abcd', '2')` (a string length),
//! `contains(12, '1')` and `startswith(x'53', x'')` (numbers, booleans and
//! binaries as strings), `next_day('2015-07-23', 'Mon')` (a string or a
//! timestamp as a DATE), `add_months('2015-04-08', 1L)` (a DATE and an
//! INT), `factorial(id)` (an INT), `upper(1)` (a string).
//!
//! DataFusion checks a call's argument types while it plans the call,
//! before any analyzer rule could insert a cast, so the cast has to come
//! from the function: [`SparkArguments`] wraps the function with a
//! signature that names the types Spark casts to, and DataFusion's type
//! coercion then inserts the casts. Execution is the wrapped function's.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// How a function's arguments are cast, by the function's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rule {
    /// `left`, `right`: a string, then a BIGINT length.
    StringAndLength,
    /// `contains`, `starts_with`, `ends_with`: every argument a string.
    Strings,
    /// `next_day`: a DATE, then a string.
    DateAndString,
    /// `last_day`, `monthname`: a DATE.
    Date,
    /// `add_months`: a DATE, then an INT.
    DateAndInt,
    /// `factorial`: an INT.
    Int,
}

const WRAPPED: &[(&str, Rule)] = &[
    ("left", Rule::StringAndLength),
    ("right", Rule::StringAndLength),
    ("contains", Rule::Strings),
    ("starts_with", Rule::Strings),
    ("ends_with", Rule::Strings),
    ("next_day", Rule::DateAndString),
    ("upper", Rule::Strings),
    ("lower", Rule::Strings),
    ("last_day", Rule::Date),
    ("monthname", Rule::Date),
    ("add_months", Rule::DateAndInt),
    ("factorial", Rule::Int),
];

/// A function whose arguments are cast as Spark casts them.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SparkArguments {
    inner: Arc<ScalarUDF>,
    rule: Rule,
    signature: Signature,
}

/// The functions of [`WRAPPED`], each the last of that name in `registry`
/// (datafusion-spark's before DataFusion's), wrapped.
pub fn wrap(registry: &[Arc<ScalarUDF>]) -> Vec<Arc<ScalarUDF>> {
    WRAPPED
        .iter()
        .filter_map(|(name, rule)| {
            let inner = registry.iter().rev().find(|f| f.name() == *name)?;
            let signature = Signature::user_defined(inner.signature().volatility);
            Some(Arc::new(ScalarUDF::new_from_impl(SparkArguments {
                inner: inner.clone(),
                rule: *rule,
                signature,
            })))
        })
        .collect()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `t` as a string argument: strings as they are, anything else a STRING
/// (Spark casts numbers, booleans, binaries and NULLs).
fn as_string(t: &DataType) -> DataType {
    if is_string(t) {
        t.clone()
    } else {
        DataType::Utf8
    }
}

/// `t` as a DATE argument: strings, timestamps and NULLs become DATEs
/// (Spark casts them); anything else stays for the function to refuse.
fn as_date(t: &DataType) -> DataType {
    if is_string(t) || t.is_null() || matches!(t, DataType::Timestamp(_, _)) {
        DataType::Date32
    } else {
        t.clone()
    }
}

impl ScalarUDFImpl for SparkArguments {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let mut types: Vec<DataType> = arg_types.to_vec();
        match self.rule {
            Rule::Strings => types = types.iter().map(as_string).collect(),
            Rule::StringAndLength => {
                if let Some(t) = types.first_mut() {
                    *t = as_string(t);
                }
                if let Some(t) = types.get_mut(1) {
                    *t = DataType::Int64;
                }
            }
            Rule::DateAndString | Rule::Date | Rule::DateAndInt => {
                if let Some(t) = types.first_mut() {
                    *t = as_date(t);
                }
                if let Some(t) = types.get_mut(1) {
                    *t = match self.rule {
                        Rule::DateAndString => as_string(t),
                        Rule::DateAndInt => DataType::Int32,
                        _ => t.clone(),
                    };
                }
            }
            Rule::Int => {
                if let Some(t) = types.first_mut() {
                    *t = DataType::Int32;
                }
            }
        }
        // What the wrapped function makes of these types (its own
        // coercions, or an error naming its signature).
        let inner = self.inner.signature();
        if matches!(
            inner.type_signature,
            datafusion::logical_expr::TypeSignature::UserDefined
        ) {
            return self.inner.coerce_types(&types);
        }
        Ok(types)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    fn wrapped(name: &str) -> Arc<ScalarUDF> {
        let registry: Vec<_> = datafusion::functions::all_default_functions()
            .into_iter()
            .chain(datafusion_spark::all_default_scalar_functions())
            .collect();
        wrap(&registry)
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("{name} is wrapped"))
    }

    #[test]
    fn arguments_take_sparks_types() {
        let left = wrapped("left");
        assert_eq!(
            left.coerce_types(&[DataType::Utf8, DataType::Utf8])
                .unwrap(),
            vec![DataType::Utf8, DataType::Int64]
        );
        let contains = wrapped("contains");
        assert_eq!(
            contains
                .coerce_types(&[DataType::Int64, DataType::Binary])
                .unwrap(),
            vec![DataType::Utf8, DataType::Utf8]
        );
        let next_day = wrapped("next_day");
        assert_eq!(
            next_day
                .coerce_types(&[
                    DataType::Timestamp(TimeUnit::Nanosecond, None),
                    DataType::Utf8
                ])
                .unwrap(),
            vec![DataType::Date32, DataType::Utf8]
        );
        let add_months = wrapped("add_months");
        assert_eq!(
            add_months
                .coerce_types(&[DataType::Utf8, DataType::Int64])
                .unwrap(),
            vec![DataType::Date32, DataType::Int32]
        );
        let factorial = wrapped("factorial");
        assert_eq!(
            factorial.coerce_types(&[DataType::Int64]).unwrap(),
            vec![DataType::Int32]
        );
    }
}
