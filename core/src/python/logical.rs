//! The logical Python node: one operation with Python functions over one
//! input (two for a cogroup), with the output Spark gives it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{DFSchema, DFSchemaRef, TableReference};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};

use super::PythonFunction;

/// One call of a Python function on columns of the node's input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct UdfCall {
    /// The function.
    pub function: PythonFunction,
    /// Its arguments: columns of the input, by position.
    pub args: Vec<usize>,
    /// The name of its result column.
    pub output: String,
}

/// What a Python node does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum PythonOp {
    /// Scalar UDFs (Spark's ArrowEvalPython/BatchEvalPython): every input
    /// column, then one column per call.
    Eval {
        /// The calls, all of one batching kind.
        udfs: Vec<UdfCall>,
    },
    /// `mapInPandas` / `mapInArrow`: the function's batches.
    MapPartitions {
        /// The function; its return type is the output's struct.
        function: PythonFunction,
    },
    /// `groupBy().applyInPandas`: the function on each group.
    GroupMap {
        /// The function; its return type is the output's struct.
        function: PythonFunction,
        /// Grouping columns of the input.
        keys: Vec<usize>,
        /// The columns the function sees.
        values: Vec<usize>,
    },
    /// `cogroup().applyInPandas`: the function on each key's two groups.
    CoGroupMap {
        /// The function; its return type is the output's struct.
        function: PythonFunction,
        /// Grouping columns of the first input.
        keys: Vec<usize>,
        /// Columns of the first input the function sees.
        values: Vec<usize>,
        /// Grouping columns of the second input.
        right_keys: Vec<usize>,
        /// Columns of the second input the function sees.
        right_values: Vec<usize>,
    },
    /// Grouped-aggregate UDFs in `groupBy().agg()`: the keys, then one
    /// column per call, one row per group.
    Aggregate {
        /// The calls.
        udfs: Vec<UdfCall>,
        /// Grouping columns of the input.
        keys: Vec<usize>,
    },
    /// Grouped-aggregate UDFs over a window partitioned by `keys` (the whole
    /// partition as the frame): every input column, then one per call.
    Window {
        /// The calls.
        udfs: Vec<UdfCall>,
        /// Partitioning columns of the input.
        keys: Vec<usize>,
    },
}

impl PythonOp {
    /// The functions it calls.
    pub fn functions(&self) -> Vec<&PythonFunction> {
        match self {
            PythonOp::Eval { udfs }
            | PythonOp::Aggregate { udfs, .. }
            | PythonOp::Window { udfs, .. } => udfs.iter().map(|u| &u.function).collect(),
            PythonOp::MapPartitions { function }
            | PythonOp::GroupMap { function, .. }
            | PythonOp::CoGroupMap { function, .. } => vec![function],
        }
    }

    /// The names of the functions it calls, as plans show them (`f, g`).
    pub fn function_names(&self) -> String {
        let names: Vec<&str> = self.functions().iter().map(|f| f.name.as_str()).collect();
        names.join(", ")
    }

    /// Spark's name of the operation.
    pub fn label(&self) -> &'static str {
        match self {
            PythonOp::Eval { .. } => "ArrowEvalPython",
            PythonOp::MapPartitions { .. } => "MapInPandas",
            PythonOp::GroupMap { .. } => "FlatMapGroupsInPandas",
            PythonOp::CoGroupMap { .. } => "FlatMapCoGroupsInPandas",
            PythonOp::Aggregate { .. } => "AggregateInPandas",
            PythonOp::Window { .. } => "WindowInPandas",
        }
    }

    /// The output fields (with qualifiers) over inputs of `inputs`' schemas.
    pub fn output(
        &self,
        inputs: &[&DFSchema],
    ) -> Result<Vec<(Option<TableReference>, Arc<Field>)>> {
        let first = inputs
            .first()
            .ok_or_else(|| DataFusionError::Internal("a Python node without input".into()))?;
        let input_fields = |s: &DFSchema| -> Vec<(Option<TableReference>, Arc<Field>)> {
            s.iter().map(|(q, f)| (q.cloned(), Arc::clone(f))).collect()
        };
        let calls = |udfs: &[UdfCall]| -> Vec<(Option<TableReference>, Arc<Field>)> {
            udfs.iter()
                .map(|u| {
                    let f = Field::new(&u.output, u.function.return_type.clone(), true);
                    (None, Arc::new(f))
                })
                .collect()
        };
        Ok(match self {
            PythonOp::Eval { udfs } | PythonOp::Window { udfs, .. } => {
                let mut out = input_fields(first);
                out.extend(calls(udfs));
                out
            }
            PythonOp::Aggregate { udfs, keys } => {
                let all = input_fields(first);
                let mut out = vec![];
                for k in keys {
                    out.push(all.get(*k).cloned().ok_or_else(|| {
                        DataFusionError::Internal(format!("grouping column {k} out of range"))
                    })?);
                }
                out.extend(calls(udfs));
                out
            }
            PythonOp::MapPartitions { function }
            | PythonOp::GroupMap { function, .. }
            | PythonOp::CoGroupMap { function, .. } => struct_fields(function)?
                .iter()
                .map(|f| (None, Arc::clone(f)))
                .collect(),
        })
    }
}

/// The fields of a relation-valued function's struct return type.
pub fn struct_fields(f: &PythonFunction) -> Result<Fields> {
    match &f.return_type {
        DataType::Struct(fields) => Ok(fields.clone()),
        other => Err(DataFusionError::Plan(format!(
            "the Python function `{}` must return a struct (a schema), not {other}",
            f.name
        ))),
    }
}

/// A Python operation in a logical plan.
#[derive(Debug, Clone)]
pub struct PythonPlan {
    /// What it does.
    pub op: PythonOp,
    /// Its input (two for a cogroup).
    pub inputs: Vec<LogicalPlan>,
    schema: DFSchemaRef,
}

impl PythonPlan {
    /// `op` over `inputs`.
    pub fn try_new(op: PythonOp, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let schemas: Vec<&DFSchema> = inputs.iter().map(|i| i.schema().as_ref()).collect();
        let fields = op.output(&schemas)?;
        let schema = Arc::new(DFSchema::new_with_metadata(fields, Default::default())?);
        Ok(PythonPlan { op, inputs, schema })
    }

    /// As a logical plan.
    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }
}

impl PartialEq for PythonPlan {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.inputs == other.inputs
    }
}

impl Eq for PythonPlan {}

impl Hash for PythonPlan {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.inputs.hash(state);
    }
}

impl PartialOrd for PythonPlan {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.op.partial_cmp(&other.op)
    }
}

impl UserDefinedLogicalNodeCore for PythonPlan {
    fn name(&self) -> &str {
        self.op.label()
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        self.inputs.iter().collect()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: [{}]", self.op.label(), self.op.function_names())
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        PythonPlan::try_new(self.op.clone(), inputs)
    }
}
