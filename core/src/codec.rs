//! The datafusion-proto extension codec for Kiln's plan nodes, so that stage
//! plans travel from driver to executors as protobuf bytes.

use std::sync::Arc;

use arrow::datatypes::Schema;
use bytes::Bytes;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use datafusion_proto::physical_plan::from_proto::parse_protobuf_partitioning;
use datafusion_proto::physical_plan::to_proto::serialize_partitioning;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf;
use prost::Message;

use crate::python::exec::PythonExec;
use crate::runtime_filter::RuntimeFilterExec;
use crate::sample::{SampleExec, SampleMode};
use crate::shuffle::{OutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};
use crate::write::{own_file_sink, WriteFilesExec};

/// Encodes and decodes [`ShuffleWriterExec`], [`ShuffleReaderExec`],
/// [`WriteFilesExec`], [`PythonExec`], [`SampleExec`] and [`RuntimeFilterExec`].
#[derive(Debug, Default, Clone, Copy)]
pub struct KilnCodec;

const NODE_WRITER: u32 = 1;
const NODE_READER: u32 = 2;
const NODE_WRITE_FILES: u32 = 3;
const NODE_PYTHON: u32 = 4;
const NODE_SAMPLE: u32 = 5;
const NODE_RUNTIME_FILTER: u32 = 6;

const PART_HASH: u32 = 1;
const PART_ROUND_ROBIN: u32 = 2;
const PART_SINGLE: u32 = 3;
const PART_PASS_THROUGH: u32 = 4;
const PART_ROUND_ROBIN_BATCH: u32 = 5;

#[derive(Clone, PartialEq, prost::Message)]
struct KilnNode {
    #[prost(uint32, tag = "1")]
    node: u32,
    #[prost(uint32, tag = "2")]
    stage_id: u32,
    #[prost(uint32, tag = "3")]
    partitioning: u32,
    #[prost(uint32, tag = "4")]
    partitions: u32,
    #[prost(message, optional, tag = "5")]
    hash: Option<protobuf::Partitioning>,
    #[prost(message, optional, tag = "6")]
    schema: Option<protobuf::Schema>,
    /// A write stage's sink, as the bytes of a `DataSinkExec` over an empty
    /// input (datafusion-proto knows how to carry its file sinks).
    #[prost(bytes = "vec", tag = "7")]
    sink: Vec<u8>,
    /// A reader's columns that hold one value per partition.
    #[prost(uint32, repeated, tag = "8")]
    constant_columns: Vec<u32>,
    /// A Python node ([`crate::python::exec::encode`]).
    #[prost(bytes = "vec", tag = "9")]
    python: Vec<u8>,
    /// A sample node.
    #[prost(message, optional, tag = "10")]
    sample: Option<SampleNode>,
    /// A runtime filter's source keys (its own keys travel in `hash`).
    #[prost(message, optional, tag = "11")]
    source_hash: Option<protobuf::Partitioning>,
}

/// A [`SampleExec`]: its mode, seed, fraction and random column.
#[derive(Clone, PartialEq, prost::Message)]
struct SampleNode {
    /// 1: a random column, 2: Poisson repetition.
    #[prost(uint32, tag = "1")]
    mode: u32,
    #[prost(int64, tag = "2")]
    seed: i64,
    #[prost(double, tag = "3")]
    fraction: f64,
    #[prost(string, tag = "4")]
    column: String,
}

fn decode_err(m: impl Into<String>) -> DataFusionError {
    DataFusionError::Internal(format!("cannot decode Kiln plan node: {}", m.into()))
}

