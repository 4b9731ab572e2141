//! Which task failures are deterministic: the same task would fail the same
//! way on any executor, so the job fails at once instead of retrying
//! (`kiln.task.maxFailures`).
//!
//! The test is an allow-list of error kinds, never a search of the message:
//! plan and schema errors, data errors the kernels report by type (a bad
//! cast, a division by zero, an overflow), a corrupt Parquet file, and
//! Spark's data error classes (`[DIVIDE_BY_ZERO]`, `[CAST_INVALID_INPUT]`,
//! ...) that Kiln's Spark functions put at the start of their messages.
//! Everything else is retried: I/O and object-store errors (an S3 503 that
//! outlived the store's own retries, a connection reset), memory pressure,
//! and any error not known to be deterministic.

use std::error::Error;

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// Spark's error classes of deterministic data errors: the input holds a
/// value the query cannot compute with.
pub const DETERMINISTIC_SPARK_CLASSES: &[&str] = &[
    "ARITHMETIC_OVERFLOW",
    "BINARY_ARITHMETIC_OVERFLOW",
    "CAST_INVALID_INPUT",
    "CAST_OVERFLOW",
    "CONVERSION_INVALID_INPUT",
    "DATETIME_FIELD_OUT_OF_BOUNDS",
    "DATETIME_OVERFLOW",
    "DIVIDE_BY_ZERO",
    "DUPLICATED_MAP_KEY",
    "INTERVAL_ARITHMETIC_OVERFLOW",
    "INVALID_ARRAY_INDEX",
    "INVALID_ARRAY_INDEX_IN_ELEMENT_AT",
    "INVALID_DATETIME_PATTERN",
    "INVALID_FRACTION_OF_SECOND",
    "INVALID_PARAMETER_VALUE",
    "INVALID_TIMEZONE",
    "MALFORMED_CHARACTER_CODING",
    "NULL_MAP_KEY",
    "NUMERIC_VALUE_OUT_OF_RANGE",
    "UNSUPPORTED_DATATYPE",
    "USER_RAISED_EXCEPTION",
];

/// Whether a task that failed with `e` would fail again on any executor.
pub fn is_deterministic(e: &DataFusionError) -> bool {
    use DataFusionError as E;
    if kiln_core::python::protocol::is_user_code_error(e) {
        // The user's Python raised: the same rows raise again.
        return true;
    }
    match e {
        E::Plan(_)
        | E::SchemaError(..)
        | E::NotImplemented(_)
        | E::SQL(..)
        | E::Configuration(_)
        // A plan that contradicts itself (a bug) fails the same way again.
        | E::Internal(_) => true,
        E::ArrowError(a, _) => arrow_is_deterministic(a),
        E::ParquetError(p) => parquet_is_deterministic(p),
        E::Execution(m) => spark_error_class(m).is_some(),
        E::Context(_, inner) | E::Diagnostic(_, inner) => is_deterministic(inner),
        E::Shared(inner) => is_deterministic(inner),
        E::External(inner) => external_is_deterministic(inner.as_ref()),
        E::Collection(v) => v.first().is_some_and(is_deterministic),
        // I/O, object stores, memory, a panicked thread, anything else.
        _ => false,
    }
}

fn arrow_is_deterministic(e: &ArrowError) -> bool {
    use ArrowError as A;
    match e {
        A::CastError(_)
        | A::DivideByZero
        | A::ArithmeticOverflow(_)
        | A::InvalidArgumentError(_)
        | A::ParseError(_)
        | A::SchemaError(_)
        | A::ComputeError(_)
        | A::NotYetImplemented(_)
        | A::CsvError(_)
        | A::JsonError(_)
        | A::ParquetError(_)
        | A::DictionaryKeyOverflowError
        | A::RunEndIndexOverflowError
        | A::OffsetOverflowError(_) => true,
        A::ExternalError(inner) => external_is_deterministic(inner.as_ref()),
        // IoError, MemoryError, IpcError (spill files), ...
        _ => false,
    }
}

fn parquet_is_deterministic(e: &ParquetError) -> bool {
    match e {
        // A malformed or truncated file, or a feature the reader lacks.
        ParquetError::General(_)
        | ParquetError::NYI(_)
        | ParquetError::EOF(_)
        | ParquetError::ArrowError(_)
        | ParquetError::IndexOutOfBound(..) => true,
        // Reading through an object store: its errors are I/O.
        ParquetError::External(inner) => external_is_deterministic(inner.as_ref()),
        _ => false,
    }
}

