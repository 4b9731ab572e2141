//! Values inside structs, arrays and maps: extraction (`df.s.f`,
//! `df.arr[0]`, `df.m["k"]`, `getItem`) by the child's type as Spark
//! resolves `UnresolvedExtractValue`, and `withField` / `dropFields`
//! (`UpdateFields`), which rebuild the struct.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::functions::core::expr_fn::{get_field, named_struct};
use datafusion::logical_expr::{cast, lit, when, Expr, ExprSchemable};

use crate::error::{ConnectError, Result};
use crate::proto::expression as pe;
use crate::scope::{parse_identifier, required_box, Scope};

/// `child[key]`: a struct's field, an array's element (0-based), a map's
/// value (NULL for a missing key).
pub fn extract(x: &pe::UnresolvedExtractValue, scope: &Scope) -> Result<Expr> {
    let child = scope.expr(required_box(&x.child, "the extracted value")?)?;
    let key = scope.expr(required_box(&x.extraction, "the extraction")?)?;
    match child.get_type(scope.schema)? {
        DataType::Struct(_) => match key {
            Expr::Literal(ScalarValue::Utf8(Some(name)), _) => Ok(get_field(child, name)),
            other => Err(ConnectError::Analysis {
                class: "INVALID_EXTRACT_FIELD_TYPE",
                message: format!("Field name should be a non-null string literal, but it's {other}."),
            }),
        },
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            array_item(child, key, scope)
        }
        DataType::Map(..) => map_value(child, key, scope),
        other => Err(ConnectError::Analysis {
            class: "INVALID_EXTRACT_BASE_FIELD_TYPE",
            message: format!(
                "Can't extract a value from {child}. Need a complex type [STRUCT, ARRAY, MAP] but got \"{}\".",
                crate::types::simple_string(&other).to_uppercase()
            ),
        }),
    }
}

/// `array[index]`, 0-based: NULL out of range (`get`, `getItem`).
pub fn array_item(array: Expr, index: Expr, scope: &Scope) -> Result<Expr> {
    let index = cast(index, DataType::Int64);
    let element = scope
        .state
        .udf("array_element")?
        .call(vec![array, index.clone() + lit(1i64)]);
    // A negative index is NULL (array_element would count from the end).
    Ok(when(index.gt_eq(lit(0i64)), element).end()?)
}

/// The value of `key` in `map`, NULL when absent.
pub fn map_value(map: Expr, key: Expr, scope: &Scope) -> Result<Expr> {
    let values = scope.state.udf("map_extract")?.call(vec![map, key]);
    Ok(scope
        .state
        .udf("array_element")?
        .call(vec![values, lit(1i64)]))
}

/// `withField(name, value)` / `dropFields(name)`: the struct rebuilt with
/// the field (a dotted path reaches nested structs) set, added or dropped;
/// a NULL struct stays NULL.
pub fn update(u: &pe::UpdateFields, scope: &Scope) -> Result<Expr> {
    let base = scope.expr(required_box(&u.struct_expression, "the struct")?)?;
    let path = parse_identifier(&u.field_name)?;
    let value = u
        .value_expression
        .as_deref()
        .map(|v| scope.expr(v))
        .transpose()?;
    rebuild(base, &path, value, scope)
}

fn rebuild(base: Expr, path: &[String], value: Option<Expr>, scope: &Scope) -> Result<Expr> {
    let t = base.get_type(scope.schema)?;
    let DataType::Struct(fields) = &t else {
        return Err(ConnectError::Analysis {
            class: "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
            message: format!(
                "withField/dropFields need a struct, not \"{}\".",
                crate::types::simple_string(&t).to_uppercase()
            ),
        });
    };
    let (first, rest) = path
        .split_first()
        .ok_or_else(|| ConnectError::IllegalArgument("an empty field name".into()))?;
    let mut args = vec![];
    let mut found = false;
    for f in fields.iter() {
        let name = f.name();
        let field = get_field(base.clone(), name.as_str());
        if !name.eq_ignore_ascii_case(first) {
            args.extend([lit(name.as_str()), field]);
            continue;
        }
        found = true;
        match (rest.is_empty(), &value) {
            (true, Some(v)) => args.extend([lit(name.as_str()), v.clone()]),
            (true, None) => {}
            (false, _) => args.extend([
                lit(name.as_str()),
                rebuild(field, rest, value.clone(), scope)?,
            ]),
        }
    }
    if !found {
        match (rest.is_empty(), &value) {
            (true, Some(v)) => args.extend([lit(first.as_str()), v.clone()]),
            // Dropping a field the struct lacks changes nothing.
            (true, None) => return Ok(base),
            (false, _) => {
                return Err(ConnectError::Analysis {
                    class: "FIELD_NOT_FOUND",
                    message: format!("No such struct field `{first}`."),
                })
            }
        }
    }
    if args.is_empty() {
        return Err(ConnectError::Analysis {
            class: "DATATYPE_MISMATCH.CANNOT_DROP_ALL_FIELDS",
            message: "Cannot drop all fields in struct.".into(),
        });
    }
    let rebuilt = named_struct(args);
    let null = ScalarValue::try_from(&rebuilt.get_type(scope.schema)?)?;
    Ok(when(base.is_null(), lit(null)).otherwise(rebuilt)?)
}
