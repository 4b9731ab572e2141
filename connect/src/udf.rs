//! Python UDFs sent by the PySpark client: `CommonInlineUserDefinedFunction`
//! / `PythonUDF` in expressions (`udf`, `pandas_udf`, grouped-aggregate
//! `pandas_udf` in `agg` and over windows), the relations `mapInPandas` /
//! `mapInArrow` (MapPartitions), `groupBy().applyInPandas` (GroupMap) and
//! `cogroup().applyInPandas` (CoGroupMap), and `spark.udf.register`
//! (RegisterFunction). They become Kiln's Python stand-ins and nodes
//! (`kiln_core::python`), which run on the executors' Python workers.
//!
//! The client's Python `major.minor` must be the workers' (Spark's rule):
//! checked here, at analysis time, with Spark's error.

use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use kiln_core::python::logical::{PythonOp, PythonPlan};
use kiln_core::python::{
    check_version, eval_type, PythonAggregateUdf, PythonFunction, PythonInterpreter,
    PythonScalarUdf,
};

use crate::error::{ConnectError, Result};
use crate::proto::common_inline_user_defined_function::Function;
use crate::proto::{self, CommonInlineUserDefinedFunction};
use crate::scope::Scope;
use crate::types;

/// The Python function of `f`, after checking the workers' Python.
fn python_function(
    f: &CommonInlineUserDefinedFunction,
    ctx_python: &str,
) -> Result<PythonFunction> {
    let py = match &f.function {
        Some(Function::PythonUdf(p)) => p,
        Some(_) => {
            return Err(ConnectError::Unsupported(format!(
                "the Scala/Java UDF `{}` (Kiln runs Python UDFs)",
                f.function_name
            )))
        }
        None => {
            return Err(ConnectError::IllegalArgument(format!(
                "the UDF `{}` has no function",
                f.function_name
            )))
        }
    };
    check_version(ctx_python, &py.python_ver).map_err(ConnectError::Python)?;
    let return_type = py
        .output_type
        .as_ref()
        .map(types::from_spark)
        .transpose()?
        .ok_or_else(|| {
            ConnectError::IllegalArgument(format!(
                "the UDF `{}` has no return type",
                f.function_name
            ))
        })?;
    Ok(PythonFunction {
        name: f.function_name.clone(),
        command: py.command.clone(),
        eval_type: py.eval_type,
        python_ver: py.python_ver.clone(),
        return_type,
        deterministic: f.deterministic,
    })
}

fn interpreter(scope_state: &datafusion::execution::session_state::SessionState) -> String {
    scope_state
        .config()
        .get_extension::<PythonInterpreter>()
        .map_or_else(|| "python3".to_string(), |p| p.0.clone())
}

/// A UDF call in an expression: a scalar or an aggregate stand-in.
pub fn udf_expr(f: &CommonInlineUserDefinedFunction, scope: &Scope) -> Result<Expr> {
    let function = python_function(f, &interpreter(scope.state))?;
    let args = f
        .arguments
        .iter()
        .map(|a| scope.expr(a))
        .collect::<Result<Vec<_>>>()?;
    if eval_type::is_scalar(function.eval_type) {
        return Ok(PythonScalarUdf::call(function, args));
    }
    if eval_type::is_aggregate(function.eval_type) {
        return Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
            PythonAggregateUdf::udaf(function),
            args,
            f.is_distinct,
            None,
            vec![],
            None,
        )));
    }
    Err(ConnectError::Analysis {
        class: "INVALID_UDF_EVAL_TYPE",
        message: format!(
            "the Python function `{}` (eval type {}) cannot be called as a column",
            f.function_name, function.eval_type
        ),
    })
}

fn required<'a>(
    f: &'a Option<CommonInlineUserDefinedFunction>,
    what: &str,
) -> Result<&'a CommonInlineUserDefinedFunction> {
    f.as_ref()
        .ok_or_else(|| ConnectError::IllegalArgument(format!("{what} without its function")))
}

fn interpreter_of(ctx: &SessionContext) -> String {
    interpreter(&ctx.state())
}

/// `mapInPandas` / `mapInArrow` over `input`.
pub fn map_partitions(
    ctx: &SessionContext,
    input: LogicalPlan,
    m: &proto::MapPartitions,
) -> Result<LogicalPlan> {
    if m.is_barrier == Some(true) {
        return Err(ConnectError::Unsupported("barrier mode".into()));
    }
    let function = python_function(required(&m.func, "mapInPandas")?, &interpreter_of(ctx))?;
    if !matches!(
        function.eval_type,
        eval_type::MAP_PANDAS_ITER | eval_type::MAP_ARROW_ITER
    ) {
        return Err(ConnectError::Unsupported(format!(
            "mapInPandas/mapInArrow with eval type {}",
            function.eval_type
        )));
    }
    Ok(PythonPlan::try_new(PythonOp::MapPartitions { function }, vec![input])?.into_plan())
}

