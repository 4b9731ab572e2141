//! Errors of the Connect server, sent as Spark sends them: a gRPC status
//! whose `google.rpc.ErrorInfo` names the Java exception class, Spark's
//! error class, SQL state and message parameters, so the PySpark client
//! raises the matching Python exception (`AnalysisException`,
//! `ParseException`, ...) with the same `getCondition()`, `getSqlState()`
//! and `getMessageParameters()` as Spark's. [`job_error`] reads Kiln's
//! error texts (planning, failed jobs) back into those errors.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub mod job_error;

/// Spark's search path, as its name-resolution errors print it.
const SEARCH_PATH: &str = "[`system`.`builtin`, `system`.`session`, `spark_catalog`.`default`]";

/// What went wrong, by the Spark exception it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution or type checking failed (Spark's `AnalysisException`).
    #[error("{message}")]
    Analysis {
        /// Spark's error class, e.g. `UNRESOLVED_COLUMN.WITH_SUGGESTION`.
        class: &'static str,
        /// The message shown to the user.
        message: String,
    },
    /// SQL text did not parse (Spark's `ParseException`).
    #[error("{0}")]
    Parse(String),
    /// A bad argument (Spark's `IllegalArgumentException`).
    #[error("{0}")]
    IllegalArgument(String),
    /// Something the client asked for that Kiln does not do (yet).
    #[error("not supported by Kiln: {0}")]
    Unsupported(String),
    /// The session id is unknown or was released.
    #[error("{0}")]
    Session(String),
    /// The job failed while running.
    #[error("{0}")]
    Execution(String),
    /// An error with all Spark sends: exception, class, parameters.
    #[error("{}", .0.message)]
    Spark(Box<SparkError>),
    /// Python code failed (Spark's `PythonException`): a UDF raised, or the
    /// workers' Python cannot run the client's functions.
    #[error("{0}")]
    Python(String),
    /// The server is stopping: the operation was cancelled. Sent as a bare
    /// gRPC status (no error details), so the client raises at once instead
    /// of asking the stopped server for its settings.
    #[error("the Spark Connect server is stopping; the operation was cancelled")]
    ServerStopping,
}

