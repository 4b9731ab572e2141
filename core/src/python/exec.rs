//! The physical Python node and its wire form (inside Kiln's plan codec).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use prost::Message;

use super::logical::{PythonOp, UdfCall};
use super::PythonFunction;

/// A Python operation in a stage plan; runs on a worker of the executor
/// that runs the task.
#[derive(Debug)]
pub struct PythonExec {
    /// What it does.
    pub op: PythonOp,
    /// Its input (two for a cogroup).
    pub inputs: Vec<Arc<dyn ExecutionPlan>>,
    /// Rows per batch sent to the worker.
    pub batch_size: usize,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl PythonExec {
    /// `op` over `inputs`, sending batches of up to `batch_size` rows.
    pub fn try_new(
        op: PythonOp,
        inputs: Vec<Arc<dyn ExecutionPlan>>,
        batch_size: usize,
    ) -> Result<Self> {
        let schemas = inputs
            .iter()
            .map(|i| DFSchema::try_from(i.schema().as_ref().clone()))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&DFSchema> = schemas.iter().collect();
        let fields: Vec<_> = op.output(&refs)?.into_iter().map(|(_, f)| f).collect();
        let schema = Arc::new(Schema::new(fields));
        let first = inputs
            .first()
            .ok_or_else(|| DataFusionError::Internal("a Python node without input".into()))?;
        let n = first.properties().partitioning.partition_count();
        let partitioning = match &op {
            // Input columns keep their places: so does their partitioning.
            PythonOp::Eval { .. } | PythonOp::Window { .. } => {
                first.properties().partitioning.clone()
            }
            _ => Partitioning::UnknownPartitioning(n),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            partitioning,
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(PythonExec {
            op,
            inputs,
            batch_size: batch_size.max(1),
            schema,
            properties,
        })
    }

    fn key_distribution(&self, input: usize, keys: &[usize]) -> Distribution {
        if keys.is_empty() {
            return Distribution::SinglePartition;
        }
        let schema = self.inputs[input].schema();
        let exprs = keys
            .iter()
            .map(|&k| Arc::new(Column::new(schema.field(k).name(), k)) as Arc<dyn PhysicalExpr>)
            .collect();
        Distribution::KeyPartitioned(exprs)
    }
}

impl DisplayAs for PythonExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}Exec: [{}]", self.op.label(), self.op.function_names())
    }
}

impl ExecutionPlan for PythonExec {
    plan_node_basics!("PythonExec", no_expressions);

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inputs.iter().collect()
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        match &self.op {
            PythonOp::Eval { .. } | PythonOp::MapPartitions { .. } => {
                vec![Distribution::UnspecifiedDistribution]
            }
            PythonOp::GroupMap { keys, .. }
            | PythonOp::Aggregate { keys, .. }
            | PythonOp::Window { keys, .. } => vec![self.key_distribution(0, keys)],
            PythonOp::CoGroupMap {
                keys, right_keys, ..
            } => vec![
                self.key_distribution(0, keys),
                self.key_distribution(1, right_keys),
            ],
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PythonExec::try_new(
            self.op.clone(),
            children,
            self.batch_size,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        super::run::execute(
            &self.op,
            &self.inputs,
            self.batch_size,
            self.output_schema().clone(),
            partition,
            context,
        )
    }
}

impl PythonExec {
    /// The output schema.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.schema
    }
}

const OP_EVAL: u32 = 1;
const OP_MAP: u32 = 2;
const OP_GROUP: u32 = 3;
const OP_COGROUP: u32 = 4;
const OP_AGGREGATE: u32 = 5;
const OP_WINDOW: u32 = 6;

#[derive(Clone, PartialEq, prost::Message)]
struct WireFunction {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "bytes", tag = "2")]
    command: bytes::Bytes,
    #[prost(int32, tag = "3")]
    eval_type: i32,
    #[prost(string, tag = "4")]
    python_ver: String,
    #[prost(message, optional, tag = "5")]
    return_type: Option<datafusion_proto::protobuf::ArrowType>,
    #[prost(bool, tag = "6")]
    deterministic: bool,
    #[prost(uint32, repeated, tag = "7")]
    args: Vec<u32>,
    #[prost(string, tag = "8")]
    output: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WireNode {
    #[prost(uint32, tag = "1")]
    op: u32,
    #[prost(message, repeated, tag = "2")]
    functions: Vec<WireFunction>,
    #[prost(uint32, repeated, tag = "3")]
    keys: Vec<u32>,
    #[prost(uint32, repeated, tag = "4")]
    values: Vec<u32>,
    #[prost(uint32, repeated, tag = "5")]
    right_keys: Vec<u32>,
    #[prost(uint32, repeated, tag = "6")]
    right_values: Vec<u32>,
    #[prost(uint64, tag = "7")]
    batch_size: u64,
}

fn wire_err(m: impl fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("cannot encode or decode a Python node: {m}"))
}

fn to_wire(f: &PythonFunction, args: &[usize], output: &str) -> Result<WireFunction> {
    let t: datafusion_proto::protobuf::ArrowType = (&f.return_type).try_into().map_err(wire_err)?;
    Ok(WireFunction {
        name: f.name.clone(),
        command: f.command.clone(),
        eval_type: f.eval_type,
        python_ver: f.python_ver.clone(),
        return_type: Some(t),
        deterministic: f.deterministic,
        args: args.iter().map(|&a| a as u32).collect(),
        output: output.to_string(),
    })
}

