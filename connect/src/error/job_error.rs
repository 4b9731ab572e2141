//! Kiln's error texts (SQL planning, jobs that failed on executors) read
//! back into the Spark errors a client expects: a parse error's token and
//! position, an unknown column or function, a malformed cast, a division
//! by zero. Text is all that crosses from the executors (a task's error
//! string), so these are recognised by the markers Kiln's own functions
//! and DataFusion put in them; anything else stays a failed job
//! (`SparkException`) with Kiln's message.

use crate::error::{exception, ConnectError, SparkError};

/// A SQL syntax error: `... found: TOKEN at Line: L, Column: C`, as
/// Spark's `PARSE_SYNTAX_ERROR` with its token and `(line L, pos C-1)`;
/// the end of the input (`found: EOF`) is placed at the end of `sql`.
pub fn parse_error(text: &str, sql: Option<&str>) -> ConnectError {
    let found = text.rsplit_once("found: ").map(|(_, rest)| rest);
    let (token, line, column) = match found.and_then(|f| f.rsplit_once(" at Line: ")) {
        Some((token, pos)) => {
            let (line, col) = pos.split_once(", Column: ").unwrap_or((pos, "1"));
            (
                token.trim(),
                line.trim().parse::<u64>().unwrap_or(1),
                col.trim()
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .unwrap_or(1),
            )
        }
        None => (found.unwrap_or("").trim(), 0, 0),
    };
    let (line, column) = match sql {
        Some(sql) if line == 0 && matches!(token, "" | "EOF") => {
            let text = sql.trim_end();
            let last = text.rsplit('\n').next().unwrap_or("");
            (
                text.lines().count().max(1) as u64,
                last.chars().count() as u64 + 1,
            )
        }
        _ => (line, column),
    };
    let error = match token {
        "" | "EOF" => "end of input".to_string(),
        t => format!("'{}'", t.trim_matches('\'')),
    };
    let at = if line > 0 {
        format!(" (line {line}, pos {})", column.saturating_sub(1))
    } else {
        String::new()
    };
    let detail = text
        .split_once("SQL syntax error: ")
        .map(|(_, d)| d)
        .unwrap_or(text);
    SparkError::new(
        exception::PARSE,
        "PARSE_SYNTAX_ERROR",
        format!("Syntax error at or near {error}. SQLSTATE: 42601{at}\n({detail})"),
    )
    .param("error", error)
    .param("hint", "")
    .into()
}

/// The text between the first pair of `open` and `close` after `after`.
fn between<'a>(text: &'a str, after: &str, close: char) -> Option<&'a str> {
    let rest = text.split_once(after)?.1;
    let open = rest.chars().next()?;
    let rest = rest.strip_prefix(open)?;
    rest.split_once(close).map(|(inner, _)| inner)
}

/// An error from planning `spark.sql` text (`sql`, when known).
pub fn sql_error_in(m: &str, sql: Option<&str>) -> ConnectError {
    if m.contains("SQL syntax error") || m.contains("sql parser error") {
        return parse_error(m, sql);
    }
    if let Some(rest) = m.split_once("No field named ").map(|(_, r)| r) {
        let name = rest
            .split(['.', ' '])
            .next()
            .unwrap_or(rest)
            .trim_matches(['"', '`']);
        let valid = rest
            .split_once("Valid fields are ")
            .map(|(_, v)| v.trim_end_matches('.'))
            .unwrap_or("");
        let names: Vec<String> = valid
            .split(", ")
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.rsplit('.')
                    .next()
                    .unwrap_or(v)
                    .trim_matches(['"', '`'])
                    .to_string()
            })
            .collect();
        return ConnectError::unresolved_column(&[name.to_string()], &names);
    }
    if let Some(name) = between(m, "Invalid function ", '\'') {
        return ConnectError::unresolved_routine(name);
    }
    if m.contains("not found") {
        if let Some(name) = between(m, "table ", '\'') {
            let parts: Vec<String> = name.split('.').map(str::to_string).collect();
            return ConnectError::table_not_found(&parts);
        }
    }
    // A message that names Spark's error class itself, after where it
    // came from: `spark.sql: [TABLE_OR_VIEW_NOT_FOUND] The table ...`.
    if let Some((class, rest)) = m
        .match_indices('[')
        .find_map(|(i, _)| super::embedded_class(&m[i..]))
    {
        return SparkError::new(exception::ANALYSIS, class, rest).into();
    }
    ConnectError::analysis(m.to_string())
}

