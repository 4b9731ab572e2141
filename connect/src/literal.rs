//! Connect literals as DataFusion scalars.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use crate::error::{ConnectError, Result};
use crate::proto::expression as pe;
use crate::types;

/// A literal as a DataFusion scalar.
pub fn literal(l: &pe::Literal) -> Result<ScalarValue> {
    use pe::literal::LiteralType as L;
    let Some(t) = &l.literal_type else {
        return Ok(ScalarValue::Null);
    };
    Ok(match t {
        L::Null(dt) => ScalarValue::try_from(&types::from_spark(dt)?)?,
        L::Binary(b) => ScalarValue::Binary(Some(b.to_vec())),
        L::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        L::Byte(v) => ScalarValue::Int8(Some(*v as i8)),
        L::Short(v) => ScalarValue::Int16(Some(*v as i16)),
        L::Integer(v) => ScalarValue::Int32(Some(*v)),
        L::Long(v) => ScalarValue::Int64(Some(*v)),
        L::Float(v) => ScalarValue::Float32(Some(*v)),
        L::Double(v) => ScalarValue::Float64(Some(*v)),
        L::Decimal(d) => {
            let text = d.value.trim();
            let scale = d
                .scale
                .unwrap_or_else(|| text.split_once('.').map_or(0, |(_, f)| f.len() as i32));
            let digits = text.replace('.', "");
            let precision = d
                .precision
                .unwrap_or_else(|| (digits.trim_start_matches('-').len() as i32).max(1));
            let unscaled: i128 = {
                let (int, frac) = text.split_once('.').unwrap_or((text, ""));
                let mut frac = frac.to_string();
                while (frac.len() as i32) < scale {
                    frac.push('0');
                }
                format!("{int}{frac}").parse().map_err(|_| {
                    ConnectError::IllegalArgument(format!("invalid decimal literal `{text}`"))
                })?
            };
            ScalarValue::Decimal128(Some(unscaled), precision as u8, scale as i8)
        }
        L::String(s) => ScalarValue::Utf8(Some(s.clone())),
        L::Date(d) => ScalarValue::Date32(Some(*d)),
        L::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(*t), Some("UTC".into())),
        L::TimestampNtz(t) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        L::Array(a) => {
            let values = a.elements.iter().map(literal).collect::<Result<Vec<_>>>()?;
            let elem_type = values.first().map_or(DataType::Null, |v| v.data_type());
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &elem_type))
        }
        other => {
            return Err(ConnectError::Unsupported(format!(
                "the literal {:?}",
                std::mem::discriminant(other)
            )))
        }
    })
}
