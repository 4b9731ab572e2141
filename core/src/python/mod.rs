//! Python UDFs as plan nodes, the way Spark runs them (ArrowEvalPython,
//! MapInPandas, FlatMapGroupsInPandas, FlatMapCoGroupsInPandas,
//! AggregateInPandas, WindowInPandas): they travel in stage plans through
//! Kiln's codec and run in whichever stage they land in, on a Python worker
//! process of the executor that runs the task.
//!
//! - this module: a Python function as the client sent it ([`PythonFunction`]),
//!   its eval type, and its stand-ins in expressions ([`PythonScalarUdf`],
//!   [`PythonAggregateUdf`]), which never run themselves.
//! - [`logical`]: the logical node ([`logical::PythonPlan`]).
//! - [`extract`]: the optimizer rule that pulls Python calls out of
//!   projections, filters, joins, sorts, aggregates and windows into
//!   Python nodes (Spark's ExtractPythonUDFs).
//! - [`planner`]: the physical planner of those nodes.
//! - [`exec`]: the physical node ([`exec::PythonExec`]) and [`run`] what one
//!   of its partitions does with a worker (grouping in `groups`).
//! - [`protocol`]: the frames Kiln and its worker script exchange, the
//!   worker pool's interface, and the errors of Python execution.

pub mod exec;
pub mod extract;
mod groups;
pub mod logical;
pub mod planner;
pub mod protocol;
pub mod run;

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Expr, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

/// `spark.sql.execution.arrow.maxRecordsPerBatch`: rows per Arrow batch sent
/// to a Python worker (Spark's default 10000).
pub const MAX_RECORDS_PER_BATCH: &str = "spark.sql.execution.arrow.maxRecordsPerBatch";
/// Default of [`MAX_RECORDS_PER_BATCH`].
pub const DEFAULT_MAX_RECORDS_PER_BATCH: usize = 10_000;

/// A session's Arrow batch size for Python workers ([`MAX_RECORDS_PER_BATCH`]),
/// kept as an extension of its `SessionConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrowBatchSize(pub usize);

/// Spark's `PythonEvalType`s Kiln runs.
pub mod eval_type {
    /// Plain `@udf`, pickled rows.
    pub const BATCHED: i32 = 100;
    /// Plain `@udf`, Arrow-batched (PySpark 4.2's default).
    pub const ARROW_BATCHED: i32 = 101;
    /// `pandas_udf`: Series to Series.
    pub const SCALAR_PANDAS: i32 = 200;
    /// `groupBy().applyInPandas`.
    pub const GROUPED_MAP_PANDAS: i32 = 201;
    /// Grouped-aggregate `pandas_udf`: Series to scalar.
    pub const GROUPED_AGG_PANDAS: i32 = 202;
    /// Grouped-aggregate `pandas_udf` over a window.
    pub const WINDOW_AGG_PANDAS: i32 = 203;
    /// `pandas_udf`: Iterator of Series to Iterator of Series.
    pub const SCALAR_PANDAS_ITER: i32 = 204;
    /// `mapInPandas`.
    pub const MAP_PANDAS_ITER: i32 = 205;
    /// `cogroup().applyInPandas`.
    pub const COGROUPED_MAP_PANDAS: i32 = 206;
    /// `mapInArrow`.
    pub const MAP_ARROW_ITER: i32 = 207;
    /// `groupBy().applyInArrow`.
    pub const GROUPED_MAP_ARROW: i32 = 209;
    /// `cogroup().applyInArrow`.
    pub const COGROUPED_MAP_ARROW: i32 = 210;
    /// `arrow_udf`: Array to Array.
    pub const SCALAR_ARROW: i32 = 250;
    /// `arrow_udf`: Iterator of Arrays.
    pub const SCALAR_ARROW_ITER: i32 = 251;
    /// Grouped-aggregate `arrow_udf`.
    pub const GROUPED_AGG_ARROW: i32 = 252;
    /// Grouped-aggregate `arrow_udf` over a window.
    pub const WINDOW_AGG_ARROW: i32 = 253;

    /// Whether a UDF of this type is called in expressions, row for row.
    pub fn is_scalar(t: i32) -> bool {
        matches!(
            t,
            BATCHED
                | ARROW_BATCHED
                | SCALAR_PANDAS
                | SCALAR_PANDAS_ITER
                | SCALAR_ARROW
                | SCALAR_ARROW_ITER
        )
    }

    /// Whether a scalar UDF of this type takes an iterator of batches.
    pub fn is_iterator(t: i32) -> bool {
        matches!(t, SCALAR_PANDAS_ITER | SCALAR_ARROW_ITER)
    }

    /// Whether a UDF of this type aggregates a group into one value.
    pub fn is_aggregate(t: i32) -> bool {
        matches!(
            t,
            GROUPED_AGG_PANDAS | WINDOW_AGG_PANDAS | GROUPED_AGG_ARROW | WINDOW_AGG_ARROW
        )
    }
}