/// Spark's name of an Arrow type in a cast error.
fn spark_type(arrow: &str) -> String {
    match arrow {
        "Utf8" | "LargeUtf8" | "Utf8View" | "string" => "STRING".into(),
        "Int8" => "TINYINT".into(),
        "Int16" => "SMALLINT".into(),
        "Int32" => "INT".into(),
        "Int64" => "BIGINT".into(),
        "Float32" => "FLOAT".into(),
        "Float64" => "DOUBLE".into(),
        "Boolean" => "BOOLEAN".into(),
        "Date32" => "DATE".into(),
        t if t.starts_with("Timestamp") => "TIMESTAMP".into(),
        t if t.starts_with("Decimal") => t.replacen("Decimal128", "DECIMAL", 1).replace(", ", ","),
        t => t.to_uppercase(),
    }
}

/// A failed job's error: Spark's error class when the text carries one.
pub fn classify(m: &str) -> SparkError {
    // Arrow's cast kernel: "Cannot cast string 'alice' to value of Int32 type".
    if let Some(rest) = m.split_once("Cannot cast string ").map(|(_, r)| r) {
        if let Some((value, target)) = rest.split_once(" to value of ") {
            let target = spark_type(target.split_whitespace().next().unwrap_or(""));
            return SparkError::new(
                exception::NUMBER_FORMAT,
                "CAST_INVALID_INPUT",
                format!(
                    "The value {value} of the type \"STRING\" cannot be cast to \"{target}\" \
                     because it is malformed. Correct the value as per the syntax, or change \
                     its target type. Use `try_cast` to tolerate malformed input and return \
                     NULL instead."
                ),
            )
            .param("expression", value)
            .param("sourceType", "\"STRING\"")
            .param("targetType", format!("\"{target}\""))
            .param("ansiConfig", "\"spark.sql.ansi.enabled\"");
        }
    }
    for (marker, exception) in [
        ("[CAST_INVALID_INPUT]", exception::NUMBER_FORMAT),
        ("[DIVIDE_BY_ZERO]", exception::ARITHMETIC),
        ("[ARITHMETIC_OVERFLOW]", exception::ARITHMETIC),
        ("[CAST_OVERFLOW]", exception::ARITHMETIC),
        ("[NUMERIC_VALUE_OUT_OF_RANGE]", exception::ARITHMETIC),
    ] {
        if let Some((_, rest)) = m.split_once(marker) {
            let class = &marker[1..marker.len() - 1];
            let mut e = SparkError::new(exception, class, rest.trim());
            if class == "DIVIDE_BY_ZERO" {
                e = e.param("config", "\"spark.sql.ansi.enabled\"");
            }
            return e;
        }
    }
    if m.contains("Divide by zero") {
        return SparkError::new(
            exception::ARITHMETIC,
            "DIVIDE_BY_ZERO",
            "Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL \
             instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this \
             error.",
        )
        .param("config", "\"spark.sql.ansi.enabled\"");
    }
    SparkError::new(exception::SPARK, "", m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spark(e: ConnectError) -> SparkError {
        match e {
            ConnectError::Spark(s) => *s,
            other => panic!("not a Spark error: {other:?}"),
        }
    }

    #[test]
    fn parse_errors_name_the_token_and_its_position() {
        let e = spark(parse_error(
            "spark.sql: SQL syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
            None,
        ));
        assert_eq!(e.class, "PARSE_SYNTAX_ERROR");
        assert_eq!(e.params[0], ("error", "'SELEC'".to_string()));
        assert!(e.message.contains("(line 1, pos 0)"), "{}", e.message);
        let e = spark(parse_error(
            "SQL syntax error: Expected: an expression, found: EOF",
            Some("SELECT id\n  FROM people WHERE\n"),
        ));
        assert_eq!(e.params[0].1, "end of input");
        assert!(e.message.contains("(line 2, pos 19)"), "{}", e.message);
    }

    #[test]
    fn an_analysis_message_naming_its_class_keeps_it() {
        let e = spark(sql_error_in(
            "spark.sql: [TABLE_OR_VIEW_NOT_FOUND] The table or view `t` cannot be found.",
            None,
        ));
        assert_eq!(e.class, "TABLE_OR_VIEW_NOT_FOUND");
        assert_eq!(e.exception, exception::ANALYSIS);
        assert!(
            e.message.starts_with("The table or view `t`"),
            "{}",
            e.message
        );
        // Brackets that are not a class name change nothing.
        let e = sql_error_in("array [1, 2] is wrong", None);
        assert!(matches!(
            e,
            ConnectError::Analysis {
                class: "INTERNAL_ERROR",
                ..
            }
        ));
    }

    #[test]
    fn malformed_casts_are_sparks_cast_invalid_input() {
        let e = classify(
            "stage 2 task 0 failed: Cast error: Cannot cast string 'alice' to value of Int32 type",
        );
        assert_eq!(e.class, "CAST_INVALID_INPUT");
        assert_eq!(e.exception, exception::NUMBER_FORMAT);
        assert_eq!(e.params[0], ("expression", "'alice'".to_string()));
        assert_eq!(e.params[2], ("targetType", "\"INT\"".to_string()));
    }
}
