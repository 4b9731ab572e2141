//! Spark's seeded sampling as a plan node: [`SparkSample`] (logical) and
//! [`SampleExec`] (physical), which run Spark's own generators per
//! partition ([`rng`]), seeded as Spark seeds them from the partition's
//! index, so a seeded `df.sample`, `sampleBy` or `randomSplit` keeps the
//! rows Spark keeps when the partitions hold the same rows as Spark's.
//!
//! Two modes: [`SampleMode::Random`] adds a DOUBLE column of Spark's
//! `rand(seed)` (`XORShiftRandom(seed + partition)`), which a filter then
//! compares (Bernoulli sampling, `sampleBy`); [`SampleMode::Poisson`]
//! repeats each row as often as Spark's Poisson sampler says (sampling
//! with replacement).

pub mod rng;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use rng::{JavaRandom, PoissonSampler, XorShiftRandom};

/// What a sample node does with its input's rows.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum SampleMode {
    /// Adds a column of Spark's `rand(seed)`.
    Random {
        /// The seed.
        seed: i64,
    },
    /// Repeats each row a Poisson(`fraction`) number of times.
    Poisson {
        /// The expected number of copies of a row.
        fraction: f64,
        /// The seed.
        seed: i64,
    },
}

impl SampleMode {
    fn output(&self, input: &Schema, column: &str) -> Schema {
        match self {
            SampleMode::Random { .. } => {
                let mut fields: Vec<Field> =
                    input.fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.push(Field::new(column, DataType::Float64, false));
                Schema::new_with_metadata(fields, input.metadata().clone())
            }
            SampleMode::Poisson { .. } => input.clone(),
        }
    }
}

/// The logical sample node.
#[derive(Debug, Clone)]
pub struct SparkSample {
    /// Its input.
    pub input: LogicalPlan,
    /// What it does.
    pub mode: SampleMode,
    /// The name of the added column ([`SampleMode::Random`]).
    pub column: String,
    schema: DFSchemaRef,
}

impl SparkSample {
    /// `mode` over `input`; `column` names the random column it adds.
    pub fn try_new(input: LogicalPlan, mode: SampleMode, column: &str) -> Result<Self> {
        let schema = match mode {
            SampleMode::Random { .. } => {
                let mut fields: Vec<_> = input
                    .schema()
                    .iter()
                    .map(|(q, f)| (q.cloned(), f.clone()))
                    .collect();
                fields.push((None, Arc::new(Field::new(column, DataType::Float64, false))));
                Arc::new(DFSchema::new_with_metadata(
                    fields,
                    input.schema().metadata().clone(),
                )?)
            }
            SampleMode::Poisson { .. } => input.schema().clone(),
        };
        Ok(SparkSample {
            input,
            mode,
            column: column.to_string(),
            schema,
        })
    }

    /// As a logical plan.
    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }
}

impl PartialEq for SparkSample {
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input && self.mode == other.mode && self.column == other.column
    }
}

impl Eq for SparkSample {}

impl Hash for SparkSample {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.column.hash(state);
        format!("{:?}", self.mode).hash(state);
    }
}

impl PartialOrd for SparkSample {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.mode.partial_cmp(&other.mode)
    }
}

impl UserDefinedLogicalNodeCore for SparkSample {
    fn name(&self) -> &str {
        "SparkSample"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SparkSample: {:?}", self.mode)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [input] = <[LogicalPlan; 1]>::try_from(inputs)
            .map_err(|_| DataFusionError::Internal("a sample has one input".into()))?;
        SparkSample::try_new(input, self.mode, &self.column)
    }
}

/// The physical sample node.
#[derive(Debug)]
pub struct SampleExec {
    input: Arc<dyn ExecutionPlan>,
    mode: SampleMode,
    column: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl SampleExec {
    /// `mode` over `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>, mode: SampleMode, column: &str) -> Self {
        let schema = Arc::new(mode.output(&input.schema(), column));
        // The partitions are the input's: the generators are seeded by the
        // partition index, so they must not be redistributed below.
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            input.properties().partitioning.clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        SampleExec {
            input,
            mode,
            column: column.to_string(),
            schema,
            properties,
        }
    }

    /// What it does.
    pub fn mode(&self) -> SampleMode {
        self.mode
    }

    /// The name of the random column it adds.
    pub fn column(&self) -> &str {
        &self.column
    }
}

impl DisplayAs for SampleExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SampleExec: {:?}", self.mode)
    }
}

impl ExecutionPlan for SampleExec {
    plan_node_basics!("SampleExec", input, no_expressions);

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        // The rows keep their order, but a sort must not move below a
        // sample: which rows are kept depends on their order in the
        // partition, as in Spark (the output declares no ordering).
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[Arc<dyn ExecutionPlan>; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("a sample has one input".into()))?;
        Ok(Arc::new(SampleExec::new(input, self.mode, &self.column)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = self.schema.clone();
        let index = i64::try_from(partition).unwrap_or(i64::MAX);
        let stream = match self.mode {
            SampleMode::Random { seed } => {
                let mut rng = XorShiftRandom::new(seed.wrapping_add(index));
                let out = schema.clone();
                input
                    .map(move |batch: Result<RecordBatch>| -> Result<RecordBatch> {
                        let batch = batch?;
                        let values: Float64Array =
                            (0..batch.num_rows()).map(|_| rng.next_double()).collect();
                        let mut columns = batch.columns().to_vec();
                        columns.push(Arc::new(values) as ArrayRef);
                        Ok(RecordBatch::try_new(out.clone(), columns)?)
                    })
                    .boxed()
            }
            SampleMode::Poisson { fraction, seed } => {
                // Spark seeds partition `i` with the `i + 1`-th `nextLong()`
                // of `java.util.Random(seed)`.
                let mut seeds = JavaRandom::new(seed);
                let mut partition_seed = seeds.next_long();
                for _ in 0..partition {
                    partition_seed = seeds.next_long();
                }
                let mut sampler = PoissonSampler::new(fraction, partition_seed);
                input
                    .map(move |batch: Result<RecordBatch>| -> Result<RecordBatch> {
                        let batch = batch?;
                        let mut take = vec![];
                        for row in 0..batch.num_rows() as u64 {
                            for _ in 0..sampler.sample() {
                                take.push(row);
                            }
                        }
                        let take = UInt64Array::from(take);
                        let columns = batch
                            .columns()
                            .iter()
                            .map(|c| arrow::compute::take(c, &take, None))
                            .collect::<std::result::Result<Vec<_>, _>>()?;
                        let options = arrow::array::RecordBatchOptions::new()
                            .with_row_count(Some(take.len()));
                        Ok(RecordBatch::try_new_with_options(
                            batch.schema(),
                            columns,
                            &options,
                        )?)
                    })
                    .boxed()
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The [`SampleExec`] of a [`SparkSample`] node (`None` for any other
/// node): Kiln's query planner asks this of every extension node.
pub fn plan_sample(
    node: &dyn UserDefinedLogicalNode,
    physical_inputs: &[Arc<dyn ExecutionPlan>],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(s) = node.as_any().downcast_ref::<SparkSample>() else {
        return Ok(None);
    };
    let [input] = physical_inputs else {
        return Err(DataFusionError::Internal("a sample has one input".into()));
    };
    Ok(Some(Arc::new(SampleExec::new(
        input.clone(),
        s.mode,
        &s.column,
    ))))
}
