//! `map_filter`, `transform_keys`, `transform_values` and `map_zip_with`:
//! lambdas over each row's map entries (key, value).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{filter, interleave, prep_null_mask_filter, take};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::LambdaArgument;

use super::elements::{booleans, call, cast_to, offsets_of, Elements};

/// The map type of `key` and `value` (Spark's: keys are never NULL).
pub(super) fn map_type(key: FieldRef, value: FieldRef) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", key.data_type().clone(), false),
        Field::new("value", value.data_type().clone(), true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// The entries field and its key and value fields of a map type.
fn entries_of(t: &DataType) -> Result<(FieldRef, Fields)> {
    if let DataType::Map(entries, _) = t {
        if let DataType::Struct(kv) = entries.data_type() {
            if kv.len() == 2 {
                return Ok((entries.clone(), kv.clone()));
            }
        }
    }
    exec_err!("expected a map type, got {t}")
}

/// A map of `keys` and `values` under `t`, with `offsets` and `nulls`.
fn build(
    t: &DataType,
    offsets: &[usize],
    keys: ArrayRef,
    values: ArrayRef,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let (entries, kv) = entries_of(t)?;
    if keys.null_count() > 0 {
        return exec_err!("[NULL_MAP_KEY] Cannot use null as map key.");
    }
    let keys = cast_to(keys, kv[0].data_type())?;
    let values = cast_to(values, kv[1].data_type())?;
    let entries_array = StructArray::try_new(kv, vec![keys, values], None)?;
    Ok(Arc::new(MapArray::try_new(
        entries,
        offsets_of(offsets)?,
        entries_array,
        nulls,
        false,
    )?))
}

/// A map's keys and values, back to back.
fn keys_values(el: &Elements) -> Result<(ArrayRef, ArrayRef)> {
    let Some(s) = el.values.as_struct_opt() else {
        return exec_err!("a map's entries must be a struct");
    };
    Ok((s.column(0).clone(), s.column(1).clone()))
}

/// `map_filter(map, (k, v) -> ...)`: the entries the lambda is true for.
pub(super) fn map_filter(map: &ArrayRef, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let el = Elements::of_map(map)?;
    let (keys, values) = keys_values(&el)?;
    let keep = call(lambda, &[keys.clone(), values.clone()], &el.rows())?;
    let mut keep = booleans("map_filter", &keep)?;
    if keep.null_count() > 0 {
        keep = prep_null_mask_filter(&keep);
    }
    let mut offsets = vec![0usize];
    for i in 0..el.rows_len() {
        let kept = el.range(i).filter(|j| keep.value(*j)).count();
        offsets.push(offsets[i] + kept);
    }
    build(
        map.data_type(),
        &offsets,
        filter(&keys, &keep)?,
        filter(&values, &keep)?,
        el.nulls.clone(),
    )
}

/// `transform_keys` (`keys`) or `transform_values`: the lambda's result
/// replaces each entry's key or value.
pub(super) fn transform_entries(
    map: &ArrayRef,
    lambda: &LambdaArgument,
    keys_changed: bool,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let el = Elements::of_map(map)?;
    let (keys, values) = keys_values(&el)?;
    let out = call(lambda, &[keys.clone(), values.clone()], &el.rows())?;
    let (keys, values) = if keys_changed {
        (out, values)
    } else {
        (keys, out)
    };
    build(out_type, &el.offsets, keys, values, el.nulls.clone())
}

/// `map_zip_with(m1, m2, (k, v1, v2) -> ...)`: over the keys of either map
/// (the first map's in order, then the second's new ones), with NULL for a
/// value a map lacks; NULL when either map is.
pub(super) fn map_zip_with(
    left: &ArrayRef,
    right: &ArrayRef,
    lambda: &LambdaArgument,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let (l, r) = (Elements::of_map(left)?, Elements::of_map(right)?);
    let ((lk, lv), (rk, rv)) = (keys_values(&l)?, keys_values(&r)?);
    let converter = RowConverter::new(vec![SortField::new(lk.data_type().clone())])?;
    let rk = cast_to(rk, lk.data_type())?;
    let (lrows, rrows) = (
        converter.convert_columns(std::slice::from_ref(&lk))?,
        converter.convert_columns(std::slice::from_ref(&rk))?,
    );
    let n = l.rows_len();
    let (mut key_picks, mut li, mut ri, mut rows) = (vec![], vec![], vec![], vec![]);
    let mut offsets = vec![0usize];
    let mut valid = Vec::with_capacity(n);
    for i in 0..n {
        let null = l.is_null(i) || r.is_null(i);
        valid.push(!null);
        let mut slots: Vec<(Option<usize>, Option<usize>)> = vec![];
        if !null {
            let mut index = HashMap::new();
            for j in l.range(i) {
                index.entry(lrows.row(j)).or_insert_with(|| {
                    slots.push((Some(j), None));
                    slots.len() - 1
                });
            }
            for j in r.range(i) {
                match index.get(&rrows.row(j)) {
                    Some(&s) => slots[s].1 = slots[s].1.or(Some(j)),
                    None => {
                        index.insert(rrows.row(j), slots.len());
                        slots.push((None, Some(j)));
                    }
                }
            }
        }
        for (a, b) in &slots {
            key_picks.push(match (a, b) {
                (Some(a), _) => (0, *a),
                (None, Some(b)) => (1, *b),
                (None, None) => (0, 0),
            });
            li.push(a.map(|a| a as u32));
            ri.push(b.map(|b| b as u32));
            rows.push(i as u32);
        }
        offsets.push(offsets[i] + slots.len());
    }
    let keys = interleave(&[lk.as_ref(), rk.as_ref()], &key_picks)?;
    let v1 = take(&lv, &UInt32Array::from(li), None)?;
    let v2 = take(&rv, &UInt32Array::from(ri), None)?;
    let out = call(lambda, &[keys.clone(), v1, v2], &UInt32Array::from(rows))?;
    build(out_type, &offsets, keys, out, Some(NullBuffer::from(valid)))
}