/// A Python function as the PySpark client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct PythonFunction {
    /// Its name (`<lambda>` for a lambda).
    pub name: String,
    /// The cloudpickled `(function, return type)`, passed to the worker as is.
    pub command: bytes::Bytes,
    /// Spark's `PythonEvalType`.
    pub eval_type: i32,
    /// The client's Python `major.minor`; the worker must run the same.
    pub python_ver: String,
    /// What it returns (a struct for the relation-valued kinds).
    pub return_type: DataType,
    /// Whether it always returns the same value for the same input.
    pub deterministic: bool,
}

/// A Python scalar UDF inside an expression: a stand-in for planning (name,
/// return type) that [`extract`] replaces by a Python node's column before
/// anything runs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonScalarUdf {
    /// The function.
    pub function: PythonFunction,
    signature: Signature,
}

fn signature() -> Signature {
    // Volatile: never folded into a constant on the driver, never
    // duplicated or pushed into scans.
    Signature::one_of(
        vec![TypeSignature::VariadicAny, TypeSignature::Nullary],
        Volatility::Volatile,
    )
}

impl PythonScalarUdf {
    /// The expression stand-in of `function` called with `args`.
    pub fn call(function: PythonFunction, args: Vec<Expr>) -> Expr {
        let udf = ScalarUDF::new_from_impl(PythonScalarUdf {
            function,
            signature: signature(),
        });
        udf.call(args)
    }
}

fn not_extracted(name: &str) -> DataFusionError {
    DataFusionError::Internal(format!(
        "the Python UDF `{name}` was not planned into a Python node"
    ))
}

impl ScalarUDFImpl for PythonScalarUdf {
    fn name(&self) -> &str {
        &self.function.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.function.return_type.clone())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(not_extracted(&self.function.name))
    }
}

/// A grouped-aggregate Python UDF (`pandas_udf` Series to scalar) inside an
/// aggregate or a window: a stand-in that [`extract`] replaces by a Python
/// node.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonAggregateUdf {
    /// The function.
    pub function: PythonFunction,
    signature: Signature,
}

impl PythonAggregateUdf {
    /// The aggregate function stand-in of `function`.
    pub fn udaf(function: PythonFunction) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(PythonAggregateUdf {
            function,
            signature: signature(),
        }))
    }
}

impl AggregateUDFImpl for PythonAggregateUdf {
    fn name(&self) -> &str {
        &self.function.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.function.return_type.clone())
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Err(not_extracted(&self.function.name))
    }
}

/// The Python function of a scalar stand-in expression, if `e` is one.
pub fn scalar_function(e: &Expr) -> Option<&PythonFunction> {
    match e {
        Expr::ScalarFunction(f) => f
            .func
            .inner()
            .downcast_ref::<PythonScalarUdf>()
            .map(|u| &u.function),
        _ => None,
    }
}

/// The Python function of an aggregate stand-in, if `udaf` is one.
pub fn aggregate_function(udaf: &AggregateUDF) -> Option<&PythonFunction> {
    udaf.inner()
        .downcast_ref::<PythonAggregateUdf>()
        .map(|u| &u.function)
}

impl PythonScalarUdf {
    /// The scalar function of `function`, to register under its name
    /// (`spark.udf.register`).
    pub fn udf(function: PythonFunction) -> ScalarUDF {
        ScalarUDF::new_from_impl(PythonScalarUdf {
            function,
            signature: signature(),
        })
    }
}

/// The Spark setting naming the Python workers' interpreter.
pub const PYTHON_SETTING: &str = "spark.pyspark.python";

/// The interpreter Python workers run: `spark.pyspark.python` from
/// `settings`, else `$PYSPARK_PYTHON`, else `python3`, as in Spark.
pub fn interpreter(settings: &std::collections::BTreeMap<String, String>) -> String {
    settings
        .get(PYTHON_SETTING)
        .cloned()
        .or_else(|| std::env::var("PYSPARK_PYTHON").ok())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// The application's worker interpreter ([`interpreter`]), kept as an
/// extension of the driver's `SessionConfig` for analysis-time checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInterpreter(pub String);

/// Checks that `python` runs the client's Python `major.minor`
/// (`client_ver`), as Spark requires; the error is Spark's.
pub fn check_version(python: &str, client_ver: &str) -> std::result::Result<(), String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let cached = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(python)
        .cloned();
    let have = match cached {
        Some(v) => v,
        None => {
            let out = std::process::Command::new(python)
                .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| {
                    format!("cannot run the Python workers' interpreter `{python}` (spark.pyspark.python / PYSPARK_PYTHON): {e}")
                })?;
            if !out.status.success() {
                return Err(format!(
                    "the Python workers' interpreter `{python}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(python.to_string(), v.clone());
            v
        }
    };
    if client_ver.is_empty() || have == client_ver {
        return Ok(());
    }
    Err(format!(
        "[PYTHON_VERSION_MISMATCH] Python in worker has different version: {have} than that in \
         driver: {client_ver}, PySpark cannot run with different minor versions. Please check \
         environment variables PYSPARK_PYTHON and PYSPARK_DRIVER_PYTHON are correctly set."
    ))
}
