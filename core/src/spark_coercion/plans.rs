//! Coercions of whole plans: each column of a `UNION` and of an inline
//! table (`VALUES`) is of its rows' Spark common type.

use super::*;

/// Each column of a UNION is of its inputs' Spark common type.
pub(super) fn coerce_union(union: Union) -> Result<Transformed<LogicalPlan>> {
    let Some(first) = union.inputs.first() else {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    };
    let width = first.schema().fields().len();
    if union
        .inputs
        .iter()
        .any(|p| p.schema().fields().len() != width)
    {
        // DataFusion reports the mismatch.
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let mut targets: Vec<Option<DataType>> = Vec::with_capacity(width);
    for i in 0..width {
        let types: Vec<&DataType> = union
            .inputs
            .iter()
            .map(|p| p.schema().field(i).data_type())
            .collect();
        if types.iter().all(|t| *t == types[0]) {
            targets.push(None);
            continue;
        }
        let mut common = Some(DataType::Null);
        for t in &types {
            common = common.and_then(|c| wider(&c, t));
        }
        targets.push(common.filter(|c| !c.is_null()));
    }
    if targets.iter().all(Option::is_none) {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let inputs = union
        .inputs
        .into_iter()
        .map(|input| {
            let schema = input.schema();
            let fields = schema
                .iter()
                .zip(&targets)
                .map(|((q, f), t)| {
                    let f = match t {
                        Some(t) => Arc::new(Field::new(f.name(), t.clone(), f.is_nullable())),
                        None => Arc::clone(f),
                    };
                    (q.cloned(), f)
                })
                .collect::<Vec<_>>();
            let target = DFSchema::new_with_metadata(fields, schema.metadata().clone())?;
            let plan = coerce_plan_expr_for_schema(Arc::unwrap_or_clone(input), &target)?;
            Ok(Arc::new(plan))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(LogicalPlan::Union(
        Union::try_new_with_loose_types(inputs)?,
    )))
}

/// An inline table whose column mixes a floating number with DECIMALs is
/// a DOUBLE column in Spark; DataFusion's VALUES planning picked a DECIMAL
/// and cast the floating rows to it (Spark's inline tables do not promote
/// strings, so that is the one difference handled here).
pub(super) fn coerce_values(values: Values) -> Result<Transformed<LogicalPlan>> {
    let schema = DFSchema::empty();
    let Values {
        schema: values_schema,
        values: mut rows,
    } = values;
    // The cells' own expressions (`TIMESTAMP '...'` is a cast of a string).
    let mut changed = false;
    for cell in rows.iter_mut().flatten() {
        let e = std::mem::replace(cell, Expr::Literal(ScalarValue::Null, None));
        let t = e.transform_up(|e| coerce_expr(e, &schema))?;
        changed |= t.transformed;
        *cell = t.data;
    }
    let mut doubles = vec![];
    for (j, field) in values_schema.fields().iter().enumerate() {
        if !is_decimal(field.data_type()) {
            continue;
        }
        // A row DataFusion cast from a floating number to the column's type.
        let float_row = |e: &Expr| match e {
            Expr::Cast(c) if c.field.data_type() == field.data_type() => {
                c.expr.get_type(&schema).is_ok_and(|t| is_float(&t))
            }
            _ => false,
        };
        if !rows.iter().any(|r| r.get(j).is_some_and(float_row)) {
            continue;
        }
        doubles.push(j);
        for row in &mut rows {
            let Some(cell) = row.get_mut(j) else {
                continue;
            };
            let e = std::mem::replace(cell, Expr::Literal(ScalarValue::Null, None));
            *cell = match e {
                Expr::Cast(c) if float_row(&Expr::Cast(c.clone())) => {
                    cast_to(*c.expr, &DataType::Float64, &schema)
                }
                Expr::Literal(ScalarValue::Decimal128(None, _, _), m) => {
                    Expr::Literal(ScalarValue::Float64(None), m)
                }
                e => cast_to(e, &DataType::Float64, &schema),
            };
        }
    }
    if doubles.is_empty() {
        let values = LogicalPlan::Values(Values {
            schema: values_schema,
            values: rows,
        });
        return Ok(if changed {
            Transformed::yes(values)
        } else {
            Transformed::no(values)
        });
    }
    let fields = values_schema
        .iter()
        .enumerate()
        .map(|(j, (q, f))| {
            let f = if doubles.contains(&j) {
                Arc::new(Field::new(f.name(), DataType::Float64, f.is_nullable()))
            } else {
                Arc::clone(f)
            };
            (q.cloned(), f)
        })
        .collect::<Vec<_>>();
    let schema = DFSchema::new_with_metadata(fields, values_schema.metadata().clone())?;
    Ok(Transformed::yes(LogicalPlan::Values(Values {
        schema: Arc::new(schema),
        values: rows,
    })))
}