fn from_wire(w: &WireFunction) -> Result<UdfCall> {
    let t = w
        .return_type
        .as_ref()
        .ok_or_else(|| wire_err("a function without a return type"))?;
    let return_type: DataType = t.try_into().map_err(wire_err)?;
    Ok(UdfCall {
        function: PythonFunction {
            name: w.name.clone(),
            command: w.command.clone(),
            eval_type: w.eval_type,
            python_ver: w.python_ver.clone(),
            return_type,
            deterministic: w.deterministic,
        },
        args: w.args.iter().map(|&a| a as usize).collect(),
        output: w.output.clone(),
    })
}

fn idx(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&i| i as u32).collect()
}

fn usizes(v: &[u32]) -> Vec<usize> {
    v.iter().map(|&i| i as usize).collect()
}

/// The wire form of `node` (without its inputs).
pub fn encode(node: &PythonExec) -> Result<Vec<u8>> {
    let calls = |udfs: &[UdfCall]| -> Result<Vec<WireFunction>> {
        udfs.iter()
            .map(|u| to_wire(&u.function, &u.args, &u.output))
            .collect()
    };
    let mut w = WireNode {
        batch_size: node.batch_size as u64,
        ..Default::default()
    };
    match &node.op {
        PythonOp::Eval { udfs } => {
            w.op = OP_EVAL;
            w.functions = calls(udfs)?;
        }
        PythonOp::MapPartitions { function } => {
            w.op = OP_MAP;
            w.functions = vec![to_wire(function, &[], "")?];
        }
        PythonOp::GroupMap {
            function,
            keys,
            values,
        } => {
            w.op = OP_GROUP;
            w.functions = vec![to_wire(function, &[], "")?];
            w.keys = idx(keys);
            w.values = idx(values);
        }
        PythonOp::CoGroupMap {
            function,
            keys,
            values,
            right_keys,
            right_values,
        } => {
            w.op = OP_COGROUP;
            w.functions = vec![to_wire(function, &[], "")?];
            w.keys = idx(keys);
            w.values = idx(values);
            w.right_keys = idx(right_keys);
            w.right_values = idx(right_values);
        }
        PythonOp::Aggregate { udfs, keys } => {
            w.op = OP_AGGREGATE;
            w.functions = calls(udfs)?;
            w.keys = idx(keys);
        }
        PythonOp::Window { udfs, keys } => {
            w.op = OP_WINDOW;
            w.functions = calls(udfs)?;
            w.keys = idx(keys);
        }
    }
    Ok(w.encode_to_vec())
}

/// The node `bytes` describe, over `inputs`.
pub fn decode(bytes: &[u8], inputs: &[Arc<dyn ExecutionPlan>]) -> Result<PythonExec> {
    let w = WireNode::decode(bytes).map_err(wire_err)?;
    let calls = w
        .functions
        .iter()
        .map(from_wire)
        .collect::<Result<Vec<_>>>()?;
    let function = || {
        calls
            .first()
            .map(|c| c.function.clone())
            .ok_or_else(|| wire_err("a node without its function"))
    };
    let op = match w.op {
        OP_EVAL => PythonOp::Eval {
            udfs: calls.clone(),
        },
        OP_MAP => PythonOp::MapPartitions {
            function: function()?,
        },
        OP_GROUP => PythonOp::GroupMap {
            function: function()?,
            keys: usizes(&w.keys),
            values: usizes(&w.values),
        },
        OP_COGROUP => PythonOp::CoGroupMap {
            function: function()?,
            keys: usizes(&w.keys),
            values: usizes(&w.values),
            right_keys: usizes(&w.right_keys),
            right_values: usizes(&w.right_values),
        },
        OP_AGGREGATE => PythonOp::Aggregate {
            udfs: calls.clone(),
            keys: usizes(&w.keys),
        },
        OP_WINDOW => PythonOp::Window {
            udfs: calls.clone(),
            keys: usizes(&w.keys),
        },
        other => return Err(wire_err(format!("unknown operation {other}"))),
    };
    PythonExec::try_new(op, inputs.to_vec(), w.batch_size as usize)
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Fields};
    use datafusion::physical_plan::empty::EmptyExec;

    use super::*;

    fn function(eval_type: i32, return_type: DataType) -> PythonFunction {
        PythonFunction {
            name: "f".into(),
            command: bytes::Bytes::from_static(b"pickled"),
            eval_type,
            python_ver: "3.11".into(),
            return_type,
            deterministic: true,
        }
    }

    #[test]
    fn python_nodes_survive_the_wire() {
        let input: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]))));
        let out = DataType::Struct(Fields::from(vec![Field::new("n", DataType::Int64, true)]));
        let ops = vec![
            PythonOp::Eval {
                udfs: vec![UdfCall {
                    function: function(101, DataType::Utf8),
                    args: vec![1, 0],
                    output: "__kiln_py1".into(),
                }],
            },
            PythonOp::GroupMap {
                function: function(201, out.clone()),
                keys: vec![0],
                values: vec![0, 1],
            },
            PythonOp::Aggregate {
                udfs: vec![UdfCall {
                    function: function(202, DataType::Float64),
                    args: vec![0],
                    output: "__kiln_py2".into(),
                }],
                keys: vec![1],
            },
            PythonOp::MapPartitions {
                function: function(205, out),
            },
        ];
        for op in ops {
            let node = PythonExec::try_new(op.clone(), vec![input.clone()], 123).unwrap();
            let back = decode(&encode(&node).unwrap(), std::slice::from_ref(&input)).unwrap();
            assert_eq!(back.op, op);
            assert_eq!(back.batch_size, 123);
            assert_eq!(back.output_schema(), node.output_schema());
        }
    }
}
