//! Window expressions of Connect (`f.over(Window.partitionBy().orderBy()
//! .rowsBetween())`) as DataFusion window functions, with Spark's frames.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition,
};

use crate::error::{ConnectError, Result};
use crate::proto::expression as pe;
use crate::scope::{required_box, sort_expr, Scope};

fn frame_bound(
    b: &pe::window::window_frame::FrameBoundary,
    lower: bool,
    units: WindowFrameUnits,
    scope: &Scope,
) -> Result<WindowFrameBound> {
    use pe::window::window_frame::frame_boundary::Boundary;
    Ok(match &b.boundary {
        Some(Boundary::CurrentRow(true)) => WindowFrameBound::CurrentRow,
        Some(Boundary::Value(v)) => {
            let e = scope.expr(v)?;
            let Expr::Literal(value, _) = e else {
                return Err(ConnectError::Unsupported(
                    "a window frame bound that is not a literal".into(),
                ));
            };
            let n = match value {
                ScalarValue::Int32(Some(n)) => i64::from(n),
                ScalarValue::Int64(Some(n)) => n,
                other => {
                    return Err(ConnectError::IllegalArgument(format!(
                        "window frame bound {other}"
                    )))
                }
            };
            // A RANGE offset is in the ORDER BY column's type, which the
            // analyzer casts it to from text (as DataFusion's SQL planner
            // does); an unsigned offset there gave wrong frames.
            let offset = |m: u64| match units {
                WindowFrameUnits::Range => ScalarValue::Utf8(Some(m.to_string())),
                _ => ScalarValue::UInt64(Some(m)),
            };
            if n == 0 {
                WindowFrameBound::CurrentRow
            } else if n < 0 {
                WindowFrameBound::Preceding(offset(n.unsigned_abs()))
            } else {
                WindowFrameBound::Following(offset(n.unsigned_abs()))
            }
        }
        _ if lower => WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
        _ => WindowFrameBound::Following(ScalarValue::UInt64(None)),
    })
}

/// The window function of `w`.
pub fn window(w: &pe::Window, scope: &Scope) -> Result<Expr> {
    let func = scope.expr(required_box(&w.window_function, "the window function")?)?;
    let partition_by = w
        .partition_spec
        .iter()
        .map(|p| scope.expr(p))
        .collect::<Result<Vec<_>>>()?;
    let order_by = w
        .order_spec
        .iter()
        .map(|o| sort_expr(o, scope))
        .collect::<Result<Vec<_>>>()?;
    let frame = match &w.frame_spec {
        Some(f) => {
            let units = if f.frame_type == pe::window::window_frame::FrameType::Range as i32 {
                WindowFrameUnits::Range
            } else {
                WindowFrameUnits::Rows
            };
            let lower = frame_bound(
                required_box(&f.lower, "the frame's lower bound")?,
                true,
                units,
                scope,
            )?;
            let upper = frame_bound(
                required_box(&f.upper, "the frame's upper bound")?,
                false,
                units,
                scope,
            )?;
            Some(WindowFrame::new_bounds(units, lower, upper))
        }
        None => None,
    };
    let def = match func {
        Expr::AggregateFunction(a) => (
            WindowFunctionDefinition::AggregateUDF(a.func),
            a.params.args,
        ),
        Expr::WindowFunction(wf) => (wf.fun, wf.params.args),
        other => {
            return Err(ConnectError::analysis(format!(
                "{other} is not a window or aggregate function"
            )))
        }
    };
    let mut builder = Expr::from(WindowFunction::new(def.0, def.1)).partition_by(partition_by);
    // An empty ORDER BY list would still count as ordered (a RANGE frame
    // up to the current row, which DataFusion then rejects).
    if !order_by.is_empty() {
        builder = builder.order_by(order_by);
    }
    // Spark's default frame: the whole partition without ORDER BY, up to the
    // current row (RANGE) with it; DataFusion's defaults are the same.
    if let Some(frame) = frame {
        builder = builder.window_frame(frame);
    }
    Ok(builder.build()?)
}
