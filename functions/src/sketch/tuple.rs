//! Tuple sketches of numeric summaries, as Spark's
//! `tuple_sketch_agg_{double,integer}`, `tuple_union_agg_*` and
//! `tuple_intersection_agg_*`: DataSketches Tuple sketches whose keys carry
//! Java's `DoubleSummary` or `IntegerSummary`, combined by a mode (`sum`,
//! `min`, `max` or `alwaysone`). A summary serialises as Java's does: its
//! value (little-endian) and then its mode's ordinal byte.

use std::fmt::Debug;

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datasketches::codec::{SketchBytes, SketchSlice};
use datasketches::error::{Error as SketchError, ErrorKind};
use datasketches::tuple::{
    CompactTupleSketch, SummaryCombinePolicy, SummaryPolicy, SummaryUpdatePolicy,
    TupleIntersection, TupleSketch, TupleSketchBuilder, TupleSummaryValue, TupleUnion,
    TupleUnionBuilder,
};

use super::keys::keys;
use super::shared::SketchBuffer;
use super::theta::lg_nom;
use super::SummaryType;

/// How summaries of one key combine: Java's `DoubleSummary.Mode` and
/// `IntegerSummary.Mode`, in their ordinal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Mode {
    Sum,
    Min,
    Max,
    AlwaysOne,
}

impl Mode {
    /// Spark's mode argument.
    pub(super) fn parse(name: &str, value: &ScalarValue) -> Result<Mode> {
        let text = match value {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s.as_str(),
            ScalarValue::Utf8View(Some(s)) => s.as_str(),
            other => return plan_err!("{name}: the mode must be a STRING, got {other}"),
        };
        match text {
            "sum" => Ok(Mode::Sum),
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            "alwaysone" => Ok(Mode::AlwaysOne),
            other => plan_err!(
                "{name}: the mode must be one of 'sum', 'min', 'max' or 'alwaysone', got '{other}'"
            ),
        }
    }

    fn ordinal(self) -> u8 {
        self as u8
    }

    fn from_ordinal(b: u8) -> Option<Mode> {
        [Mode::Sum, Mode::Min, Mode::Max, Mode::AlwaysOne]
            .get(usize::from(b))
            .copied()
    }
}

/// The number a summary holds (`f64` for DOUBLE, `i32` for INTEGER).
pub(super) trait Number: Copy + PartialOrd + Debug + Send + Sync + 'static {
    /// The value a summary of `mode` starts from (Java's constructors).
    fn start(mode: Mode) -> Self;
    /// Adds, as Java's `+` does (integers wrap).
    fn plus(self, other: Self) -> Self;
    fn one() -> Self;
    fn write(self, bytes: &mut SketchBytes);
    fn read(input: &mut SketchSlice<'_>) -> std::io::Result<Self>;
    /// The summaries of a column, with their NULLs.
    fn column(column: &ArrayRef) -> Result<Vec<Option<Self>>>;
    fn size() -> usize;
}

impl Number for f64 {
    fn start(mode: Mode) -> Self {
        match mode {
            Mode::Sum => 0.0,
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
            Mode::AlwaysOne => 1.0,
        }
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
    fn one() -> Self {
        1.0
    }
    fn write(self, bytes: &mut SketchBytes) {
        bytes.write_f64_le(self);
    }
    fn read(input: &mut SketchSlice<'_>) -> std::io::Result<Self> {
        input.read_f64_le()
    }
    fn column(column: &ArrayRef) -> Result<Vec<Option<Self>>> {
        let c = cast(column, &DataType::Float64)?;
        Ok(c.as_primitive::<Float64Type>().iter().collect())
    }
    fn size() -> usize {
        8
    }
}

impl Number for i32 {
    fn start(mode: Mode) -> Self {
        match mode {
            Mode::Sum => 0,
            Mode::Min => i32::MAX,
            Mode::Max => i32::MIN,
            Mode::AlwaysOne => 1,
        }
    }
    fn plus(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn one() -> Self {
        1
    }
    fn write(self, bytes: &mut SketchBytes) {
        bytes.write_i32_le(self);
    }
    fn read(input: &mut SketchSlice<'_>) -> std::io::Result<Self> {
        input.read_i32_le()
    }
    fn column(column: &ArrayRef) -> Result<Vec<Option<Self>>> {
        let c = cast(column, &DataType::Int32)?;
        Ok(c.as_primitive::<Int32Type>().iter().collect())
    }
    fn size() -> usize {
        4
    }
}

/// One key's summary: Java's `DoubleSummary` / `IntegerSummary`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Summary<N> {
    pub(super) value: N,
    mode: Mode,
}

impl<N: Number> Summary<N> {
    pub(super) fn new(mode: Mode) -> Self {
        Summary {
            value: N::start(mode),
            mode,
        }
    }

