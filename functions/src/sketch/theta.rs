//! Theta sketches, as Spark's `theta_sketch_agg`, `theta_union_agg`,
//! `theta_intersection_agg`, `theta_sketch_estimate`, `theta_union`,
//! `theta_intersection` and `theta_difference`: DataSketches Theta
//! sketches of 2^lgNomEntries nominal entries (4 to 26, default 12),
//! returned as compressed compact sketches, as Spark returns them.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datasketches::theta::{
    CompactThetaSketch, ThetaANotB, ThetaIntersection, ThetaSketch, ThetaSketchBuilder, ThetaUnion,
    ThetaUnionBuilder,
};

use super::hll::java_round;
use super::keys::for_each_key;
use super::shared::{int_constant, SketchBuffer, DEFAULT_LG};

/// Spark's bounds of lgNomEntries (`ThetaSketchUtils`).
pub(super) const LG_NOM: std::ops::RangeInclusive<i32> = 4..=26;

/// The type Theta and Tuple sketch aggregates read a key column of type
/// `t` as: Spark takes INT, BIGINT, FLOAT, DOUBLE, STRING, BINARY and
/// arrays of INT or BIGINT.
pub(super) fn key_type(name: &str, t: &DataType) -> Result<DataType> {
    use DataType::*;
    Ok(match t {
        Int8 | Int16 | Int32 => Int32,
        Int64 | Null => Int64,
        Float32 => Float32,
        Float64 => Float64,
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => Binary,
        List(f) | LargeList(f) if matches!(f.data_type(), Int8 | Int16 | Int32) => List(
            std::sync::Arc::new(arrow::datatypes::Field::new_list_field(Int32, true)),
        ),
        List(f) | LargeList(f) if f.data_type() == &Int64 => List(std::sync::Arc::new(
            arrow::datatypes::Field::new_list_field(Int64, true),
        )),
        t => {
            return plan_err!(
                "{name}: keys must be INT, BIGINT, FLOAT, DOUBLE, STRING, BINARY, \
                 ARRAY<INT> or ARRAY<BIGINT>, got {t}"
            )
        }
    })
}

/// A compact sketch's bytes read back, with Spark's error otherwise.
pub(super) fn read(name: &str, bytes: &[u8]) -> Result<CompactThetaSketch> {
    CompactThetaSketch::deserialize(bytes).or_else(|e| {
        exec_err!("{name}: the input is not a valid ThetaSketch binary representation ({e})")
    })
}

/// The lgNomEntries of a constant argument (default 12).
pub(super) fn lg_nom(name: &str, value: Option<&ScalarValue>) -> Result<u8> {
    Ok(int_constant(name, "lgNomEntries", value, LG_NOM)?.unwrap_or(DEFAULT_LG) as u8)
}

pub(super) fn union_of(name: &str, lg: u8) -> Result<ThetaUnion> {
    ThetaUnionBuilder::default()
        .lg_k(lg)
        .build()
        .or_else(|e| exec_err!("{name}: lgNomEntries {lg}: {e}"))
}

fn bytes_of(sketch: &CompactThetaSketch) -> Vec<u8> {
    sketch.serialize_compressed()
}

/// `theta_sketch_agg(expr[, lgNomEntries])`.
#[derive(Debug)]
pub(super) struct SketchAgg {
    lg: u8,
    sketch: ThetaSketch,
    /// Partial sketches of other tasks merged in.
    merged: Option<ThetaUnion>,
}

impl SketchAgg {
    pub(super) fn new(name: &str, consts: &[ScalarValue]) -> Result<Self> {
        let lg = lg_nom(name, consts.first())?;
        let sketch = ThetaSketchBuilder::default()
            .lg_k(lg)
            .build()
            .or_else(|e| plan_err!("{name}: lgNomEntries {lg}: {e}"))?;
        Ok(SketchAgg {
            lg,
            sketch,
            merged: None,
        })
    }
}

