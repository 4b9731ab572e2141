//! datafusion-spark functions that only plan: they simplify into DataFusion's
//! function of the *same name* (`date_part`, `date_trunc`) and refuse to run.
//!
//! Plans travel to executors with functions named, so an executor decodes
//! the simplified DataFusion `date_part` by name, finds Spark's in its
//! registry and would fail. [`PlansAsSpark`] keeps Spark's planning
//! (signature, types, simplification) and runs as DataFusion's.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// Spark's planning, DataFusion's execution, under one name.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PlansAsSpark {
    spark: Arc<ScalarUDF>,
    standard: Arc<ScalarUDF>,
}

/// The plan-only functions of `spark`, each wrapped with its namesake of
/// `standard` to run.
pub fn wrap(spark: Vec<Arc<ScalarUDF>>, standard: &[Arc<ScalarUDF>]) -> Vec<Arc<ScalarUDF>> {
    const PLAN_ONLY: &[&str] = &["date_part", "date_trunc"];
    spark
        .into_iter()
        .filter(|f| PLAN_ONLY.contains(&f.name()))
        .filter_map(|f| {
            let twin = standard.iter().find(|s| s.name() == f.name())?;
            Some(Arc::new(ScalarUDF::new_from_impl(PlansAsSpark {
                spark: f,
                standard: twin.clone(),
            })))
        })
        .collect()
}

impl ScalarUDFImpl for PlansAsSpark {
    fn name(&self) -> &str {
        self.spark.name()
    }

    fn aliases(&self) -> &[String] {
        self.spark.aliases()
    }

    fn signature(&self) -> &Signature {
        self.spark.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.spark.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.spark.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.spark.coerce_types(arg_types)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.spark.simplify(args, info)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // What reaches execution is DataFusion's form (the driver simplified
        // it before the plan was sent).
        self.standard.invoke_with_args(args)
    }
}