    fn update(&mut self, v: N) {
        match self.mode {
            Mode::Sum => self.value = self.value.plus(v),
            Mode::Min if v < self.value => self.value = v,
            Mode::Max if v > self.value => self.value = v,
            Mode::AlwaysOne => self.value = N::one(),
            Mode::Min | Mode::Max => {}
        }
    }
}

impl<N: Number> TupleSummaryValue for Summary<N> {
    fn serialize_size(&self) -> usize {
        N::size() + 1
    }

    fn serialize_value(&self, bytes: &mut SketchBytes) {
        self.value.write(bytes);
        bytes.write_u8(self.mode.ordinal());
    }

    fn deserialize_value(cursor: &mut SketchSlice<'_>) -> std::result::Result<Self, SketchError> {
        let bad = |what: &str| SketchError::new(ErrorKind::InvalidData, what.to_string());
        let value = N::read(cursor).map_err(|_| bad("summary value truncated"))?;
        let mode = cursor
            .read_u8()
            .ok()
            .and_then(Mode::from_ordinal)
            .ok_or_else(|| bad("summary mode missing or unknown"))?;
        Ok(Summary { value, mode })
    }
}

/// Creates, updates and combines summaries in one mode, as Java's
/// summary factories and `SummarySetOperations` do: a combination is a
/// fresh summary updated with both values.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModePolicy<N> {
    pub(super) mode: Mode,
    marker: std::marker::PhantomData<fn() -> N>,
}

impl<N> ModePolicy<N> {
    pub(super) fn new(mode: Mode) -> Self {
        ModePolicy {
            mode,
            marker: std::marker::PhantomData,
        }
    }
}

impl<N: Number> SummaryPolicy for ModePolicy<N> {
    type Summary = Summary<N>;

    fn create(&self) -> Summary<N> {
        Summary::new(self.mode)
    }
}

impl<N: Number> SummaryUpdatePolicy<N> for ModePolicy<N> {
    fn update(&self, summary: &mut Summary<N>, value: N) {
        summary.update(value);
    }
}

impl<N: Number> SummaryCombinePolicy for ModePolicy<N> {
    fn combine(&self, summary: &mut Summary<N>, other: &Summary<N>) {
        let mut combined = Summary::new(self.mode);
        combined.update(summary.value);
        combined.update(other.value);
        *summary = combined;
    }
}

/// The SQL type of a summary column.
pub(super) fn summary_sql_type(s: SummaryType) -> DataType {
    match s {
        SummaryType::Double => DataType::Float64,
        SummaryType::Integer => DataType::Int32,
    }
}

/// A compact Tuple sketch's bytes read back, with Spark's error otherwise.
pub(super) fn read<N: Number>(name: &str, bytes: &[u8]) -> Result<CompactTupleSketch<Summary<N>>> {
    CompactTupleSketch::<Summary<N>>::deserialize(bytes).or_else(|e| {
        exec_err!("{name}: the input is not a valid TupleSketch binary representation ({e})")
    })
}

pub(super) fn union_of<N: Number>(
    name: &str,
    lg: u8,
    mode: Mode,
) -> Result<TupleUnion<ModePolicy<N>>> {
    TupleUnionBuilder::new(ModePolicy::<N>::new(mode))
        .lg_k(lg)
        .build()
        .or_else(|e| exec_err!("{name}: lgNomEntries {lg}: {e}"))
}

fn mode_arg(name: &str, consts: &[ScalarValue], i: usize) -> Result<Mode> {
    match consts.get(i) {
        Some(v) => Mode::parse(name, v),
        None => Ok(Mode::Sum),
    }
}

/// `tuple_sketch_agg_*(key, summary[, lgNomEntries[, mode]])`.
#[derive(Debug)]
struct SketchAgg<N: Number> {
    name: String,
    lg: u8,
    mode: Mode,
    sketch: TupleSketch<ModePolicy<N>>,
    merged: Option<TupleUnion<ModePolicy<N>>>,
}

