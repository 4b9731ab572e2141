//! `aggregate(array, zero, (acc, x) -> merge[, acc -> finish])` (also
//! `reduce`): each row's elements folded left to right into its
//! accumulator. The fold runs position by position: step `k` evaluates the
//! merge lambda once, over the rows that have a `k`-th element.

use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::kernels::nullif::nullif;
use arrow::compute::{interleave, take};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::LambdaArgument;

use super::elements::{call, cast_to, Elements};

/// The fold of every row of `list`, starting from `zero` (one value per row).
pub(super) fn aggregate(
    list: &ArrayRef,
    zero: &ArrayRef,
    lambdas: &[&LambdaArgument],
    out_type: &DataType,
) -> Result<ArrayRef> {
    let el = Elements::of_list(list)?;
    let n = el.rows_len();
    let acc_type = zero.data_type().clone();
    let mut acc = zero.clone();
    let longest = (0..n).map(|i| el.range(i).len()).max().unwrap_or(0);
    for k in 0..longest {
        let active: Vec<u32> = (0..n)
            .filter(|&i| !el.is_null(i) && el.range(i).len() > k)
            .map(|i| i as u32)
            .collect();
        let elements = UInt32Array::from_iter_values(
            active.iter().map(|&i| (el.offsets[i as usize] + k) as u32),
        );
        let active = UInt32Array::from(active);
        let acc_k = take(&acc, &active, None)?;
        let x_k = take(&el.values, &elements, None)?;
        let next = cast_to(call(lambdas[0], &[acc_k, x_k], &active)?, &acc_type)?;
        // Active rows take their new accumulator, the others keep theirs.
        let mut p = 0;
        let picks: Vec<(usize, usize)> = (0..n)
            .map(|i| {
                if p < active.len() && active.value(p) as usize == i {
                    p += 1;
                    (1, p - 1)
                } else {
                    (0, i)
                }
            })
            .collect();
        acc = interleave(&[acc.as_ref(), next.as_ref()], &picks)?;
    }
    let out = match lambdas.get(1) {
        Some(finish) => {
            let all = UInt32Array::from_iter_values(0..n as u32);
            call(finish, &[acc], &all)?
        }
        None => acc,
    };
    let out = cast_to(out, out_type)?;
    if el
        .nulls
        .as_ref()
        .is_some_and(|nulls| nulls.null_count() > 0)
    {
        let is_null: BooleanArray = (0..n).map(|i| Some(el.is_null(i))).collect();
        return Ok(nullif(&out, &is_null)?);
    }
    Ok(out)
}
