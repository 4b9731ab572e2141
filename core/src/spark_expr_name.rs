//! The names Spark gives things in a parsed statement: the column name of
//! an unaliased expression (`count(1)`, `(a + b)`, `CAST(x AS INT)`), and
//! the function a call calls. The SQL rewrites ([`crate::spark_sql`],
//! [`crate::spark_using`], [`crate::spark_window`],
//! [`crate::spark_generator`]) read them; this module reads only the AST.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, UnaryOperator, Value,
};

/// The name a function call calls (the last part of `db.fn`).
pub fn called(f: &Function) -> Option<&str> {
    Some(f.name.0.last()?.as_ident()?.value.as_str())
}

/// The name Spark gives an unaliased expression, for the expressions whose
/// rendering is known; `None` leaves DataFusion's.
pub fn spark_name(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => ident(parts.last()?),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.clone(),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Boolean(b) => b.to_string(),
            Value::Null => "NULL".into(),
            _ => return None,
        },
        Expr::Nested(inner) => spark_name(inner)?,
        Expr::TypedString(t) => {
            let value = match &t.value.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                _ => return None,
            };
            format!("{} '{value}'", type_name(&t.data_type))
        }
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => "+",
                BinaryOperator::Minus => "-",
                BinaryOperator::Multiply => "*",
                BinaryOperator::Divide => "/",
                BinaryOperator::Modulo => "%",
                BinaryOperator::Eq => "=",
                BinaryOperator::NotEq => "!=",
                BinaryOperator::Lt => "<",
                BinaryOperator::LtEq => "<=",
                BinaryOperator::Gt => ">",
                BinaryOperator::GtEq => ">=",
                BinaryOperator::And => "AND",
                BinaryOperator::Or => "OR",
                BinaryOperator::MyIntegerDivide => "div",
                BinaryOperator::Spaceship => "<=>",
                BinaryOperator::BitwiseAnd => "&",
                BinaryOperator::BitwiseOr => "|",
                BinaryOperator::BitwiseXor => "^",
                _ => return None,
            };
            format!("({} {op} {})", spark_name(left)?, spark_name(right)?)
        }
        Expr::UnaryOp { op, expr } => match (op, expr.as_ref()) {
            (UnaryOperator::Minus, Expr::Value(v)) if matches!(v.value, Value::Number(..)) => {
                format!("-{}", spark_name(expr)?)
            }
            (UnaryOperator::Minus, _) => format!("(- {})", spark_name(expr)?),
            (UnaryOperator::Plus, _) => format!("(+ {})", spark_name(expr)?),
            (UnaryOperator::Not, _) => format!("(NOT {})", spark_name(expr)?),
            _ => return None,
        },
        Expr::IsNull(x) => format!("({} IS NULL)", spark_name(x)?),
        Expr::IsNotNull(x) => format!("({} IS NOT NULL)", spark_name(x)?),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let items = list
                .iter()
                .map(spark_name)
                .collect::<Option<Vec<_>>>()?
                .join(", ");
            let inner = format!("({} IN ({items}))", spark_name(expr)?);
            if *negated {
                format!("(NOT {inner})")
            } else {
                inner
            }
        }
        Expr::Cast {
            kind: CastKind::Cast,
            expr,
            data_type,
            format: None,
            ..
        } => format!("CAST({} AS {})", spark_name(expr)?, type_name(data_type)),
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let mut s = String::from("CASE");
            if let Some(o) = operand {
                s.push(' ');
                s.push_str(&spark_name(o)?);
            }
            for w in conditions {
                s.push_str(&format!(
                    " WHEN {} THEN {}",
                    spark_name(&w.condition)?,
                    spark_name(&w.result)?
                ));
            }
            if let Some(e) = else_result {
                s.push_str(&format!(" ELSE {}", spark_name(e)?));
            }
            s.push_str(" END");
            s
        }
        Expr::Function(f) => function_name(f)?,
        _ => return None,
    })
}

/// A SQL type as Spark names it: Kiln's microsecond `TIMESTAMP(6)` is
/// Spark's `TIMESTAMP`.
fn type_name(t: &DataType) -> String {
    use datafusion::sql::sqlparser::ast::TimezoneInfo;
    match t {
        DataType::Timestamp(Some(6), TimezoneInfo::None) => "TIMESTAMP".into(),
        t => t.to_string().to_uppercase(),
    }
}

/// A column as Spark prints it: unquoted names as DataFusion resolves them
/// (lower case), quoted ones as written.
fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn function_name(f: &Function) -> Option<String> {
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let name = called(f)?.to_lowercase();
    let list = match &f.args {
        FunctionArguments::None => return Some(format!("{name}()")),
        FunctionArguments::List(l) if l.clauses.is_empty() => l,
        _ => return None,
    };
    let mut args = vec![];
    for a in &list.args {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(spark_name(e)?),
            // Spark counts `count(*)` as `count(1)`.
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => {
                args.push("1".into())
            }
            _ => return None,
        }
    }
    let distinct = match list.duplicate_treatment {
        Some(DuplicateTreatment::Distinct) => "DISTINCT ",
        _ => "",
    };
    Some(format!("{name}({distinct}{})", args.join(", ")))
}
