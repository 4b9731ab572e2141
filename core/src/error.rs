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

/// Converts a Kiln error into a DataFusion error, for code running inside plan nodes.
pub fn to_df_error(e: KilnError) -> DataFusionError {
    match e {
        KilnError::DataFusion(e) => e,
        other => DataFusionError::External(Box::new(other)),
    }
}
