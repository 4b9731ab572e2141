//! Spark's ExtractPythonUDFs as a DataFusion optimizer rule: Python calls in
//! a plan node's expressions (a projection, a filter, a join key, a sort
//! key, an aggregate's inputs) are evaluated by a Python node below it, and
//! the node reads their result columns; grouped-aggregate UDFs in an
//! aggregate or over a window become Python aggregate and window nodes.
//! Nested calls (`f(g(x))`) take one Python node per level.

use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Window, WindowFunctionDefinition,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::logical::{PythonOp, PythonPlan, UdfCall};
use super::{aggregate_function, eval_type, scalar_function, PythonFunction};

/// The rule; runs after DataFusion's own rules.
#[derive(Debug, Default)]
pub struct ExtractPythonUdfs;

impl OptimizerRule for ExtractPythonUdfs {
    fn name(&self) -> &str {
        "extract_python_udfs"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(extract)
    }
}

static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

/// A column name no plan uses otherwise.
fn fresh(prefix: &str) -> String {
    format!(
        "__kiln_{prefix}{}",
        NEXT_NAME.fetch_add(1, Ordering::Relaxed)
    )
}

fn extract(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if plan.inputs().is_empty() || is_python(&plan) {
        return Ok(Transformed::no(plan));
    }
    let mut plan = plan;
    let mut changed = false;
    loop {
        let calls = innermost_calls(&plan)?;
        if calls.is_empty() {
            break;
        }
        plan = pull_scalar(plan, calls)?;
        changed = true;
    }
    if let LogicalPlan::Aggregate(a) = &plan {
        if a.aggr_expr.iter().any(|e| python_aggregate(e).is_some()) {
            plan = pull_aggregate(a)?;
            changed = true;
        }
    }
    if let LogicalPlan::Window(w) = &plan {
        if w.window_expr.iter().any(|e| python_window(e).is_some()) {
            plan = pull_window(w)?;
            changed = true;
        }
    }
    Ok(if changed {
        Transformed::yes(plan)
    } else {
        Transformed::no(plan)
    })
}

fn is_python(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Extension(e) if e.node.as_any().is::<PythonPlan>())
}

fn contains_python(e: &Expr) -> bool {
    e.exists(|x| Ok(scalar_function(x).is_some()))
        .unwrap_or(false)
}

