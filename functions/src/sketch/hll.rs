//! HyperLogLog sketches, as Spark's `hll_sketch_agg`, `hll_union_agg`,
//! `hll_sketch_estimate` and `hll_union`: DataSketches `HllSketch`es of
//! 8-bit registers (Spark's `HLL_8`), lgConfigK 4 to 21 (default 12).

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datasketches::hll::{HllSketch, HllType, HllUnion};

use super::keys::for_each_key;
use super::shared::{int_constant, SketchBuffer, DEFAULT_LG};

/// Spark's bounds of lgConfigK (DataSketches' `HllUtil`).
const LG_K: std::ops::RangeInclusive<i32> = 4..=21;

/// The type `hll_sketch_agg` reads a column of type `t` as: Spark takes
/// INT, BIGINT, STRING and BINARY.
pub(super) fn input_type(name: &str, t: &DataType) -> Result<DataType> {
    use DataType::*;
    Ok(match t {
        Int8 | Int16 | Int32 => Int32,
        Int64 => Int64,
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => Binary,
        Null => Int64,
        t => return plan_err!("{name}: values must be INT, BIGINT, STRING or BINARY, got {t}"),
    })
}

/// A sketch's bytes read back, with Spark's error for anything else.
fn read(name: &str, bytes: &[u8]) -> Result<HllSketch> {
    HllSketch::deserialize(bytes).or_else(|e| {
        exec_err!("{name}: the input is not a valid HllSketch binary representation ({e})")
    })
}

fn union_of(lg_max_k: u8) -> Result<HllUnion> {
    HllUnion::new(lg_max_k).or_else(|e| exec_err!("HLL union of lgK {lg_max_k}: {e}"))
}

/// `hll_sketch_agg(expr[, lgConfigK])`.
#[derive(Debug)]
pub(super) struct SketchAgg {
    sketch: HllSketch,
}

impl SketchAgg {
    pub(super) fn new(name: &str, consts: &[ScalarValue]) -> Result<Self> {
        let lg = int_constant(name, "lgConfigK", consts.first(), LG_K)?.unwrap_or(DEFAULT_LG);
        let sketch = HllSketch::new(lg as u8, HllType::Hll8)
            .or_else(|e| plan_err!("{name}: lgConfigK {lg}: {e}"))?;
        Ok(SketchAgg { sketch })
    }
}

impl SketchBuffer for SketchAgg {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        for_each_key(columns, |key| self.sketch.update(key))
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        let other = read("hll_sketch_agg", state)?;
        let mut union = union_of(self.sketch.lg_config_k())?;
        union.update(&self.sketch);
        union.update(&other);
        self.sketch = union.to_sketch(HllType::Hll8);
        Ok(())
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self.sketch.serialize())
    }

    /// Through a union, as Spark's final merge (whose sketch then
    /// estimates as a union's, with the composite estimator).
    fn result(&self) -> Result<Vec<u8>> {
        let mut union = union_of(self.sketch.lg_config_k())?;
        union.update(&self.sketch);
        Ok(union.to_sketch(HllType::Hll8).serialize())
    }
}

/// `hll_union_agg(sketch[, allowDifferentLgConfigK])`: the union is sized
/// by the first sketch it sees.
#[derive(Debug)]
pub(super) struct UnionAgg {
    name: String,
    allow_different_lg_k: bool,
    union: Option<HllUnion>,
}

impl UnionAgg {
    pub(super) fn new(name: &str, consts: &[ScalarValue]) -> Result<Self> {
        let allow_different_lg_k = match consts.first() {
            Some(ScalarValue::Boolean(b)) => b.unwrap_or(false),
            None => false,
            Some(other) => {
                return plan_err!("{name}: allowDifferentLgConfigK must be a BOOLEAN, got {other}")
            }
        };
        Ok(UnionAgg {
            name: name.to_string(),
            allow_different_lg_k,
            union: None,
        })
    }
}

/// Spark's `HLL_UNION_DIFFERENT_LG_K` unless sketches of different sizes
/// are allowed.
fn check_lg_k(name: &str, allow: bool, left: u8, right: u8) -> Result<()> {
    if !allow && left != right {
        return exec_err!(
            "{name}: sketches have different lgConfigK values: {left} and {right}; \
             set allowDifferentLgConfigK to true to union them"
        );
    }
    Ok(())
}

impl SketchBuffer for UnionAgg {
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()> {
        let sketch = read(&self.name, bytes)?;
        let union = match &mut self.union {
            Some(u) => u,
            None => self.union.insert(union_of(sketch.lg_config_k())?),
        };
        check_lg_k(
            &self.name,
            self.allow_different_lg_k,
            union.lg_config_k(),
            sketch.lg_config_k(),
        )?;
        union.update(&sketch);
        Ok(())
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self
            .union
            .as_ref()
            .map(|u| u.to_sketch(HllType::Hll8).serialize())
            .unwrap_or_default())
    }

    fn result(&self) -> Result<Vec<u8>> {
        match &self.union {
            Some(u) => Ok(u.to_sketch(HllType::Hll8).serialize()),
            // As Spark: an empty union of the default size.
            None => Ok(union_of(DEFAULT_LG as u8)?
                .to_sketch(HllType::Hll8)
                .serialize()),
        }
    }
}

/// Java's `Math.round` of an estimate.
pub(super) fn java_round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// `hll_sketch_estimate(sketch)`: the rounded estimate.
pub(super) fn estimate(name: &str, bytes: &[u8]) -> Result<ScalarValue> {
    let sketch = read(name, bytes)?;
    Ok(ScalarValue::Int64(Some(java_round(sketch.estimate()))))
}

/// `hll_union(first, second[, allowDifferentLgConfigK])`.
pub(super) fn union(
    name: &str,
    first: &[u8],
    second: &[u8],
    allow: &ScalarValue,
) -> Result<ScalarValue> {
    let (a, b) = (read(name, first)?, read(name, second)?);
    let allow = matches!(allow, ScalarValue::Boolean(Some(true)));
    check_lg_k(name, allow, a.lg_config_k(), b.lg_config_k())?;
    let mut union = union_of(a.lg_config_k().min(b.lg_config_k()))?;
    union.update(&a);
    union.update(&b);
    Ok(ScalarValue::Binary(Some(
        union.to_sketch(HllType::Hll8).serialize(),
    )))
}