impl SketchBuffer for SketchAgg {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        for_each_key(columns, |key| self.sketch.update(key))
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        let other = read("theta_sketch_agg", state)?;
        let union = match &mut self.merged {
            Some(u) => u,
            None => self.merged.insert(union_of("theta_sketch_agg", self.lg)?),
        };
        union
            .update(&other)
            .or_else(|e| exec_err!("theta_sketch_agg: {e}"))
    }

    /// Through a union, as Spark's final merge: at most k entries kept.
    fn state(&self) -> Result<Vec<u8>> {
        let mut union = union_of("theta_sketch_agg", self.lg)?;
        let merged = self.merged.as_ref().map(|m| m.to_sketch(true));
        if let Some(m) = &merged {
            union
                .update(m)
                .or_else(|e| exec_err!("theta_sketch_agg: {e}"))?;
        }
        union
            .update(&self.sketch)
            .or_else(|e| exec_err!("theta_sketch_agg: {e}"))?;
        Ok(bytes_of(&union.to_sketch(true)))
    }
}

/// `theta_union_agg(sketch[, lgNomEntries])`.
#[derive(Debug)]
pub(super) struct UnionAgg {
    name: String,
    union: ThetaUnion,
}

impl UnionAgg {
    pub(super) fn new(name: &str, consts: &[ScalarValue]) -> Result<Self> {
        let lg = lg_nom(name, consts.first())?;
        Ok(UnionAgg {
            name: name.to_string(),
            union: union_of(name, lg)?,
        })
    }
}

impl SketchBuffer for UnionAgg {
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()> {
        let sketch = read(&self.name, bytes)?;
        self.union
            .update(&sketch)
            .or_else(|e| exec_err!("{}: {e}", self.name))
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(bytes_of(&self.union.to_sketch(true)))
    }
}

/// `theta_intersection_agg(sketch)`: until a first sketch arrives the
/// intersection has no result, and its state is empty.
#[derive(Debug)]
pub(super) struct IntersectionAgg {
    name: String,
    intersection: ThetaIntersection,
}

impl IntersectionAgg {
    pub(super) fn new(name: &str) -> Self {
        IntersectionAgg {
            name: name.to_string(),
            intersection: ThetaIntersection::default(),
        }
    }
}

impl SketchBuffer for IntersectionAgg {
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()> {
        let sketch = read(&self.name, bytes)?;
        self.intersection
            .update(&sketch)
            .or_else(|e| exec_err!("{}: {e}", self.name))
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self
            .intersection
            .to_sketch(true)
            .map(|s| bytes_of(&s))
            .unwrap_or_default())
    }

    fn result(&self) -> Result<Vec<u8>> {
        match self.intersection.to_sketch(true) {
            Some(s) => Ok(bytes_of(&s)),
            None => Ok(bytes_of(
                &union_of(&self.name, DEFAULT_LG as u8)?.to_sketch(true),
            )),
        }
    }
}

/// `theta_sketch_estimate(sketch)`: the rounded estimate.
pub(super) fn estimate(name: &str, bytes: &[u8]) -> Result<ScalarValue> {
    let sketch = read(name, bytes)?;
    Ok(ScalarValue::Int64(Some(java_round(sketch.estimate()))))
}

/// `theta_union(first, second[, lgNomEntries])`.
pub(super) fn union(
    name: &str,
    first: &[u8],
    second: &[u8],
    lg: &ScalarValue,
) -> Result<ScalarValue> {
    let lg = lg_nom(name, Some(lg))?;
    let (a, b) = (read(name, first)?, read(name, second)?);
    let mut union = union_of(name, lg)?;
    union
        .update(&a)
        .and_then(|_| union.update(&b))
        .or_else(|e| exec_err!("{name}: {e}"))?;
    Ok(ScalarValue::Binary(Some(bytes_of(&union.to_sketch(true)))))
}

/// `theta_intersection(first, second)`.
pub(super) fn intersection(name: &str, first: &[u8], second: &[u8]) -> Result<ScalarValue> {
    let (a, b) = (read(name, first)?, read(name, second)?);
    let mut intersection = ThetaIntersection::default();
    intersection
        .update(&a)
        .and_then(|_| intersection.update(&b))
        .or_else(|e| exec_err!("{name}: {e}"))?;
    match intersection.to_sketch(true) {
        Some(s) => Ok(ScalarValue::Binary(Some(bytes_of(&s)))),
        None => exec_err!("{name}: the intersection has no result"),
    }
}

/// `theta_difference(first, second)`: the keys of `first` not in `second`.
pub(super) fn difference(name: &str, first: &[u8], second: &[u8]) -> Result<ScalarValue> {
    let (a, b) = (read(name, first)?, read(name, second)?);
    let d = ThetaANotB::default()
        .compute(&a, &b, true)
        .or_else(|e| exec_err!("{name}: {e}"))?;
    Ok(ScalarValue::Binary(Some(bytes_of(&d))))
}
