//! The names Spark gives result columns that have no alias: `sum(x)`,
//! `(a + 1)`, `ACOS(x)`, `DATE '2020-01-01'`, `st.f`, `arr[0]`,
//! `round(x, 0)`. Spark prints the resolved expression: some functions
//! print under a fixed (upper-case) name, aliases print under the name
//! they were called by or under their function's name, arguments the
//! function fills in show, literals show by type, and casts Spark inserted
//! (or a cast of a column) do not show. Each rule here is what Spark 4.2's
//! Connect server answers for the same call.

use arrow::array::{ArrayRef, TimestampMicrosecondArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::ExprSchemable;

use crate::proto::expression::{self as pe, ExprType};
use crate::proto::Expression;
use crate::scope::{parse_identifier, Scope};
use crate::show::java_double;
use crate::types;

/// Operators Spark prints as `(a op b)`: the client's name and Spark's symbol.
const INFIX: &[(&str, &str)] = &[
    ("==", "="),
    ("<", "<"),
    ("<=", "<="),
    (">", ">"),
    (">=", ">="),
    ("<=>", "<=>"),
    ("+", "+"),
    ("-", "-"),
    ("*", "*"),
    ("/", "/"),
    ("%", "%"),
    ("and", "AND"),
    ("or", "OR"),
    ("&", "&"),
    ("|", "|"),
    ("^", "^"),
];

/// Functions whose Spark expression prints a fixed name, whatever the
/// case it was called in (mostly the math functions, which print upper case).
const FIXED_NAMES: &[(&str, &str)] = &[
    ("acos", "ACOS"),
    ("acosh", "ACOSH"),
    ("asin", "ASIN"),
    ("asinh", "ASINH"),
    ("atan", "ATAN"),
    ("atan2", "ATAN2"),
    ("atanh", "ATANH"),
    ("cbrt", "CBRT"),
    ("ceil", "CEIL"),
    ("cos", "COS"),
    ("cosh", "COSH"),
    ("cot", "COT"),
    ("csc", "CSC"),
    ("degrees", "DEGREES"),
    ("e", "E"),
    ("exp", "EXP"),
    ("expm1", "EXPM1"),
    ("floor", "FLOOR"),
    ("hypot", "HYPOT"),
    ("log10", "LOG10"),
    ("log1p", "LOG1P"),
    ("log2", "LOG2"),
    ("pi", "PI"),
    ("power", "POWER"),
    ("radians", "RADIANS"),
    ("regexp", "REGEXP"),
    ("regexp_like", "REGEXP_LIKE"),
    ("rlike", "RLIKE"),
    ("sec", "SEC"),
    ("signum", "SIGNUM"),
    ("sin", "SIN"),
    ("sinh", "SINH"),
    ("spark_partition_id", "SPARK_PARTITION_ID"),
    ("sqrt", "SQRT"),
    ("tan", "TAN"),
    ("tanh", "TANH"),
    // Aliases registered without their own name print their function's.
    ("current_database", "current_schema"),
    ("startsWith", "startswith"),
    ("endsWith", "endswith"),
    ("dateadd", "date_add"),
    ("mean", "avg"),
];

/// Arguments Spark's expression fills in when the call leaves them out, and
/// prints: (function, arguments given, the text of the ones added).
const DEFAULT_ARGS: &[(&str, usize, &str)] = &[
    ("round", 1, "0"),
    ("bround", 1, "0"),
    ("regexp_replace", 3, "1"),
    ("regexp_extract", 2, "1"),
    ("regexp_extract_all", 2, "1"),
    ("regexp_instr", 2, "0"),
    ("substr", 2, "2147483647"),
    ("substring", 2, "2147483647"),
    ("to_unix_timestamp", 1, "yyyy-MM-dd HH:mm:ss"),
    ("unix_timestamp", 1, "yyyy-MM-dd HH:mm:ss"),
    (
        "unix_timestamp",
        0,
        "current_timestamp(), yyyy-MM-dd HH:mm:ss",
    ),
    ("locate", 2, "1"),
    ("position", 2, "1"),
    ("split", 2, "-1"),
    ("sort_array", 1, "true"),
    ("percentile_approx", 2, "10000"),
    ("approx_percentile", 2, "10000"),
    ("listagg", 1, "NULL"),
    ("string_agg", 1, "NULL"),
];

/// [`DEFAULT_ARGS`] of the DataSketches functions (lgConfigK and
/// lgNomEntries 12, allowDifferentLgConfigK false, mode `sum`).
const SKETCH_DEFAULT_ARGS: &[(&str, usize, &str)] = &[
    ("hll_sketch_agg", 1, "12"),
    ("hll_union_agg", 1, "false"),
    ("hll_union", 2, "false"),
    ("theta_sketch_agg", 1, "12"),
    ("theta_union_agg", 1, "12"),
    ("theta_union", 2, "12"),
    ("tuple_intersection_agg_double", 1, "sum"),
    ("tuple_intersection_agg_integer", 1, "sum"),
    ("tuple_sketch_summary_double", 1, "sum"),
    ("tuple_sketch_summary_integer", 1, "sum"),
    ("tuple_intersection_double", 2, "sum"),
    ("tuple_intersection_integer", 2, "sum"),
    ("tuple_intersection_theta_double", 2, "sum"),
    ("tuple_intersection_theta_integer", 2, "sum"),
];

/// Spark's name for the result column of `e` when it has no alias.
pub fn spark_name(e: &Expression, scope: &Scope) -> String {
    match &e.expr_type {
        Some(ExprType::Literal(l)) => literal_name(l, scope),
        Some(ExprType::UnresolvedAttribute(a)) => parse_identifier(&a.unparsed_identifier)
            .ok()
            .and_then(|p| p.last().cloned())
            .unwrap_or_else(|| a.unparsed_identifier.clone()),
        Some(ExprType::Alias(a)) => a.name.join("."),
        Some(ExprType::ExpressionString(s)) => s.expression.clone(),
        Some(ExprType::UnresolvedStar(_)) => "*".into(),
        Some(ExprType::Cast(c)) => {
            let Some(child) = c.expr.as_deref() else {
                return String::new();
            };
            // A cast of a column keeps the column's name.
            if is_column(child) {
                return spark_name(child, scope);
            }
            let t = match &c.cast_to_type {
                Some(pe::cast::CastToType::Type(t)) => types::from_spark(t)
                    .map(|t| types::simple_string(&t).to_ascii_uppercase())
                    .unwrap_or_default(),
                Some(pe::cast::CastToType::TypeStr(s)) => types::parse_type(s)
                    .map(|t| types::simple_string(&t).to_ascii_uppercase())
                    .unwrap_or_else(|_| s.to_ascii_uppercase()),
                None => String::new(),
            };
            format!("CAST({} AS {t})", spark_name(child, scope))
        }
        Some(ExprType::UnresolvedFunction(f)) => function_name(f, scope),
        Some(ExprType::CallFunction(f)) => format!(
            "{}({})",
            f.function_name,
            names(&f.arguments, scope).join(", ")
        ),
        Some(ExprType::SortOrder(s)) => s
            .child
            .as_deref()
            .map(|c| spark_name(c, scope))
            .unwrap_or_default(),
        Some(ExprType::Window(w)) => window_name(w, scope),
        Some(ExprType::CommonInlineUserDefinedFunction(f)) => {
            format!(
                "{}({})",
                f.function_name,
                names(&f.arguments, scope).join(", ")
            )
        }
        Some(ExprType::UnresolvedExtractValue(x)) => {
            let child = x
                .child
                .as_deref()
                .map(|c| spark_name(c, scope))
                .unwrap_or_default();
            let key = x
                .extraction
                .as_deref()
                .map(|k| spark_name(k, scope))
                .unwrap_or_default();
            let is_struct = x
                .child
                .as_deref()
                .and_then(|c| scope.expr(c).ok())
                .and_then(|c| c.get_type(scope.schema).ok())
                .is_some_and(|t| matches!(t, DataType::Struct(_)));
            if is_struct {
                format!("{child}.{key}")
            } else {
                format!("{child}[{key}]")
            }
        }
        Some(ExprType::LambdaFunction(l)) => {
            let body = l
                .function
                .as_deref()
                .map(|b| spark_name(b, scope))
                .unwrap_or_default();
            let vars = vec!["namedlambdavariable()"; l.arguments.len()].join(", ");
            format!("lambdafunction({body}, {vars})")
        }
        Some(ExprType::UnresolvedNamedLambdaVariable(_)) => "namedlambdavariable()".into(),
        Some(ExprType::UpdateFields(u)) => u
            .struct_expression
            .as_deref()
            .map(|c| spark_name(c, scope))
            .unwrap_or_default(),
        Some(ExprType::NamedArgumentExpression(n)) => {
            let v = n
                .value
                .as_deref()
                .map(|c| spark_name(c, scope))
                .unwrap_or_default();
            format!("{} => {v}", n.key)
        }
        _ => "col".into(),
    }
}

fn names(args: &[Expression], scope: &Scope) -> Vec<String> {
    args.iter().map(|a| spark_name(a, scope)).collect()
}

/// The names of a call's arguments, a `*` (outside `count(*)`) as the
/// columns it stands for: `hash(*)` is `hash(c1, c2)`.
fn argument_names(f: &pe::UnresolvedFunction, scope: &Scope) -> Vec<String> {
    let mut out = vec![];
    for a in &f.arguments {
        let star = matches!(a.expr_type, Some(ExprType::UnresolvedStar(_)));
        let columns = (star && f.function_name != "count")
            .then(|| scope.exprs(a).ok())
            .flatten();
        match columns {
            Some(cols) => out.extend(cols.iter().map(|c| match c {
                datafusion::logical_expr::Expr::Column(c) => c.name.clone(),
                other => other.schema_name().to_string(),
            })),
            None => out.push(spark_name(a, scope)),
        }
    }
    out
}

/// Whether `e` refers to a column (by name, or a field of one).
fn is_column(e: &Expression) -> bool {
    matches!(
        e.expr_type,
        Some(ExprType::UnresolvedAttribute(_) | ExprType::UnresolvedExtractValue(_))
    )
}

/// Spark's text of a literal in a column name: strings and numbers as
/// they are, other types as SQL literals (`DATE '2020-01-02'`, `X'7576'`).
pub fn literal_name(l: &pe::Literal, scope: &Scope) -> String {
    use pe::literal::LiteralType as L;
    match &l.literal_type {
        None | Some(L::Null(_)) => "NULL".into(),
        Some(L::Boolean(b)) => b.to_string(),
        Some(L::Byte(v) | L::Short(v) | L::Integer(v)) => v.to_string(),
        Some(L::Long(v)) => v.to_string(),
        Some(L::Float(v)) => java_double(format!("{v:?}").parse().unwrap_or(f64::from(*v))),
        Some(L::Double(v)) => java_double(*v),
        Some(L::Decimal(d)) => d.value.clone(),
        Some(L::String(s)) => s.clone(),
        Some(L::Binary(b)) => format!(
            "X'{}'",
            b.iter().map(|x| format!("{x:02X}")).collect::<String>()
        ),
        Some(L::Date(d)) => {
            let date = arrow::temporal_conversions::date32_to_datetime(*d)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            format!("DATE '{date}'")
        }
        Some(L::Timestamp(t)) => {
            let tz = scope
                .state
                .config()
                .options()
                .execution
                .time_zone
                .clone()
                .unwrap_or_else(|| "UTC".into());
            let a: ArrayRef =
                std::sync::Arc::new(TimestampMicrosecondArray::from(vec![*t]).with_timezone(tz));
            format!("TIMESTAMP '{}'", crate::show::cell(a.as_ref(), 0))
        }
        Some(L::TimestampNtz(t)) => {
            let a: ArrayRef = std::sync::Arc::new(TimestampMicrosecondArray::from(vec![*t]));
            format!("TIMESTAMP_NTZ '{}'", crate::show::cell(a.as_ref(), 0))
        }
        Some(L::Array(a)) => format!(
            "ARRAY({})",
            a.elements
                .iter()
                .map(|e| literal_name(e, scope))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(other) => match crate::literal::literal(l) {
            Ok(v) => v.to_string(),
            Err(_) => format!("{:?}", std::mem::discriminant(other)),
        },
    }
}

fn function_name(f: &pe::UnresolvedFunction, scope: &Scope) -> String {
    let mut args = argument_names(f, scope);
    let name = f.function_name.as_str();
    if let Some((_, sym)) = INFIX.iter().find(|(n, _)| *n == name) {
        if let [a, b] = args.as_slice() {
            return format!("({a} {sym} {b})");
        }
    }
    match (name, args.as_slice()) {
        ("!=", [a, b]) => return format!("(NOT ({a} = {b}))"),
        ("not", [a]) => return format!("(NOT {a})"),
        ("~", [a]) => return format!("~{a}"),
        ("positive", [a]) => return format!("(+ {a})"),
        ("trim", [chars, a]) => return format!("TRIM(BOTH {chars} FROM {a})"),
        ("ltrim", [chars, a]) => return format!("TRIM(LEADING {chars} FROM {a})"),
        ("rtrim", [chars, a]) => return format!("TRIM(TRAILING {chars} FROM {a})"),
        // With a scale, Spark's ceil/floor print their lower-case name.
        ("ceil" | "ceiling" | "floor", [_, _]) => return format!("{name}({})", args.join(", ")),
        ("isNull" | "isnull", [a]) => return format!("({a} IS NULL)"),
        ("isNotNull" | "isnotnull", [a]) => return format!("({a} IS NOT NULL)"),
        ("in", [a, rest @ ..]) => return format!("({a} IN ({}))", rest.join(", ")),
        ("like", [a, b]) => return format!("{a} LIKE {b}"),
        ("like", [a, b, esc]) => return format!("{a} LIKE {b} ESCAPE '{esc}'"),
        ("when", _) => {
            let mut s = "CASE".to_string();
            for pair in args.chunks(2) {
                match pair {
                    [c, v] => s.push_str(&format!(" WHEN {c} THEN {v}")),
                    [e] => s.push_str(&format!(" ELSE {e}")),
                    _ => {}
                }
            }
            s.push_str(" END");
            return s;
        }
        ("count", [star]) if star == "*" => return "count(1)".into(),
        // The `ignorenulls` flag of first/last does not show.
        ("first" | "last" | "first_value" | "last_value" | "any_value", [a, _]) => {
            return format!("{name}({a})")
        }
        ("log", [a]) => return format!("ln({a})"),
        ("log", [a, b]) => return format!("LOG({a}, {b})"),
        // The schema and options of the document functions do not show.
        ("from_json" | "from_csv" | "from_xml", [a, ..]) => return format!("{name}({a})"),
        (
            "to_json" | "to_csv" | "to_xml" | "schema_of_json" | "schema_of_csv" | "schema_of_xml",
            [a, _],
        ) => return format!("{name}({a})"),
        // A time window column is called `window`, whatever its arguments.
        // shuffle's seed does not show.
        ("shuffle", [a, _]) => return format!("shuffle({a})"),
        ("window", _) => return "window".into(),
        ("assert_true", [a]) => return format!("assert_true({a}, '{a}' is not true!)"),
        ("mode", [a, d]) if d == "true" => {
            return format!("mode() WITHIN GROUP (ORDER BY {a} DESC)")
        }
        ("mode", [a, _]) => return format!("mode({a})"),
        _ => {}
    }
    for (n, given, extra) in DEFAULT_ARGS.iter().chain(SKETCH_DEFAULT_ARGS) {
        if *n == name && args.len() == *given {
            args.push((*extra).to_string());
        }
    }
    // Interval constructors name every field, 0 for those not given.
    let fields = match name {
        "make_interval" | "try_make_interval" => 7,
        "make_dt_interval" => 4,
        "make_ym_interval" => 2,
        _ => 0,
    };
    while args.len() < fields {
        args.push("0".into());
    }
    let display = FIXED_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, d)| *d);
    let display = match display {
        "countDistinct" | "count_distinct" => "count",
        other => other,
    };
    let distinct = f.is_distinct || matches!(name, "countDistinct" | "count_distinct");
    if distinct {
        format!("{display}(DISTINCT {})", args.join(", "))
    } else {
        format!("{display}({})", args.join(", "))
    }
}

