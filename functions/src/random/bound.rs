//! The partition-bound form of the functions of [`super`]: one per call in
//! one task's plan, holding the partition index and the generator's state
//! from batch to batch.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{
    new_null_array, ArrayRef, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringBuilder,
};
use arrow::datatypes::{DataType, FieldRef, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

use super::{Kind, XorShiftRandom};

/// What a call draws per row.
#[derive(Debug, Clone, PartialEq)]
enum Draw {
    /// `rand`, `randn`.
    Generator,
    /// `uniform(min, max)`: `min + (max - min) * rand`, NULL when a bound is.
    Uniform(Option<(f64, f64)>),
    /// `randstr(length)`.
    Chars(usize),
    /// `spark_partition_id`, `monotonically_increasing_id`.
    Position,
}

/// The generator and the rows drawn so far in this partition.
#[derive(Debug)]
struct State {
    rng: XorShiftRandom,
    rows: i64,
}

/// A call of [`super::functions`] bound to a partition.
#[derive(Debug)]
pub struct BoundPerPartition {
    kind: Kind,
    name: &'static str,
    seed: i64,
    partition: usize,
    draw: Draw,
    field: FieldRef,
    state: Mutex<State>,
}

impl BoundPerPartition {
    fn new(
        kind: Kind,
        name: &'static str,
        seed: i64,
        partition: usize,
        draw: Draw,
        field: FieldRef,
    ) -> Self {
        // Spark seeds each partition's generator with `seed + partitionIndex`.
        let rng = XorShiftRandom::new(seed.wrapping_add(partition as i64));
        BoundPerPartition {
            kind,
            name,
            seed,
            partition,
            draw,
            field,
            state: Mutex::new(State { rng, rows: 0 }),
        }
    }

    /// `rand` or `randn`, answering `field` (the planned call's).
    pub fn generator(
        kind: Kind,
        name: &'static str,
        seed: i64,
        partition: usize,
        field: FieldRef,
    ) -> Self {
        Self::new(kind, name, seed, partition, Draw::Generator, field)
    }

    /// `uniform` between `bounds` (None: a bound is NULL), of `field`'s type.
    pub fn uniform(
        name: &'static str,
        seed: i64,
        partition: usize,
        bounds: Option<(f64, f64)>,
        field: FieldRef,
    ) -> Self {
        Self::new(
            Kind::Uniform,
            name,
            seed,
            partition,
            Draw::Uniform(bounds),
            field,
        )
    }

    /// `randstr` of `length` characters.
    pub fn randstr(
        name: &'static str,
        seed: i64,
        partition: usize,
        length: usize,
        field: FieldRef,
    ) -> Self {
        Self::new(
            Kind::RandStr,
            name,
            seed,
            partition,
            Draw::Chars(length),
            field,
        )
    }

    /// `spark_partition_id` or `monotonically_increasing_id`.
    pub fn position(kind: Kind, name: &'static str, partition: usize, field: FieldRef) -> Self {
        Self::new(kind, name, 0, partition, Draw::Position, field)
    }

    /// The next `rows` values.
    fn draw(&self, rows: usize) -> Result<ArrayRef> {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(_) => return exec_err!("{}: the generator's state was poisoned", self.name),
        };
        let first = state.rows;
        state.rows += rows as i64;
        let rng = &mut state.rng;
        Ok(match (&self.draw, self.kind) {
            (Draw::Generator, Kind::Randn) => Arc::new(
                (0..rows)
                    .map(|_| rng.next_gaussian())
                    .collect::<Float64Array>(),
            ),
            (Draw::Generator, _) => Arc::new(
                (0..rows)
                    .map(|_| rng.next_double())
                    .collect::<Float64Array>(),
            ),
            (Draw::Uniform(None), _) => new_null_array(self.field.data_type(), rows),
            (Draw::Uniform(Some((min, max))), _) => {
                let values = (0..rows).map(|_| min + (max - min) * rng.next_double());
                // Spark casts the double to the result type: toward zero for
                // integers, as Rust's `as`.
                match self.field.data_type() {
                    DataType::Int16 => Arc::new(values.map(|v| v as i16).collect::<Int16Array>()),
                    DataType::Int32 => Arc::new(values.map(|v| v as i32).collect::<Int32Array>()),
                    DataType::Int64 => Arc::new(values.map(|v| v as i64).collect::<Int64Array>()),
                    DataType::Float32 => {
                        Arc::new(values.map(|v| v as f32).collect::<Float32Array>())
                    }
                    _ => Arc::new(values.collect::<Float64Array>()),
                }
            }
            (Draw::Chars(length), _) => {
                let mut out = StringBuilder::with_capacity(rows, rows * length);
                let mut chars = String::with_capacity(*length);
                for _ in 0..rows {
                    chars.clear();
                    for _ in 0..*length {
                        // Spark: |nextInt() % 62| picks one of 0-9, a-z, A-Z.
                        let n = (rng.next_int() % 62).unsigned_abs() as u8;
                        chars.push(match n {
                            0..=9 => (b'0' + n) as char,
                            10..=35 => (b'a' + n - 10) as char,
                            _ => (b'A' + n - 36) as char,
                        });
                    }
                    out.append_value(&chars);
                }
                Arc::new(out.finish())
            }
            (Draw::Position, Kind::PartitionId) => {
                Arc::new(Int32Array::from(vec![self.partition as i32; rows]))
            }
            (Draw::Position, _) => {
                let base = (self.partition as i64) << 33;
                Arc::new(
                    (0..rows as i64)
                        .map(|i| base + first + i)
                        .collect::<Int64Array>(),
                )
            }
        })
    }
}

impl fmt::Display for BoundPerPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[partition {}]", self.name, self.partition)
    }
}

impl PartialEq for BoundPerPartition {
    fn eq(&self, other: &Self) -> bool {
        // Each bound call is its own generator: equal only to itself.
        std::ptr::eq(self, other)
    }
}

impl Eq for BoundPerPartition {}

impl Hash for BoundPerPartition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.seed.hash(state);
        self.partition.hash(state);
    }
}

impl PhysicalExpr for BoundPerPartition {
    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(self.field.clone())
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Array(self.draw(batch.num_rows())?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(self)
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}()", self.name)
    }
}
