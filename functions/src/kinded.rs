//! The one `ScalarUDFImpl` of Kiln's plain Spark scalar functions.
//!
//! Most of Kiln's functions are a family under Spark names (`regexp_replace`,
//! `regexp_extract`, ...) that differ only in how they coerce their
//! arguments, what they return and how they run. Such a module describes
//! each function by a small value, its kind, implementing [`Kind`], and
//! registers `(kind, name)` pairs with [`functions`] (or declares an enum
//! of kinds and their names at once with `family!`); this module owns the
//! DataFusion plumbing they share (the name, the signature, the calls).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{not_impl_err, Result};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// What tells the functions of a family apart: how one coerces its
/// arguments, what it returns and how it runs. `name` is the function's
/// Spark name, for messages.
pub(crate) trait Kind: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The function's signature: by default it coerces its own arguments
    /// ([`Kind::coerce_types`]) and answers the same for the same ones.
    fn signature(&self) -> Signature {
        Signature::user_defined(Volatility::Immutable)
    }

    /// Other names the function answers to.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The types `arg_types` are cast to before the function runs, or the
    /// plan error Spark gives for them (asked only of a user-defined
    /// signature).
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        not_impl_err!("{name} does not coerce its arguments ({arg_types:?})")
    }

    /// The type of the answer for arguments of `arg_types`.
    fn return_type(&self, name: &str, arg_types: &[DataType]) -> Result<DataType>;

    /// The answer for `args`.
    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue>;

    /// A call of the function with `args` rewritten while planning, by
    /// default none.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Original(args))
    }
}

/// The functions `(kind, Spark name)` of a family.
pub(crate) fn functions<K: Kind>(
    kinds: impl IntoIterator<Item = (K, &'static str)>,
) -> Vec<Arc<ScalarUDF>> {
    kinds
        .into_iter()
        .map(|(kind, name)| function(kind, name))
        .collect()
}

/// The function of `kind` under its Spark name `name`.
pub(crate) fn function<K: Kind>(kind: K, name: &'static str) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Kinded {
        signature: kind.signature(),
        aliases: kind.aliases().iter().map(|a| a.to_string()).collect(),
        kind,
        name,
    }))
}

/// Whether `t` is a string type (or NULL, which casts to one).
pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// One function of a family: its kind under its Spark name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Kinded<K> {
    kind: K,
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

impl<K: Kind> ScalarUDFImpl for Kinded<K> {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.kind.coerce_types(self.name, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.kind.return_type(self.name, arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.kind.invoke(self.name, args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.kind.simplify(args, info)
    }
}

/// Declares a module's family: its `Kind` enum, one variant a function
/// (`Replace = "regexp_replace",`, doc comments allowed), and the module's
/// `functions()`, each kind under its Spark name. The enum implements
/// [`Kind`] in the module.
macro_rules! family {
    ($($(#[$doc:meta])* $kind:ident = $name:literal,)+) => {
        /// Which function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        enum Kind {
            $($(#[$doc])* $kind,)+
        }

        /// The functions of this module.
        pub fn functions() -> Vec<Arc<ScalarUDF>> {
            $crate::kinded::functions([$((Kind::$kind, $name),)+])
        }
    };
}
pub(crate) use family;
