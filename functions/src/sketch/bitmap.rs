//! Spark's bitmap aggregates: `bitmap_construct_agg(position)` sets the
//! bits of the positions (0 to 32767) in a 4096-byte bitmap;
//! `bitmap_or_agg(bitmap)` and `bitmap_and_agg(bitmap)` combine bitmaps
//! byte by byte into a 4096-byte result, a shorter input counting as
//! zeros past its end. An AND of no bitmaps is all ones, as Spark's.

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, Result};

use super::shared::{sketches, SketchBuffer};

/// Spark's bitmap size in bytes (`BitmapExpressionUtils.NUM_BYTES`).
const NUM_BYTES: usize = 4096;

/// Which bitmap aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BitmapOp {
    Construct,
    Or,
    And,
}

impl BitmapOp {
    pub(super) fn name(self) -> &'static str {
        match self {
            BitmapOp::Construct => "bitmap_construct_agg",
            BitmapOp::Or => "bitmap_or_agg",
            BitmapOp::And => "bitmap_and_agg",
        }
    }
}

/// The bitmap under construction.
#[derive(Debug)]
pub(super) struct BitmapAgg {
    op: BitmapOp,
    bits: Vec<u8>,
}

impl BitmapAgg {
    pub(super) fn new(op: BitmapOp) -> Self {
        let fill = if op == BitmapOp::And { 0xff } else { 0 };
        BitmapAgg {
            op,
            bits: vec![fill; NUM_BYTES],
        }
    }

    /// Combines a bitmap into this one.
    fn combine(&mut self, other: &[u8]) {
        let other = other.iter().copied().chain(std::iter::repeat(0));
        for (b, o) in self.bits.iter_mut().zip(other) {
            match self.op {
                BitmapOp::And => *b &= o,
                BitmapOp::Or | BitmapOp::Construct => *b |= o,
            }
        }
    }
}

impl SketchBuffer for BitmapAgg {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        let Some(column) = columns.first() else {
            return Ok(());
        };
        if self.op != BitmapOp::Construct {
            for bitmap in sketches(column)? {
                self.combine(&bitmap);
            }
            return Ok(());
        }
        let positions = cast(column, &DataType::Int64)?;
        for p in positions.as_primitive::<Int64Type>().iter().flatten() {
            match usize::try_from(p) {
                Ok(p) if p < NUM_BYTES * 8 => self.bits[p / 8] |= 1 << (p % 8),
                _ => {
                    return exec_err!(
                        "bitmap_construct_agg: the bit position must be between 0 and {}, got {p}",
                        NUM_BYTES * 8 - 1
                    )
                }
            }
        }
        Ok(())
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        self.combine(state);
        Ok(())
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self.bits.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BinaryArray, Int64Array};

    use super::*;

    #[test]
    fn positions_set_bits_and_partial_bitmaps_merge() {
        let mut a = BitmapAgg::new(BitmapOp::Construct);
        let col: ArrayRef = Arc::new(Int64Array::from(vec![Some(0), Some(1), None, Some(9)]));
        a.update(&[col]).expect("update");
        let mut b = BitmapAgg::new(BitmapOp::Construct);
        b.update(&[Arc::new(Int64Array::from(vec![2])) as ArrayRef])
            .expect("update");
        a.add_sketch(&b.state().expect("state")).expect("merge");
        let bits = a.state().expect("state");
        assert_eq!(bits.len(), NUM_BYTES);
        assert_eq!(&bits[..3], &[0b111, 0b10, 0]);
        let out_of_range: ArrayRef = Arc::new(Int64Array::from(vec![32768]));
        assert!(a.update(&[out_of_range]).is_err());
    }

    #[test]
    fn and_treats_short_bitmaps_as_zeros_past_their_end() {
        let mut and = BitmapAgg::new(BitmapOp::And);
        let col: ArrayRef = Arc::new(BinaryArray::from(vec![&[0xf0u8][..], &[0x70, 0xff]]));
        and.update(&[col]).expect("update");
        let bits = and.state().expect("state");
        assert_eq!(&bits[..2], &[0x70, 0]);
        assert!(bits[2..].iter().all(|b| *b == 0));
    }
}