/// An error boxed inside another: deterministic only when it is one of the
/// kinds above.
fn external_is_deterministic(e: &(dyn Error + Send + Sync + 'static)) -> bool {
    if let Some(d) = e.downcast_ref::<DataFusionError>() {
        is_deterministic(d)
    } else if let Some(a) = e.downcast_ref::<ArrowError>() {
        arrow_is_deterministic(a)
    } else if let Some(p) = e.downcast_ref::<ParquetError>() {
        parquet_is_deterministic(p)
    } else if e.downcast_ref::<regex::Error>().is_some() {
        // A pattern argument that does not compile.
        true
    } else {
        // object_store::Error, std::io::Error, tonic::Status, ...
        false
    }
}

/// The Spark error class a message starts with (after an optional
/// `function: ` prefix), when it is a deterministic one:
/// `[DIVIDE_BY_ZERO] Divide by zero` gives `DIVIDE_BY_ZERO`.
pub fn spark_error_class(message: &str) -> Option<&'static str> {
    let start = message.find('[')?;
    // Only a prefix of one word may come before the class (`date_add: `).
    let before = message[..start].trim_end();
    if !(before.is_empty()
        || before
            .strip_suffix(':')
            .is_some_and(|w| !w.contains(char::is_whitespace)))
    {
        return None;
    }
    let rest = &message[start + 1..];
    let full = &rest[..rest.find(']')?];
    // `INVALID_DATETIME_PATTERN.ILLEGAL_CHARACTER`: the class, then its
    // sub-class.
    let class = full.split('.').next().unwrap_or(full);
    DETERMINISTIC_SPARK_CLASSES
        .iter()
        .find(|c| **c == class)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow(e: ArrowError) -> DataFusionError {
        DataFusionError::ArrowError(Box::new(e), None)
    }

    #[test]
    fn data_and_plan_errors_are_deterministic() {
        assert!(is_deterministic(&arrow(ArrowError::DivideByZero)));
        assert!(is_deterministic(&arrow(ArrowError::CastError(
            "Cannot cast string 'x' to value of Int32 type".into()
        ))));
        assert!(is_deterministic(&DataFusionError::Plan(
            "cannot decode the stage plan".into()
        )));
        assert!(is_deterministic(&DataFusionError::Internal(
            "function expects 2 arguments".into()
        )));
        let wrapped = DataFusionError::Context(
            "while running".into(),
            Box::new(arrow(ArrowError::DivideByZero)),
        );
        assert!(is_deterministic(&wrapped));
        let corrupt =
            DataFusionError::ParquetError(Box::new(ParquetError::EOF("file too small".into())));
        assert!(is_deterministic(&corrupt));
    }

    #[test]
    fn io_and_object_store_errors_are_retried() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(!is_deterministic(&DataFusionError::IoError(io)));
        assert!(!is_deterministic(&DataFusionError::ResourcesExhausted(
            "memory".into()
        )));
        let store = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 503 Service Unavailable".into(),
        };
        let through_parquet =
            DataFusionError::ParquetError(Box::new(ParquetError::External(Box::new(store))));
        assert!(!is_deterministic(&through_parquet));
        let io = std::io::Error::other("broken pipe");
        assert!(!is_deterministic(&arrow(ArrowError::IoError(
            "spill".into(),
            io
        ))));
    }

    #[test]
    fn execution_errors_need_a_known_spark_class_not_a_word() {
        let e = |m: &str| DataFusionError::Execution(m.into());
        assert!(is_deterministic(&e(
            "[DIVIDE_BY_ZERO] Divide by zero (set spark.sql.ansi.enabled=false for NULL instead)"
        )));
        assert!(is_deterministic(&e(
            "date_add: [CAST_INVALID_INPUT] the number of days is not an INT"
        )));
        assert!(is_deterministic(&e(
            "[INVALID_DATETIME_PATTERN.ILLEGAL_CHARACTER] Found illegal character 'A'"
        )));
        // A pattern that does not compile, on purpose: a regex error is deterministic.
        #[allow(clippy::invalid_regex)]
        let regex = regex::Regex::new("(").unwrap_err();
        assert!(is_deterministic(&DataFusionError::External(Box::new(
            regex
        ))));
        // Words that the old substring test took for data errors.
        assert!(!is_deterministic(&e("invalid response from object store")));
        assert!(!is_deterministic(&e("buffer overflow while reading spill")));
        // A class elsewhere in the text, or one not on the list.
        assert!(!is_deterministic(&e(
            "reading s3://b/k failed: upstream said [DIVIDE_BY_ZERO]"
        )));
        assert!(!is_deterministic(&e("[SOME_TRANSIENT_THING] retry")));
    }
}