/// `f OVER (PARTITION BY ... ORDER BY ... frame)`, with the frame Spark
/// gives a window that names none.
fn window_name(w: &pe::Window, scope: &Scope) -> String {
    use pe::window::window_frame::{frame_boundary::Boundary, FrameType};
    let f = w
        .window_function
        .as_deref()
        .map(|f| spark_name(f, scope))
        .unwrap_or_default();
    let mut spec = vec![];
    if !w.partition_spec.is_empty() {
        spec.push(format!(
            "PARTITION BY {}",
            names(&w.partition_spec, scope).join(", ")
        ));
    }
    if !w.order_spec.is_empty() {
        let keys: Vec<String> = w
            .order_spec
            .iter()
            .map(|o| {
                let child = o
                    .child
                    .as_deref()
                    .map(|c| spark_name(c, scope))
                    .unwrap_or_default();
                let desc = o.direction == pe::sort_order::SortDirection::Descending as i32;
                let nulls_first = match o.null_ordering {
                    n if n == pe::sort_order::NullOrdering::SortNullsFirst as i32 => true,
                    n if n == pe::sort_order::NullOrdering::SortNullsLast as i32 => false,
                    _ => !desc,
                };
                format!(
                    "{child} {} NULLS {}",
                    if desc { "DESC" } else { "ASC" },
                    if nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect();
        spec.push(format!("ORDER BY {}", keys.join(", ")));
    }
    let bound = |b: Option<&pe::window::window_frame::FrameBoundary>, lower: bool| -> String {
        match b.and_then(|b| b.boundary.as_ref()) {
            Some(Boundary::CurrentRow(true)) => "CURRENT ROW".into(),
            Some(Boundary::Value(v)) => {
                let text = spark_name(v, scope);
                match text.strip_prefix('-') {
                    Some(n) => format!("{n} PRECEDING"),
                    None if text == "0" => "CURRENT ROW".into(),
                    None => format!("{text} FOLLOWING"),
                }
            }
            _ if lower => "UNBOUNDED PRECEDING".into(),
            _ => "UNBOUNDED FOLLOWING".into(),
        }
    };
    let frame = match &w.frame_spec {
        Some(fr) => format!(
            "{} BETWEEN {} AND {}",
            if fr.frame_type == FrameType::Range as i32 {
                "RANGE"
            } else {
                "ROWS"
            },
            bound(fr.lower.as_deref(), true),
            bound(fr.upper.as_deref(), false)
        ),
        None if w.order_spec.is_empty() => {
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING".into()
        }
        None if is_ranking(w) => "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".into(),
        None => "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".into(),
    };
    spec.push(frame);
    format!("{f} OVER ({})", spec.join(" "))
}

/// Window functions whose frame is always ROWS (ranking and offsets).
fn is_ranking(w: &pe::Window) -> bool {
    matches!(
        w.window_function.as_deref().and_then(|f| f.expr_type.as_ref()),
        Some(ExprType::UnresolvedFunction(f)) if matches!(
            f.function_name.as_str(),
            "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile"
        )
    )
}
