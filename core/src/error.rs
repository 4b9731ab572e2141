//! The error type shared by every Kiln crate.

use datafusion::error::DataFusionError;

/// Result alias used across Kiln.
pub type Result<T, E = KilnError> = std::result::Result<T, E>;

/// Everything that can go wrong in Kiln, grouped by who must act on it.
#[derive(Debug, thiserror::Error)]
pub enum KilnError {
    /// The application manifest is malformed or incomplete.
    #[error("invalid manifest {path}: {message}")]
    Manifest {
        /// File the manifest came from.
        path: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An engine setting in `spec.conf` or on the command line is invalid.
    #[error("invalid setting {key}: {message}")]
    Config {
        /// The setting's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A SQL statement could not be parsed or planned.
    #[error("{0}")]
    Sql(String),
    /// An error raised by DataFusion while planning or executing.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// A file or directory could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What Kiln was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A gRPC call between driver and executor failed.
    #[error("rpc {call} to {peer} failed: {message}")]
    Rpc {
        /// The method.
        call: String,
        /// The address called.
        peer: String,
        /// The status or transport message.
        message: String,
    },
    /// Executors could not be started or were lost.
    #[error("executor error: {0}")]
    Executor(String),
    /// A job failed; the message names the stage and task.
    #[error("{0}")]
    JobFailed(String),
    /// A violation of an internal invariant (a bug in Kiln).
    #[error("internal error: {0}")]
    Internal(String),
}

impl KilnError {
    /// Wraps an I/O error with what Kiln was doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KilnError::Io {
            context: context.into(),
            source,
        }
    }
}

/// DataFusion's error-kind prefixes, which say nothing to the person
/// reading why their statement or job failed.
const ERROR_KIND_PREFIXES: [&str; 6] = [
    "Error during planning: ",
    "Schema error: ",
    "SQL error: ",
    "Execution error: ",
    "External error: ",
    "Arrow error: ",
];

/// A DataFusion error's message without its error-kind prefixes (however
/// deeply nested: `External error: Arrow error: Divide by zero error` reads
/// `Divide by zero error`) and surrounding blanks.
pub fn strip_df_prefix(message: &str) -> String {
    let mut s = message.trim_start();
    while let Some(rest) = ERROR_KIND_PREFIXES.iter().find_map(|p| s.strip_prefix(p)) {
        s = rest.trim_start();
    }
    s.trim_end().to_string()
}

/// Converts a Kiln error into a DataFusion error, for code running inside plan nodes.
pub fn to_df_error(e: KilnError) -> DataFusionError {
    match e {
        KilnError::DataFusion(e) => e,
        other => DataFusionError::External(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use arrow::error::ArrowError;

    use super::*;

    #[test]
    fn error_kind_prefixes_go_however_nested() {
        let arrow = |e| DataFusionError::ArrowError(Box::new(e), None);
        assert_eq!(
            strip_df_prefix(&arrow(ArrowError::DivideByZero).to_string()),
            "Divide by zero error"
        );
        let ext = DataFusionError::External(Box::new(arrow(ArrowError::DivideByZero)));
        assert_eq!(strip_df_prefix(&ext.to_string()), "Divide by zero error");
        let plan = DataFusionError::Plan("table 't' not found".into());
        assert_eq!(strip_df_prefix(&plan.to_string()), "table 't' not found");
        assert_eq!(
            strip_df_prefix("  Schema error: No field named x.  "),
            "No field named x."
        );
    }

    #[test]
    fn other_messages_stay_whole() {
        assert_eq!(strip_df_prefix(""), "");
        assert_eq!(strip_df_prefix("Divide by zero"), "Divide by zero");
        // A prefix inside the message is part of it.
        assert_eq!(
            strip_df_prefix("job failed: Execution error: boom"),
            "job failed: Execution error: boom"
        );
        // A message that is only a prefix keeps nothing.
        assert_eq!(strip_df_prefix("Execution error: "), "");
    }
}