/// An error as Spark describes it.
#[derive(Debug, Clone)]
pub struct SparkError {
    /// The Java exception class (`org.apache.spark.sql.AnalysisException`).
    pub exception: &'static str,
    /// Spark's error class (`UNRESOLVED_COLUMN.WITH_SUGGESTION`).
    pub class: String,
    /// The message parameters, as Spark names them.
    pub params: Vec<(&'static str, String)>,
    /// The message, without the `[CLASS]` prefix and the SQL state.
    pub message: String,
}

/// Java exception classes the PySpark client knows.
pub mod exception {
    /// `AnalysisException`.
    pub const ANALYSIS: &str = "org.apache.spark.sql.AnalysisException";
    /// `ParseException`.
    pub const PARSE: &str = "org.apache.spark.sql.catalyst.parser.ParseException";
    /// `IllegalArgumentException`.
    pub const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";
    /// `UnsupportedOperationException`.
    pub const UNSUPPORTED: &str = "java.lang.UnsupportedOperationException";
    /// `NumberFormatException` (a malformed cast under ANSI mode).
    pub const NUMBER_FORMAT: &str = "org.apache.spark.SparkNumberFormatException";
    /// `ArithmeticException` (division by zero, overflow).
    pub const ARITHMETIC: &str = "org.apache.spark.SparkArithmeticException";
    /// `DateTimeException`.
    pub const DATE_TIME: &str = "org.apache.spark.SparkDateTimeException";
    /// `SparkRuntimeException`.
    pub const RUNTIME: &str = "org.apache.spark.SparkRuntimeException";
    /// `SparkSQLException` (handles, cancellation).
    pub const SQL: &str = "org.apache.spark.SparkSQLException";
    /// `SparkException` (a failed job).
    pub const SPARK: &str = "org.apache.spark.SparkException";
    /// `PythonException` (a Python UDF raised, or its workers cannot run).
    pub const PYTHON: &str = "org.apache.spark.api.python.PythonException";
}

/// The Java class hierarchy of an exception, as Spark lists it in
/// `classes` (the client takes the first it knows).
fn hierarchy(exception: &'static str) -> Vec<&'static str> {
    match exception {
        exception::PARSE => vec![exception::PARSE, exception::ANALYSIS],
        exception::NUMBER_FORMAT => vec![
            exception::NUMBER_FORMAT,
            "java.lang.NumberFormatException",
            exception::ILLEGAL_ARGUMENT,
        ],
        exception::ARITHMETIC => vec![exception::ARITHMETIC, "java.lang.ArithmeticException"],
        exception::DATE_TIME => vec![exception::DATE_TIME, "java.time.DateTimeException"],
        exception::SQL => vec![exception::SQL, "java.sql.SQLException"],
        other => vec![other],
    }
    .into_iter()
    .chain([
        "java.lang.RuntimeException",
        "java.lang.Exception",
        "java.lang.Throwable",
    ])
    .collect()
}

/// Spark's SQL state of an error class (its `error-conditions.json`).
fn sql_state(class: &str) -> Option<&'static str> {
    let main = class.split('.').next().unwrap_or(class);
    Some(match main {
        "UNRESOLVED_COLUMN" | "UNRESOLVED_FIELD" | "UNRESOLVED_MAP_KEY" => "42703",
        "UNRESOLVED_ROUTINE" => "42883",
        "PARSE_SYNTAX_ERROR" => "42601",
        "PARSE_EMPTY_STATEMENT" => "42617",
        "DATATYPE_MISMATCH" => "42K09",
        "PATH_NOT_FOUND" => "42K03",
        "PATH_ALREADY_EXISTS" => "42K04",
        "TABLE_OR_VIEW_NOT_FOUND" => "42P01",
        "TEMP_TABLE_OR_VIEW_ALREADY_EXISTS" => "42P07",
        "AMBIGUOUS_REFERENCE" | "CANNOT_RESOLVE_STAR_EXPAND" | "FIELD_NOT_FOUND" => "42704",
        "NUM_COLUMNS_MISMATCH" => "42826",
        "COLUMN_ALREADY_EXISTS" => "42711",
        "SQL_CONF_NOT_FOUND" => "42K0I",
        "CANNOT_MODIFY_STATIC_CONFIG" => "46110",
        "WRONG_NUM_ARGS" => "42605",
        "UNSUPPORTED_DATATYPE" | "UNSUPPORTED_FEATURE" | "UNSUPPORTED_CONNECT_FEATURE" => "0A000",
        "CAST_INVALID_INPUT" => "22018",
        "CAST_OVERFLOW" | "ARITHMETIC_OVERFLOW" | "NUMERIC_VALUE_OUT_OF_RANGE" => "22003",
        "DIVIDE_BY_ZERO" => "22012",
        "INVALID_HANDLE" => "HY000",
        "INVALID_CURSOR" => "HY109",
        "OPERATION_CANCELED" => "HY008",
        "INTERNAL_ERROR" => "XX000",
        _ => return None,
    })
}

/// `name` quoted as Spark quotes identifiers in messages.
pub fn quote_id(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `[CLASS] rest` split into Spark's error class and the rest.
pub(crate) fn embedded_class(m: &str) -> Option<(&str, &str)> {
    let (class, rest) = m.strip_prefix('[')?.split_once("] ")?;
    class
        .chars()
        .all(|c| c.is_ascii_uppercase() || c == '_' || c == '.')
        .then_some((class, rest))
}

/// A multi-part name quoted part by part (`` `t`.`x` ``), as Spark does.
pub fn quote_parts(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| quote_id(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// Edit distance of two strings (Spark orders name suggestions by it).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

impl SparkError {
    /// An error of `class` raised as `exception`.
    pub fn new(
        exception: &'static str,
        class: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        SparkError {
            exception,
            class: class.into(),
            params: vec![],
            message: message.into(),
        }
    }

    /// Adds a message parameter.
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }
}

impl From<SparkError> for ConnectError {
    fn from(e: SparkError) -> Self {
        ConnectError::Spark(Box::new(e))
    }
}

impl ConnectError {
    /// An analysis error with Spark's generic class.
    pub fn analysis(message: impl Into<String>) -> Self {
        ConnectError::Analysis {
            class: "INTERNAL_ERROR",
            message: message.into(),
        }
    }

    /// A bad handle or cursor (`INVALID_HANDLE.*`, `INVALID_CURSOR.*`).
    pub fn handle(class: &'static str, message: impl Into<String>) -> Self {
        SparkError::new(exception::SQL, class, message).into()
    }

    /// The operation was interrupted or its session released.
    pub fn cancelled() -> Self {
        SparkError::new(
            exception::SQL,
            "OPERATION_CANCELED",
            "Operation has been canceled.",
        )
        .into()
    }

    /// A column name (its parts: `t.x` is `["t", "x"]`) that resolves to
    /// nothing; `candidates` are the names in scope, suggested closest
    /// first (at most five), as Spark does.
    pub fn unresolved_column(parts: &[String], candidates: &[String]) -> Self {
        let object = quote_parts(parts);
        let mut quoted: Vec<String> = candidates.iter().map(|c| quote_id(c)).collect();
        quoted.dedup();
        // Stable: equally close names keep their order, as in Spark.
        quoted.sort_by_key(|c| levenshtein(c, &object));
        quoted.truncate(5);
        let proposal = quoted.join(", ");
        let text = format!(
            "A column, variable, or function parameter with name {object} cannot be resolved."
        );
        if quoted.is_empty() {
            return SparkError::new(
                exception::ANALYSIS,
                "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
                text,
            )
            .param("objectName", object)
            .into();
        }
        SparkError::new(
            exception::ANALYSIS,
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("{text} Did you mean one of the following? [{proposal}]."),
        )
        .param("objectName", object)
        .param("proposal", proposal)
        .into()
    }

    /// A function name Kiln's registry does not have.
    pub fn unresolved_routine(name: &str) -> Self {
        let routine = quote_id(name);
        SparkError::new(
            exception::ANALYSIS,
            "UNRESOLVED_ROUTINE",
            format!(
                "Cannot resolve routine {routine} on search path {SEARCH_PATH}: function \
                 {routine} is not supported by Kiln."
            ),
        )
        .param("routineName", routine)
        .param("searchPath", SEARCH_PATH)
        .into()
    }

    /// A type name Spark does not know (`cast("intt")`), at `line` and
    /// `pos` of the type string, as Spark's parser reports it.
    pub fn unsupported_datatype(name: &str, line: usize, pos: usize) -> Self {
        let shown = format!("\"{}\"", name.to_ascii_uppercase());
        SparkError::new(
            exception::PARSE,
            "UNSUPPORTED_DATATYPE",
            format!("Unsupported data type {shown}. SQLSTATE: 0A000 (line {line}, pos {pos})"),
        )
        .param("typeName", shown)
        .into()
    }

    /// A table or view name (its parts) that resolves to nothing.
    pub fn table_not_found(parts: &[String]) -> Self {
        let relation = quote_parts(parts);
        SparkError::new(
            exception::ANALYSIS,
            "TABLE_OR_VIEW_NOT_FOUND",
            format!(
                "The table or view {relation} cannot be found. Verify the spelling and \
                 correctness of the schema and catalog."
            ),
        )
        .param("relationName", relation)
        .param("searchPath", SEARCH_PATH)
        .into()
    }

    /// A read of a path that does not exist.
    pub fn path_not_found(path: &str) -> Self {
        let shown = if path.contains("://") || path.starts_with("file:") {
            path.to_string()
        } else {
            format!("file:{path}")
        };
        SparkError::new(
            exception::ANALYSIS,
            "PATH_NOT_FOUND",
            format!("Path does not exist: {shown}."),
        )
        .param("path", shown)
        .into()
    }

    fn spark(&self) -> SparkError {
        match self {
            ConnectError::Spark(e) => e.as_ref().clone(),
            ConnectError::Analysis { class, message } => {
                SparkError::new(exception::ANALYSIS, *class, message.clone())
            }
            // A message may name its class itself: `[PARSE_EMPTY_STATEMENT] ...`.
            ConnectError::Parse(m) => match embedded_class(m) {
                Some((class, rest)) => SparkError::new(exception::PARSE, class, rest),
                None => SparkError::new(exception::PARSE, "PARSE_SYNTAX_ERROR", m.clone()),
            },
            ConnectError::IllegalArgument(m) => {
                SparkError::new(exception::ILLEGAL_ARGUMENT, "", m.clone())
            }
            ConnectError::Unsupported(_) => SparkError::new(
                exception::UNSUPPORTED,
                "UNSUPPORTED_FEATURE",
                self.to_string(),
            ),
            ConnectError::Session(m) => SparkError::new(
                exception::SQL,
                "INVALID_HANDLE.SESSION_NOT_FOUND",
                m.clone(),
            ),
            ConnectError::Execution(m) => job_error::classify(m),
            ConnectError::Python(m) => SparkError::new(exception::PYTHON, "", m.clone()),
            ConnectError::ServerStopping => {
                SparkError::new(exception::SQL, "OPERATION_CANCELED", self.to_string())
            }
        }
    }

    /// The gRPC status the client turns into its Python exception.
    pub fn to_status(&self) -> Status {
        if let ConnectError::ServerStopping = self {
            return Status::cancelled(self.to_string());
        }
        let e = self.spark();
        let code = match self {
            ConnectError::Unsupported(_) => Code::Unimplemented,
            ConnectError::Execution(_) | ConnectError::Python(_) => Code::Internal,
            ConnectError::Spark(s) if s.class == "OPERATION_CANCELED" => Code::Cancelled,
            _ => Code::InvalidArgument,
        };
        let state = sql_state(&e.class);
        let mut metadata = HashMap::new();
        metadata.insert(
            "classes".to_string(),
            serde_json::json!(hierarchy(e.exception)).to_string(),
        );
        if !e.class.is_empty() {
            metadata.insert("errorClass".to_string(), e.class.clone());
        }
        if let Some(s) = state {
            metadata.insert("sqlState".to_string(), s.to_string());
        }
        let params: serde_json::Map<String, serde_json::Value> = e
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        metadata.insert(
            "messageParameters".to_string(),
            serde_json::Value::Object(params).to_string(),
        );
        let details = ErrorDetails::with_error_info(e.exception, "org.apache.spark", metadata);
        // Spark's messages: `[CLASS] text SQLSTATE: state`.
        let mut text = match self {
            ConnectError::Unsupported(_) => e.message.clone(),
            _ if e.class.is_empty() => e.message.clone(),
            _ => format!("[{}] {}", e.class, e.message),
        };
        if let Some(s) = state.filter(|_| !text.contains("SQLSTATE")) {
            text = match text.split_once('\n') {
                Some((first, rest)) => format!("{first} SQLSTATE: {s}\n{rest}"),
                None => format!("{text} SQLSTATE: {s}"),
            };
        }
        Status::with_error_details(code, text, details)
    }

    /// Classifies a DataFusion error from planning a client's plan.
    pub fn from_datafusion(e: &datafusion::error::DataFusionError) -> Self {
        use datafusion::common::SchemaError;
        use datafusion::error::DataFusionError as E;
        let text = kiln_driver::application::strip_df_prefix(&e.to_string());
        match e.find_root() {
            E::SQL(..) => job_error::parse_error(&text, None),
            E::SchemaError(s, _) => match s.as_ref() {
                SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } => {
                    let names: Vec<String> = valid_fields.iter().map(|c| c.name.clone()).collect();
                    ConnectError::unresolved_column(std::slice::from_ref(&field.name), &names)
                }
                _ => ConnectError::Analysis {
                    class: "AMBIGUOUS_REFERENCE",
                    message: text,
                },
            },
            E::Plan(m) if m.contains("function") && m.contains("not found") => {
                ConnectError::Analysis {
                    class: "UNRESOLVED_ROUTINE",
                    message: text,
                }
            }
            E::Plan(_) | E::NotImplemented(_) => ConnectError::analysis(text),
            _ => ConnectError::Execution(text),
        }
    }

    /// Classifies an error of planning the SQL text `sql` (a syntax error
    /// at its end is placed there, as Spark places it).
    pub fn from_sql(e: kiln_core::KilnError, sql: &str) -> Self {
        match e {
            kiln_core::KilnError::Sql(m) => job_error::sql_error_in(&m, Some(sql)),
            other => ConnectError::Execution(other.to_string()),
        }
    }

    /// Classifies an error of a Kiln job.
    pub fn from_kiln(e: kiln_core::KilnError) -> Self {
        match e {
            kiln_core::KilnError::Sql(m) => job_error::sql_error_in(&m, None),
            other => {
                let m = other.to_string();
                if let Some(at) = m.find(kiln_core::python::protocol::PYTHON_EXCEPTION) {
                    // The client puts Spark's header above the traceback itself.
                    let rest = &m[at..];
                    let traceback = rest.split_once('\n').map_or(rest, |(_, t)| t);
                    ConnectError::Python(traceback.to_string())
                } else {
                    ConnectError::Execution(m)
                }
            }
        }
    }
}

impl From<datafusion::error::DataFusionError> for ConnectError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ConnectError::from_datafusion(&e)
    }
}

