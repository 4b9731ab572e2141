//! A batch's columns cast to the types of a schema's fields, column by
//! column: what the Connect server sends clients and what a Python worker's
//! answer is conformed to.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, SchemaRef};
use arrow::error::ArrowError;

/// The columns of `batch` with the types of `schema`'s fields (each cast
/// only when its type differs); a failed cast is `err(field, error)`.
pub fn cast_columns<E>(
    batch: &RecordBatch,
    schema: &SchemaRef,
    err: impl Fn(&Field, ArrowError) -> E,
) -> Result<Vec<ArrayRef>, E> {
    batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type()).map_err(|e| err(f, e))
            }
        })
        .collect()
}