/// `input` with the grouping expressions appended as columns: the plan,
/// the key columns, and the input's own columns.
fn with_keys(
    input: LogicalPlan,
    grouping: &[proto::Expression],
    scope: &Scope,
) -> Result<(LogicalPlan, Vec<usize>, Vec<usize>)> {
    let n = input.schema().fields().len();
    let mut exprs: Vec<Expr> = input
        .schema()
        .iter()
        .map(|(q, f)| Expr::Column(datafusion::common::Column::new(q.cloned(), f.name())))
        .collect();
    for (i, g) in grouping.iter().enumerate() {
        exprs.push(scope.expr(g)?.alias(format!("__kiln_group{i}")));
    }
    let plan = LogicalPlanBuilder::from(input).project(exprs)?.build()?;
    Ok((plan, (n..n + grouping.len()).collect(), (0..n).collect()))
}

fn grouped_function(
    ctx: &SessionContext,
    f: &Option<CommonInlineUserDefinedFunction>,
    what: &str,
    allowed: &[i32],
) -> Result<PythonFunction> {
    let function = python_function(required(f, what)?, &interpreter_of(ctx))?;
    if !allowed.contains(&function.eval_type) {
        return Err(ConnectError::Unsupported(format!(
            "{what} with eval type {} (Kiln runs applyInPandas and applyInArrow without iterators or state)",
            function.eval_type
        )));
    }
    Ok(function)
}

/// `groupBy(...).applyInPandas` / `applyInArrow` over `input`.
pub fn group_map(
    ctx: &SessionContext,
    input: LogicalPlan,
    g: &proto::GroupMap,
    scope: &Scope,
) -> Result<LogicalPlan> {
    if g.is_map_groups_with_state == Some(true) || g.initial_input.is_some() {
        return Err(ConnectError::Unsupported(
            "applyInPandasWithState / transformWithState".into(),
        ));
    }
    let function = grouped_function(
        ctx,
        &g.func,
        "applyInPandas",
        &[eval_type::GROUPED_MAP_PANDAS, eval_type::GROUPED_MAP_ARROW],
    )?;
    let (input, keys, values) = with_keys(input, &g.grouping_expressions, scope)?;
    let op = PythonOp::GroupMap {
        function,
        keys,
        values,
    };
    Ok(PythonPlan::try_new(op, vec![input])?.into_plan())
}

/// `cogroup(...).applyInPandas` / `applyInArrow` over `left` and `right`.
pub fn co_group_map(
    ctx: &SessionContext,
    (left, left_scope): (LogicalPlan, &Scope),
    (right, right_scope): (LogicalPlan, &Scope),
    g: &proto::CoGroupMap,
) -> Result<LogicalPlan> {
    let function = grouped_function(
        ctx,
        &g.func,
        "cogroup applyInPandas",
        &[
            eval_type::COGROUPED_MAP_PANDAS,
            eval_type::COGROUPED_MAP_ARROW,
        ],
    )?;
    if g.input_grouping_expressions.len() != g.other_grouping_expressions.len() {
        return Err(ConnectError::Analysis {
            class: "INVALID_PANDAS_UDF",
            message: "cogroup: both sides must group by the same number of columns".into(),
        });
    }
    let (left, keys, values) = with_keys(left, &g.input_grouping_expressions, left_scope)?;
    let (right, right_keys, right_values) =
        with_keys(right, &g.other_grouping_expressions, right_scope)?;
    let op = PythonOp::CoGroupMap {
        function,
        keys,
        values,
        right_keys,
        right_values,
    };
    Ok(PythonPlan::try_new(op, vec![left, right])?.into_plan())
}

/// `spark.udf.register(name, f)`: `name` works in `spark.sql` in this session.
pub fn register(ctx: &SessionContext, f: &CommonInlineUserDefinedFunction) -> Result<()> {
    let function = python_function(f, &interpreter_of(ctx))?;
    if eval_type::is_scalar(function.eval_type) {
        for f in with_lower_case_name(function) {
            ctx.register_udf(PythonScalarUdf::udf(f));
        }
    } else if eval_type::is_aggregate(function.eval_type) {
        for f in with_lower_case_name(function) {
            ctx.register_udaf(PythonAggregateUdf::udaf(f).as_ref().clone());
        }
    } else {
        return Err(ConnectError::Analysis {
            class: "INVALID_UDF_EVAL_TYPE",
            message: format!(
                "`{}` (eval type {}) cannot be registered as a SQL function",
                f.function_name, function.eval_type
            ),
        });
    }
    Ok(())
}

/// SQL looks functions up by their lower-case name: a name with capitals
/// is registered under that name too (not as an alias: DataFusion wraps
/// aliased functions, and Kiln must recognise its Python stand-ins).
fn with_lower_case_name(function: PythonFunction) -> Vec<PythonFunction> {
    let lower = function.name.to_lowercase();
    if lower == function.name {
        return vec![function];
    }
    let mut second = function.clone();
    second.name = lower;
    vec![function, second]
}