impl From<ConnectError> for Status {
    fn from(e: ConnectError) -> Self {
        e.to_status()
    }
}

/// The result type of the Connect server.
pub type Result<T, E = ConnectError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_the_closest_names_first_at_most_five() {
        let names: Vec<String> = ["id", "age", "name", "a", "b", "c", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ConnectError::Spark(e) = ConnectError::unresolved_column(&["nme".into()], &names)
        else {
            panic!("a Spark error")
        };
        assert_eq!(e.class, "UNRESOLVED_COLUMN.WITH_SUGGESTION");
        assert_eq!(e.params[0], ("objectName", "`nme`".to_string()));
        assert_eq!(e.params[1].1, "`name`, `age`, `id`, `a`, `b`");
    }

    #[test]
    fn statuses_carry_sparks_error_info() {
        let status = ConnectError::path_not_found("/no/such").to_status();
        assert!(status
            .message()
            .starts_with("[PATH_NOT_FOUND] Path does not exist: file:/no/such."));
        assert!(status.message().ends_with("SQLSTATE: 42K03"));
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, exception::ANALYSIS);
        assert_eq!(info.metadata["errorClass"], "PATH_NOT_FOUND");
        assert_eq!(info.metadata["sqlState"], "42K03");
        assert_eq!(
            info.metadata["messageParameters"],
            r#"{"path":"file:/no/such"}"#
        );
    }
}
