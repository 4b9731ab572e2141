//! `array_sort(array, (left, right) -> int)`: each row sorted by a
//! comparator lambda (negative, zero, positive as Java's comparators).
//!
//! Spark sorts with Java's `Arrays.sort` (TimSort), whose order for a
//! comparator that is not a total order (the docstring's treats NULL as
//! equal to everything) depends on the algorithm: arrays shorter than 32
//! take TimSort's own path here (the leading run, then binary insertion),
//! longer ones a stable merge sort, which agrees with TimSort whenever the
//! comparator is consistent. The sort never panics on an inconsistent one.

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::LambdaArgument;

use super::elements::{call, Elements};

/// TimSort's threshold below which it sorts by binary insertion.
const MIN_MERGE: usize = 32;

/// Every row of `list` sorted by `lambda`.
pub(super) fn array_sort(list: &ArrayRef, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let el = Elements::of_list(list)?;
    let mut order: Vec<u32> = Vec::with_capacity(el.values.len());
    for i in 0..el.rows_len() {
        let row = UInt32Array::from(vec![i as u32]);
        let mut compare = |a: usize, b: usize| -> Result<Ordering> {
            let out = call(
                lambda,
                &[el.values.slice(a, 1), el.values.slice(b, 1)],
                &row,
            )?;
            let out = cast(&out, &DataType::Int64)?;
            let out = out.as_primitive::<Int64Type>();
            if out.is_null(0) {
                return exec_err!("array_sort's comparator returned NULL");
            }
            Ok(out.value(0).cmp(&0))
        };
        let mut items: Vec<usize> = el.range(i).collect();
        sort_by(&mut items, &mut compare)?;
        order.extend(items.into_iter().map(|j| j as u32));
    }
    let values = take(&el.values, &UInt32Array::from(order), None)?;
    el.list_of(el.field.clone(), values)
}

/// Sorts `items` by `cmp` as Java's `Arrays.sort` of objects would.
fn sort_by(
    items: &mut [usize],
    cmp: &mut impl FnMut(usize, usize) -> Result<Ordering>,
) -> Result<()> {
    if items.len() < 2 {
        return Ok(());
    }
    if items.len() < MIN_MERGE {
        let run = leading_run(items, cmp)?;
        return binary_insertion(items, run, cmp);
    }
    let sorted = merge_sort(items, cmp)?;
    items.copy_from_slice(&sorted);
    Ok(())
}

/// The length of the run at the start (a strictly descending one reversed
/// into ascending), as TimSort's `countRunAndMakeAscending`.
fn leading_run(
    items: &mut [usize],
    cmp: &mut impl FnMut(usize, usize) -> Result<Ordering>,
) -> Result<usize> {
    let mut hi = 2;
    if cmp(items[1], items[0])? == Ordering::Less {
        while hi < items.len() && cmp(items[hi], items[hi - 1])? == Ordering::Less {
            hi += 1;
        }
        items[..hi].reverse();
    } else {
        while hi < items.len() && cmp(items[hi], items[hi - 1])? != Ordering::Less {
            hi += 1;
        }
    }
    Ok(hi)
}

/// TimSort's `binarySort`: `items[..start]` is sorted; inserts the rest,
/// each after the equal elements before it.
fn binary_insertion(
    items: &mut [usize],
    start: usize,
    cmp: &mut impl FnMut(usize, usize) -> Result<Ordering>,
) -> Result<()> {
    for s in start..items.len() {
        let pivot = items[s];
        let (mut left, mut right) = (0, s);
        while left < right {
            let mid = (left + right) / 2;
            if cmp(pivot, items[mid])? == Ordering::Less {
                right = mid;
            } else {
                left = mid + 1;
            }
        }
        items.copy_within(left..s, left + 1);
        items[left] = pivot;
    }
    Ok(())
}

/// A stable top-down merge sort.
fn merge_sort(
    items: &[usize],
    cmp: &mut impl FnMut(usize, usize) -> Result<Ordering>,
) -> Result<Vec<usize>> {
    if items.len() < 2 {
        return Ok(items.to_vec());
    }
    let mid = items.len() / 2;
    let l = merge_sort(&items[..mid], cmp)?;
    let r = merge_sort(&items[mid..], cmp)?;
    let mut out = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, 0);
    while i < l.len() && j < r.len() {
        if cmp(r[j], l[i])? == Ordering::Less {
            out.push(r[j]);
            j += 1;
        } else {
            out.push(l[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&l[i..]);
    out.extend_from_slice(&r[j..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorts `values` (None: a NULL) by a comparator that calls NULL equal
    /// to everything, the docstring's example.
    fn sorted(values: &[Option<i64>]) -> Vec<Option<i64>> {
        let mut items: Vec<usize> = (0..values.len()).collect();
        sort_by(&mut items, &mut |a, b| {
            Ok(match (values[a], values[b]) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            })
        })
        .unwrap();
        items.into_iter().map(|i| values[i]).collect()
    }

    #[test]
    fn short_arrays_sort_as_timsort_does() {
        // Spark: array_sort(["foo", "foobar", NULL, "bar"], by length
        // descending, NULL equal) is ["foobar", "foo", NULL, "bar"].
        assert_eq!(
            sorted(&[Some(3), Some(6), None, Some(3)]),
            [Some(6), Some(3), None, Some(3)]
        );
        assert_eq!(
            sorted(&[Some(1), Some(2), Some(3)]),
            [Some(3), Some(2), Some(1)]
        );
    }

    #[test]
    fn long_arrays_sort_stably() {
        let values: Vec<Option<i64>> = (0..100).map(|i| Some(i % 7)).collect();
        let mut expected = values.clone();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(sorted(&values), expected);
    }

    #[test]
    fn a_failing_comparator_is_an_error() {
        let mut items: Vec<usize> = (0..40).collect();
        let err = sort_by(&mut items, &mut |_, _| exec_err!("boom"));
        assert!(err.is_err());
    }
}
