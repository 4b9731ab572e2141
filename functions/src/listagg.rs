//! Spark's `listagg(x[, delimiter])`, also called `string_agg`: the
//! non-NULL strings (or binaries) of a group joined in input order with
//! the delimiter (none by default), NULL when there are none; with
//! DISTINCT each value once, at its first place.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// The aggregate functions of this module.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::new_from_impl(ListAgg {
        aliases: vec!["string_agg".to_string()],
        signature: Signature::user_defined(Volatility::Immutable),
    }))]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ListAgg {
    aliases: Vec<String>,
    signature: Signature,
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

impl AggregateUDFImpl for ListAgg {
    fn name(&self) -> &str {
        "listagg"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let kind = |t: &DataType| {
            if is_binary(t) {
                Some(DataType::Binary)
            } else if is_text(t) {
                Some(DataType::Utf8)
            } else {
                None
            }
        };
        match arg_types {
            [x] => match kind(x) {
                Some(t) => Ok(vec![t]),
                None => plan_err!("listagg takes strings or binaries, got {x}"),
            },
            [x, d] => match (kind(x), kind(d)) {
                (Some(t), Some(_)) => Ok(vec![t.clone(), if d.is_null() { DataType::Null } else { t }]),
                _ => plan_err!("listagg takes strings or binaries and a delimiter of the same type, got ({x}, {d})"),
            },
            _ => plan_err!("listagg takes a column and an optional delimiter, got {} arguments", arg_types.len()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.first() {
            Some(t) if is_binary(t) => DataType::Binary,
            _ => DataType::Utf8,
        })
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let delimiter = match acc_args.exprs.get(1) {
            None => vec![],
            Some(e) => match e.downcast_ref::<Literal>().map(|l| l.value()) {
                Some(v) if v.is_null() => vec![],
                Some(ScalarValue::Utf8(Some(s))) => s.as_bytes().to_vec(),
                Some(ScalarValue::Binary(Some(b))) => b.clone(),
                Some(other) => {
                    return exec_err!(
                        "listagg: the delimiter must be a string or a binary, got {other}"
                    )
                }
                None => return exec_err!("listagg: the delimiter must be a constant"),
            },
        };
        Ok(Box::new(Joined {
            binary: is_binary(acc_args.return_field.data_type()),
            distinct: acc_args.is_distinct,
            delimiter,
            values: vec![],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            DataType::List(Arc::new(Field::new_list_field(DataType::Binary, true))),
            true,
        ))])
    }
}

/// The values so far, in input order, as bytes.
#[derive(Debug)]
struct Joined {
    binary: bool,
    distinct: bool,
    delimiter: Vec<u8>,
    values: Vec<Vec<u8>>,
}

impl Joined {
    fn push(&mut self, v: &[u8]) {
        if !(self.distinct && self.values.iter().any(|x| x == v)) {
            self.values.push(v.to_vec());
        }
    }

    fn add(&mut self, a: &ArrayRef) -> Result<()> {
        let bytes = cast(a, &DataType::Binary)?;
        for v in bytes.as_binary::<i32>().iter().flatten() {
            self.push(v);
        }
        Ok(())
    }
}

impl Accumulator for Joined {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                self.add(&lists.value(row))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self
            .values
            .iter()
            .map(|v| ScalarValue::Binary(Some(v.clone())))
            .collect();
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &DataType::Binary,
        ))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.values.is_empty() {
            return Ok(if self.binary {
                ScalarValue::Binary(None)
            } else {
                ScalarValue::Utf8(None)
            });
        }
        let joined = self.values.join(self.delimiter.as_slice());
        if self.binary {
            return Ok(ScalarValue::Binary(Some(joined)));
        }
        match String::from_utf8(joined) {
            Ok(s) => Ok(ScalarValue::Utf8(Some(s))),
            Err(e) => exec_err!("listagg: the joined strings are not UTF-8: {e}"),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(|v| v.len() + 24).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn listagg_in_input_order() {
        assert_eq!(
            query("SELECT listagg(s), string_agg(s, ', '), listagg(DISTINCT s, '-') FROM (VALUES ('a'), ('b'), (NULL), ('c'), ('b')) AS t(s)"),
            vec!["abcb|a, b, c, b|a-b-c"]
        );
    }
}
