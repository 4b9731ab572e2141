//! `transform`, `filter`, `exists`/`forall` and `zip_with`: one lambda
//! evaluation over the elements of every row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, ListArray, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{filter as filter_values, prep_null_mask_filter, take};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::LambdaArgument;

use super::elements::{booleans, call, offsets_of, Elements};

/// The item field of a list type the function returns.
fn item_of(out_type: &DataType) -> Result<FieldRef> {
    match out_type {
        DataType::List(f) => Ok(f.clone()),
        other => exec_err!("expected to return an array, not {other}"),
    }
}

/// `transform(array, (x[, i]) -> ...)`.
pub(super) fn transform(
    list: &ArrayRef,
    lambda: &LambdaArgument,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let el = Elements::of_list(list)?;
    let out = call(
        lambda,
        &[el.values.clone(), Arc::new(el.positions())],
        &el.rows(),
    )?;
    el.list_of(item_of(out_type)?, out)
}

/// `filter(array, (x[, i]) -> ...)`: the elements the lambda is true for.
pub(super) fn filter(list: &ArrayRef, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let el = Elements::of_list(list)?;
    let keep = call(
        lambda,
        &[el.values.clone(), Arc::new(el.positions())],
        &el.rows(),
    )?;
    let mut keep = booleans("filter", &keep)?;
    if keep.null_count() > 0 {
        keep = prep_null_mask_filter(&keep);
    }
    let mut offsets = Vec::with_capacity(el.offsets.len());
    offsets.push(0usize);
    for i in 0..el.rows_len() {
        let kept = el.range(i).filter(|j| keep.value(*j)).count();
        offsets.push(offsets[i] + kept);
    }
    let values = filter_values(&el.values, &keep)?;
    Ok(Arc::new(ListArray::try_new(
        el.field.clone(),
        offsets_of(&offsets)?,
        values,
        el.nulls.clone(),
    )?))
}

/// `exists` (`any` true) or `forall` (`any` false): true when some element
/// is `any`, else NULL when some is NULL, else `!any`; a NULL array is NULL.
pub(super) fn exists(list: &ArrayRef, lambda: &LambdaArgument, any: bool) -> Result<ArrayRef> {
    let el = Elements::of_list(list)?;
    let name = if any { "exists" } else { "forall" };
    let p = call(
        lambda,
        &[el.values.clone(), Arc::new(el.positions())],
        &el.rows(),
    )?;
    let p = booleans(name, &p)?;
    let out: BooleanArray = (0..el.rows_len())
        .map(|i| {
            if el.is_null(i) {
                return None;
            }
            let mut saw_null = false;
            for j in el.range(i) {
                if p.is_null(j) {
                    saw_null = true;
                } else if p.value(j) == any {
                    return Some(any);
                }
            }
            (!saw_null).then_some(!any)
        })
        .collect();
    Ok(Arc::new(out))
}

/// `zip_with(left, right, (x, y) -> ...)`: element by element, the shorter
/// array padded with NULLs; NULL when either array is.
pub(super) fn zip_with(
    left: &ArrayRef,
    right: &ArrayRef,
    lambda: &LambdaArgument,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let (l, r) = (Elements::of_list(left)?, Elements::of_list(right)?);
    let n = l.rows_len();
    let (mut li, mut ri, mut rows) = (vec![], vec![], vec![]);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0usize);
    let mut valid = Vec::with_capacity(n);
    for i in 0..n {
        let null = l.is_null(i) || r.is_null(i);
        valid.push(!null);
        let (lr, rr) = (l.range(i), r.range(i));
        let len = if null { 0 } else { lr.len().max(rr.len()) };
        for k in 0..len {
            li.push((k < lr.len()).then(|| (lr.start + k) as u32));
            ri.push((k < rr.len()).then(|| (rr.start + k) as u32));
            rows.push(i as u32);
        }
        offsets.push(offsets[i] + len);
    }
    let x = take(&l.values, &UInt32Array::from(li), None)?;
    let y = take(&r.values, &UInt32Array::from(ri), None)?;
    let out = call(lambda, &[x, y], &UInt32Array::from(rows))?;
    let field = item_of(out_type)?;
    let out = super::elements::cast_to(out, field.data_type())?;
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets_of(&offsets)?,
        out,
        Some(NullBuffer::from(valid)),
    )?))
}