/// Python calls of `plan`'s expressions whose arguments hold none.
fn innermost_calls(plan: &LogicalPlan) -> Result<Vec<Expr>> {
    let mut out: Vec<Expr> = vec![];
    for e in plan.expressions() {
        e.apply(|x| {
            if let (Some(_), Expr::ScalarFunction(f)) = (scalar_function(x), x) {
                if !f.args.iter().any(contains_python) && !out.contains(x) {
                    out.push(x.clone());
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    Ok(out)
}

fn call_parts(call: &Expr) -> Result<(PythonFunction, Vec<Expr>)> {
    match (scalar_function(call), call) {
        (Some(f), Expr::ScalarFunction(s)) => Ok((f.clone(), s.args.clone())),
        _ => Err(DataFusionError::Internal("not a Python call".into())),
    }
}

/// The input a call reads from: the one holding all its columns.
fn side_of(call: &Expr, inputs: &[&LogicalPlan]) -> Result<usize> {
    let cols = call.column_refs();
    inputs
        .iter()
        .position(|i| cols.iter().all(|c| i.schema().has_column(c)))
        .ok_or_else(|| {
            DataFusionError::NotImplemented(format!(
                "the Python UDF call {call} reads columns of both sides of a join; \
                 compute it on one side first"
            ))
        })
}

/// `input` with the Python calls evaluated: each call's result column.
fn eval_node(input: LogicalPlan, calls: &[Expr]) -> Result<(LogicalPlan, Vec<String>)> {
    let base = input.schema().fields().len();
    let mut extra: Vec<Expr> = vec![];
    let mut udfs = vec![];
    let mut names = vec![];
    for call in calls {
        let (function, args) = call_parts(call)?;
        let mut idx = vec![];
        for a in args {
            match &a {
                Expr::Column(c) => idx.push(input.schema().index_of_column(c)?),
                _ => {
                    idx.push(base + extra.len());
                    extra.push(a.alias(fresh("pyarg")));
                }
            }
        }
        let output = fresh("py");
        names.push(output.clone());
        udfs.push(UdfCall {
            function,
            args: idx,
            output,
        });
    }
    let input = if extra.is_empty() {
        input
    } else {
        let mut exprs = columns_of(input.schema());
        exprs.extend(extra);
        LogicalPlanBuilder::from(input).project(exprs)?.build()?
    };
    let node = PythonPlan::try_new(PythonOp::Eval { udfs }, vec![input])?;
    Ok((node.into_plan(), names))
}

fn columns_of(schema: &DFSchema) -> Vec<Expr> {
    schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect()
}

/// Evaluates `calls` (innermost Python calls of `plan`) in Python nodes
/// below `plan`, which then reads their columns.
fn pull_scalar(plan: LogicalPlan, calls: Vec<Expr>) -> Result<LogicalPlan> {
    let inputs: Vec<&LogicalPlan> = plan.inputs();
    let mut per_input: Vec<Vec<Expr>> = vec![vec![]; inputs.len()];
    for c in calls {
        per_input[side_of(&c, &inputs)?].push(c);
    }
    let mut new_inputs = vec![];
    let mut replace: Vec<(Expr, String)> = vec![];
    for (input, calls) in inputs.iter().zip(per_input) {
        let mut input = (*input).clone();
        // Row-wise calls share a node; an iterator UDF sees its own stream.
        let (iter, plain): (Vec<Expr>, Vec<Expr>) = calls
            .into_iter()
            .partition(|c| scalar_function(c).is_some_and(|f| eval_type::is_iterator(f.eval_type)));
        let mut groups: Vec<Vec<Expr>> = iter.into_iter().map(|c| vec![c]).collect();
        if !plain.is_empty() {
            groups.insert(0, plain);
        }
        for g in groups {
            let (node, names) = eval_node(input, &g)?;
            input = node;
            replace.extend(g.into_iter().zip(names));
        }
        new_inputs.push(input);
    }
    let preserver = NamePreserver::new(&plan);
    let exprs = plan
        .expressions()
        .into_iter()
        .map(|e| {
            let saved = preserver.save(&e);
            let e = e
                .transform_down(|x| {
                    Ok(match replace.iter().find(|(c, _)| *c == x) {
                        Some((_, name)) => Transformed::yes(Expr::Column(Column::from_name(name))),
                        None => Transformed::no(x),
                    })
                })?
                .data;
            Ok(saved.restore(e))
        })
        .collect::<Result<Vec<_>>>()?;
    let new = plan.with_new_exprs(exprs, new_inputs)?;
    if new.schema().fields().len() == plan.schema().fields().len() {
        return Ok(new);
    }
    // The Python columns pass through a filter, join or sort: drop them.
    LogicalPlanBuilder::from(new)
        .project(columns_of(plan.schema()))?
        .build()
}

fn python_aggregate(e: &Expr) -> Option<(&AggregateFunction, &PythonFunction)> {
    match e {
        Expr::Alias(a) => python_aggregate(&a.expr),
        Expr::AggregateFunction(a) => aggregate_function(&a.func).map(|f| (a, f)),
        _ => None,
    }
}

fn python_window(e: &Expr) -> Option<(&WindowFunction, &PythonFunction)> {
    match e {
        Expr::Alias(a) => python_window(&a.expr),
        Expr::WindowFunction(w) => match &w.fun {
            WindowFunctionDefinition::AggregateUDF(u) => aggregate_function(u).map(|f| (&**w, f)),
            _ => None,
        },
        _ => None,
    }
}

/// Projects `keys` and each call's arguments over `input`, as columns.
fn keys_and_args(
    input: &LogicalPlan,
    mut exprs: Vec<Expr>,
    keys: &[Expr],
    calls: &[(PythonFunction, &[Expr])],
) -> Result<(LogicalPlan, Vec<usize>, Vec<UdfCall>)> {
    let mut key_idx = vec![];
    for k in keys {
        key_idx.push(exprs.len());
        exprs.push(k.clone().alias(fresh("pykey")));
    }
    let mut udfs = vec![];
    for (function, args) in calls {
        let mut idx = vec![];
        for a in args.iter() {
            idx.push(exprs.len());
            exprs.push(a.clone().alias(fresh("pyarg")));
        }
        udfs.push(UdfCall {
            function: function.clone(),
            args: idx,
            output: fresh("py"),
        });
    }
    let plan = LogicalPlanBuilder::from(input.clone())
        .project(exprs)?
        .build()?;
    Ok((plan, key_idx, udfs))
}

fn pull_aggregate(a: &Aggregate) -> Result<LogicalPlan> {
    let mut calls = vec![];
    for e in &a.aggr_expr {
        let Some((agg, f)) = python_aggregate(e) else {
            return Err(DataFusionError::Plan(
                "[INVALID_PANDAS_UDF_PLACEMENT] a grouped-aggregate Python UDF cannot be mixed \
                 with other aggregate functions in one agg()"
                    .into(),
            ));
        };
        if agg.params.distinct || agg.params.filter.is_some() || !agg.params.order_by.is_empty() {
            return Err(DataFusionError::NotImplemented(format!(
                "DISTINCT, FILTER or ORDER BY on the Python aggregate `{}`",
                f.name
            )));
        }
        calls.push((f.clone(), agg.params.args.as_slice()));
    }
    if a.group_expr
        .iter()
        .any(|g| matches!(g, Expr::GroupingSet(_)))
    {
        return Err(DataFusionError::NotImplemented(
            "rollup, cube or grouping sets with a Python aggregate".into(),
        ));
    }
    let (input, keys, udfs) = keys_and_args(&a.input, vec![], &a.group_expr, &calls)?;
    let outputs: Vec<String> = keys
        .iter()
        .map(|k| input.schema().field(*k).name().clone())
        .chain(udfs.iter().map(|u| u.output.clone()))
        .collect();
    let node = PythonPlan::try_new(PythonOp::Aggregate { udfs, keys }, vec![input])?;
    // The aggregate's own names, so the plan above reads what it read.
    let exprs: Vec<Expr> = a
        .schema
        .iter()
        .zip(outputs)
        .map(|((q, f), out)| {
            Expr::Column(Column::from_name(out)).alias_qualified(q.cloned(), f.name())
        })
        .collect();
    LogicalPlanBuilder::from(node.into_plan())
        .project(exprs)?
        .build()
}

fn pull_window(w: &Window) -> Result<LogicalPlan> {
    let mut calls = vec![];
    let mut partition: Option<&Vec<Expr>> = None;
    for e in &w.window_expr {
        let Some((wf, f)) = python_window(e) else {
            return Err(DataFusionError::NotImplemented(
                "a Python aggregate and another window function over the same window".into(),
            ));
        };
        if !wf.params.order_by.is_empty() {
            return Err(DataFusionError::NotImplemented(format!(
                "the Python aggregate `{}` over an ordered window (Kiln runs them over the \
                 whole partition: Window.partitionBy(...) without orderBy)",
                f.name
            )));
        }
        match partition {
            Some(p) if *p != wf.params.partition_by => {
                return Err(DataFusionError::NotImplemented(
                    "Python aggregates over differently partitioned windows in one select".into(),
                ))
            }
            _ => partition = Some(&wf.params.partition_by),
        }
        calls.push((f.clone(), wf.params.args.as_slice()));
    }
    let keys = partition.cloned().unwrap_or_default();
    let inputs = columns_of(w.input.schema());
    let (input, keys, udfs) = keys_and_args(&w.input, inputs, &keys, &calls)?;
    let outputs: Vec<String> = udfs.iter().map(|u| u.output.clone()).collect();
    let node = PythonPlan::try_new(PythonOp::Window { udfs, keys }, vec![input])?;
    let n = w.input.schema().fields().len();
    let mut exprs = columns_of(w.input.schema());
    for ((q, f), out) in w.schema.iter().skip(n).zip(outputs) {
        exprs.push(Expr::Column(Column::from_name(out)).alias_qualified(q.cloned(), f.name()));
    }
    LogicalPlanBuilder::from(node.into_plan())
        .project(exprs)?
        .build()
}