impl<N: Number> SketchBuffer for SketchAgg<N> {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        let (Some(key), Some(summary)) = (columns.first(), columns.get(1)) else {
            return exec_err!("{} takes a key and a summary", self.name);
        };
        let summaries = N::column(summary)?;
        for (key, value) in keys(key)?.into_iter().zip(summaries) {
            if let (Some(key), Some(value)) = (key, value) {
                self.sketch.update(key, value);
            }
        }
        Ok(())
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        let other = read::<N>(&self.name, state)?;
        let union = match &mut self.merged {
            Some(u) => u,
            None => self
                .merged
                .insert(union_of::<N>(&self.name, self.lg, self.mode)?),
        };
        union
            .update(&other)
            .or_else(|e| exec_err!("{}: {e}", self.name))
    }

    /// Through a union, as Spark's final merge: at most k entries kept.
    fn state(&self) -> Result<Vec<u8>> {
        let mut union = union_of::<N>(&self.name, self.lg, self.mode)?;
        let merged = self.merged.as_ref().map(|m| m.to_sketch(true));
        if let Some(m) = &merged {
            union
                .update(m)
                .or_else(|e| exec_err!("{}: {e}", self.name))?;
        }
        union
            .update(&self.sketch)
            .or_else(|e| exec_err!("{}: {e}", self.name))?;
        Ok(union.to_sketch(true).serialize())
    }
}

/// `tuple_union_agg_*(sketch[, lgNomEntries[, mode]])`.
#[derive(Debug)]
struct UnionAgg<N: Number> {
    name: String,
    union: TupleUnion<ModePolicy<N>>,
}

impl<N: Number> UnionAgg<N> {}

impl<N: Number> SketchBuffer for UnionAgg<N> {
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()> {
        let sketch = read::<N>(&self.name, bytes)?;
        self.union
            .update(&sketch)
            .or_else(|e| exec_err!("{}: {e}", self.name))
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self.union.to_sketch(true).serialize())
    }
}

/// `tuple_intersection_agg_*(sketch[, mode])`: no result (an empty
/// state) until a first sketch arrives.
#[derive(Debug)]
struct IntersectionAgg<N: Number> {
    name: String,
    intersection: TupleIntersection<ModePolicy<N>>,
}

impl<N: Number> IntersectionAgg<N> {}

impl<N: Number> SketchBuffer for IntersectionAgg<N> {
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()> {
        let sketch = read::<N>(&self.name, bytes)?;
        self.intersection
            .update(&sketch)
            .or_else(|e| exec_err!("{}: {e}", self.name))
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self
            .intersection
            .to_sketch(true)
            .map(|s| s.serialize())
            .unwrap_or_default())
    }

    fn result(&self) -> Result<Vec<u8>> {
        Ok(match self.intersection.to_sketch(true) {
            Some(s) => s.serialize(),
            None => union_of::<N>(&self.name, 12, Mode::Sum)?
                .to_sketch(true)
                .serialize(),
        })
    }
}

fn sketch_agg_of<N: Number>(name: &str, consts: &[ScalarValue]) -> Result<Box<dyn SketchBuffer>> {
    let lg = lg_nom(name, consts.first())?;
    let mode = mode_arg(name, consts, 1)?;
    let sketch = TupleSketchBuilder::new(ModePolicy::<N>::new(mode))
        .lg_k(lg)
        .build()
        .or_else(|e| plan_err!("{name}: lgNomEntries {lg}: {e}"))?;
    Ok(Box::new(SketchAgg::<N> {
        name: name.to_string(),
        lg,
        mode,
        sketch,
        merged: None,
    }))
}

/// `tuple_sketch_agg_*`.
pub(super) fn sketch_agg(
    name: &str,
    s: SummaryType,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    match s {
        SummaryType::Double => sketch_agg_of::<f64>(name, consts),
        SummaryType::Integer => sketch_agg_of::<i32>(name, consts),
    }
}

fn union_agg_of<N: Number>(name: &str, consts: &[ScalarValue]) -> Result<Box<dyn SketchBuffer>> {
    let lg = lg_nom(name, consts.first())?;
    let mode = mode_arg(name, consts, 1)?;
    Ok(Box::new(UnionAgg::<N> {
        name: name.to_string(),
        union: union_of::<N>(name, lg, mode)?,
    }))
}

/// `tuple_union_agg_*`.
pub(super) fn union_agg(
    name: &str,
    s: SummaryType,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    match s {
        SummaryType::Double => union_agg_of::<f64>(name, consts),
        SummaryType::Integer => union_agg_of::<i32>(name, consts),
    }
}

fn intersection_agg_of<N: Number>(
    name: &str,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    let mode = mode_arg(name, consts, 0)?;
    Ok(Box::new(IntersectionAgg::<N> {
        name: name.to_string(),
        intersection: TupleIntersection::new(ModePolicy::<N>::new(mode)),
    }))
}

/// `tuple_intersection_agg_*`.
pub(super) fn intersection_agg(
    name: &str,
    s: SummaryType,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    match s {
        SummaryType::Double => intersection_agg_of::<f64>(name, consts),
        SummaryType::Integer => intersection_agg_of::<i32>(name, consts),
    }
}