impl PhysicalExtensionCodec for KilnCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = KilnNode::decode(buf).map_err(|e| decode_err(e.to_string()))?;
        match node.node {
            NODE_WRITER => {
                let [input] = inputs else {
                    return Err(decode_err("writer needs exactly one input"));
                };
                let n = node.partitions as usize;
                let partitioning = match node.partitioning {
                    PART_HASH => {
                        let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
                        match parse_protobuf_partitioning(
                            node.hash.as_ref(),
                            &decode_ctx,
                            input.schema().as_ref(),
                            proto_converter,
                        )? {
                            Some(Partitioning::Hash(exprs, n)) => {
                                OutputPartitioning::Hash(exprs, n)
                            }
                            _ => return Err(decode_err("hash partitioning expected")),
                        }
                    }
                    PART_ROUND_ROBIN => OutputPartitioning::RoundRobin(n),
                    PART_ROUND_ROBIN_BATCH => OutputPartitioning::RoundRobinBatch(n),
                    PART_SINGLE => OutputPartitioning::Single,
                    PART_PASS_THROUGH => OutputPartitioning::PassThrough(n),
                    other => return Err(decode_err(format!("unknown partitioning {other}"))),
                };
                Ok(Arc::new(ShuffleWriterExec::new(
                    input.clone(),
                    node.stage_id,
                    partitioning,
                )))
            }
            NODE_READER => {
                let schema = node
                    .schema
                    .as_ref()
                    .ok_or_else(|| decode_err("reader without schema"))?;
                let schema: Schema = schema.try_into().map_err(
                    |e: datafusion_proto::protobuf::FromProtoError| decode_err(e.to_string()),
                )?;
                Ok(Arc::new(ShuffleReaderExec::with_constants(
                    node.stage_id,
                    Arc::new(schema),
                    node.partitions as usize,
                    node.constant_columns.iter().map(|&c| c as usize).collect(),
                )))
            }
            NODE_WRITE_FILES => {
                let [input] = inputs else {
                    return Err(decode_err("file writer needs exactly one input"));
                };
                let holder = physical_plan_from_bytes_with_extension_codec(&node.sink, ctx, self)?;
                let sink = holder
                    .downcast_ref::<DataSinkExec>()
                    .and_then(|d| own_file_sink(d.sink()))
                    .ok_or_else(|| decode_err("file writer without a file sink"))?;
                Ok(Arc::new(WriteFilesExec::new(
                    input.clone(),
                    sink,
                    node.stage_id,
                )))
            }
            NODE_PYTHON => Ok(Arc::new(crate::python::exec::decode(&node.python, inputs)?)),
            NODE_SAMPLE => {
                let [input] = inputs else {
                    return Err(decode_err("sample needs exactly one input"));
                };
                let s = node
                    .sample
                    .as_ref()
                    .ok_or_else(|| decode_err("sample without its parameters"))?;
                let mode = match s.mode {
                    1 => SampleMode::Random { seed: s.seed },
                    2 => SampleMode::Poisson {
                        fraction: s.fraction,
                        seed: s.seed,
                    },
                    other => return Err(decode_err(format!("unknown sample mode {other}"))),
                };
                Ok(Arc::new(SampleExec::new(input.clone(), mode, &s.column)))
            }
            NODE_RUNTIME_FILTER => {
                let [input, source] = inputs else {
                    return Err(decode_err("runtime filter needs two inputs"));
                };
                let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
                let keys = |hash: Option<&protobuf::Partitioning>,
                                schema: &Schema|
                 -> Result<
                    Vec<Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
                > {
                    match parse_protobuf_partitioning(hash, &decode_ctx, schema, proto_converter)? {
                        Some(Partitioning::Hash(exprs, _)) => Ok(exprs),
                        _ => Err(decode_err("runtime filter keys expected")),
                    }
                };
                let own = keys(node.hash.as_ref(), input.schema().as_ref())?;
                let theirs = keys(node.source_hash.as_ref(), source.schema().as_ref())?;
                Ok(Arc::new(RuntimeFilterExec::try_new(
                    input.clone(),
                    own,
                    source.clone(),
                    theirs,
                )?))
            }
            other => Err(decode_err(format!("unknown node kind {other}"))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let msg = if let Some(w) = node.downcast_ref::<ShuffleWriterExec>() {
            let (kind, partitions, hash) = match w.partitioning() {
                OutputPartitioning::Hash(exprs, n) => (
                    PART_HASH,
                    *n,
                    Some(serialize_partitioning(
                        &Partitioning::Hash(exprs.clone(), *n),
                        self,
                        proto_converter,
                    )?),
                ),
                OutputPartitioning::RoundRobin(n) => (PART_ROUND_ROBIN, *n, None),
                OutputPartitioning::RoundRobinBatch(n) => (PART_ROUND_ROBIN_BATCH, *n, None),
                OutputPartitioning::Single => (PART_SINGLE, 1, None),
                OutputPartitioning::PassThrough(n) => (PART_PASS_THROUGH, *n, None),
            };
            KilnNode {
                node: NODE_WRITER,
                stage_id: w.stage_id(),
                partitioning: kind,
                partitions: partitions as u32,
                hash,
                schema: None,
                sink: vec![],
                constant_columns: vec![],
                python: vec![],
                sample: None,
                source_hash: None,
            }
        } else if let Some(r) = node.downcast_ref::<ShuffleReaderExec>() {
            let schema: protobuf::Schema = r.schema().as_ref().try_into().map_err(
                |e: datafusion_proto::protobuf::ToProtoError| {
                    DataFusionError::Internal(e.to_string())
                },
            )?;
            KilnNode {
                node: NODE_READER,
                stage_id: r.stage_id(),
                partitioning: 0,
                partitions: r.partitions() as u32,
                hash: None,
                schema: Some(schema),
                sink: vec![],
                constant_columns: r.constant_columns().iter().map(|&c| c as u32).collect(),
                python: vec![],
                sample: None,
                source_hash: None,
            }
        } else if let Some(w) = node.downcast_ref::<WriteFilesExec>() {
            let input_schema = w.sink().schema().clone();
            let holder: Arc<dyn ExecutionPlan> = Arc::new(DataSinkExec::new(
                Arc::new(EmptyExec::new(input_schema)),
                w.sink().clone(),
                None,
            ));
            KilnNode {
                node: NODE_WRITE_FILES,
                stage_id: w.stage_id(),
                partitioning: 0,
                partitions: 0,
                hash: None,
                schema: None,
                sink: encode_plan(holder)?.to_vec(),
                constant_columns: vec![],
                python: vec![],
                sample: None,
                source_hash: None,
            }
        } else if let Some(p) = node.downcast_ref::<SampleExec>() {
            let (mode, seed, fraction) = match p.mode() {
                SampleMode::Random { seed } => (1, seed, 0.0),
                SampleMode::Poisson { fraction, seed } => (2, seed, fraction),
            };
            KilnNode {
                node: NODE_SAMPLE,
                sample: Some(SampleNode {
                    mode,
                    seed,
                    fraction,
                    column: p.column().to_string(),
                }),
                ..Default::default()
            }
        } else if let Some(f) = node.downcast_ref::<RuntimeFilterExec>() {
            let keys = |exprs: &[Arc<dyn datafusion::physical_expr::PhysicalExpr>]| {
                serialize_partitioning(
                    &Partitioning::Hash(exprs.to_vec(), 1),
                    self,
                    proto_converter,
                )
            };
            KilnNode {
                node: NODE_RUNTIME_FILTER,
                hash: Some(keys(f.keys())?),
                source_hash: Some(keys(f.source_keys())?),
                ..Default::default()
            }
        } else if let Some(p) = node.downcast_ref::<PythonExec>() {
            KilnNode {
                node: NODE_PYTHON,
                python: crate::python::exec::encode(p)?,
                ..Default::default()
            }
        } else {
            return Err(DataFusionError::NotImplemented(format!(
                "Kiln cannot send plan node {} to executors",
                node.name()
            )));
        };
        msg.encode(buf)
            .map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}

/// Serializes a stage plan for the wire.
pub fn encode_plan(plan: Arc<dyn ExecutionPlan>) -> Result<Bytes> {
    physical_plan_to_bytes_with_extension_codec(plan, &KilnCodec)
}

/// Deserializes a stage plan received from the driver.
pub fn decode_plan(bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = physical_plan_from_bytes_with_extension_codec(bytes, ctx, &KilnCodec)?;
    crate::window_flags::restore(plan)
}
