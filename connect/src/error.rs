//! Errors of the Connect server, sent as Spark sends them: a gRPC status
//! whose `google.rpc.ErrorInfo` names the Java exception class, so the
//! PySpark client raises the matching Python exception
//! (`AnalysisException`, `ParseException`, ...).

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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
    /// Python code failed (Spark's `PythonException`): a UDF raised, or the
    /// workers' Python cannot run the client's functions.
    #[error("{0}")]
    Python(String),
}

impl ConnectError {
    /// An analysis error with Spark's generic class.
    pub fn analysis(message: impl Into<String>) -> Self {
        ConnectError::Analysis {
            class: "INTERNAL_ERROR",
            message: message.into(),
        }
    }

    fn java_class(&self) -> (&'static str, Option<&'static str>, Option<&'static str>) {
        // (exception class, error class, SQL state)
        match self {
            ConnectError::Analysis { class, .. } => (
                "org.apache.spark.sql.AnalysisException",
                Some(class),
                Some(if class.starts_with("UNRESOLVED") {
                    "42703"
                } else {
                    "42000"
                }),
            ),
            ConnectError::Parse(_) => (
                "org.apache.spark.sql.catalyst.parser.ParseException",
                Some("PARSE_SYNTAX_ERROR"),
                Some("42601"),
            ),
            ConnectError::IllegalArgument(_) => ("java.lang.IllegalArgumentException", None, None),
            ConnectError::Unsupported(_) => (
                "java.lang.UnsupportedOperationException",
                Some("UNSUPPORTED_FEATURE"),
                Some("0A000"),
            ),
            ConnectError::Session(_) => (
                "org.apache.spark.SparkSQLException",
                Some("INVALID_HANDLE.SESSION_NOT_FOUND"),
                Some("HY000"),
            ),
            ConnectError::Execution(_) => ("org.apache.spark.SparkException", None, None),
            ConnectError::Python(_) => ("org.apache.spark.api.python.PythonException", None, None),
        }
    }

    /// The gRPC status the client turns into its Python exception.
    pub fn to_status(&self) -> Status {
        let (class, error_class, sql_state) = self.java_class();
        let code = match self {
            ConnectError::Unsupported(_) => Code::Unimplemented,
            ConnectError::Execution(_) | ConnectError::Python(_) => Code::Internal,
            _ => Code::InvalidArgument,
        };
        let message = self.to_string();
        let mut metadata = HashMap::new();
        metadata.insert(
            "classes".to_string(),
            serde_json::json!([class]).to_string(),
        );
        if let Some(c) = error_class {
            metadata.insert("errorClass".to_string(), c.to_string());
        }
        if let Some(s) = sql_state {
            metadata.insert("sqlState".to_string(), s.to_string());
        }
        metadata.insert("messageParameters".to_string(), "{}".to_string());
        let details = ErrorDetails::with_error_info(class, "org.apache.spark", metadata);
        // The client shows the status message; Spark prefixes it with the class.
        let text = match error_class {
            Some(c) if !matches!(self, ConnectError::Unsupported(_)) => format!("[{c}] {message}"),
            _ => message,
        };
        Status::with_error_details(code, text, details)
    }

    /// Classifies a DataFusion error from planning a client's plan.
    pub fn from_datafusion(e: &datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        let text = kiln_driver::application::strip_df_prefix(&e.to_string());
        match e.find_root() {
            E::SQL(..) => ConnectError::Parse(text),
            E::SchemaError(..) => ConnectError::Analysis {
                class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                message: text,
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

    /// Classifies an error of a Kiln job.
    pub fn from_kiln(e: kiln_core::KilnError) -> Self {
        match e {
            kiln_core::KilnError::Sql(m) => {
                if m.contains("syntax") || m.contains("Expected") || m.contains("sql parser") {
                    ConnectError::Parse(m)
                } else if m.contains("No field named") || m.contains("not found") {
                    ConnectError::Analysis {
                        class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                        message: m,
                    }
                } else {
                    ConnectError::analysis(m)
                }
            }
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
