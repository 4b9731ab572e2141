//! A session's Spark settings (`spark.conf`), with Spark 4.2's defaults for
//! the keys the PySpark client reads, and the settings Kiln applies to the
//! session's DataFusion configuration; and the server's own settings
//! ([`ServerConf`]: how long response streams last, when abandoned
//! operations and idle sessions are dropped).

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::prelude::SessionConfig;

use crate::error::{ConnectError, Result, SparkError};

/// Spark's defaults for the settings the client reads or users commonly ask for.
pub const DEFAULTS: &[(&str, &str)] = &[
    // Values as Spark 4.2.1 reports them (`spark.conf.get` in a fresh session).
    ("spark.sql.session.timeZone", "Etc/UTC"),
    ("spark.sql.ansi.enabled", "true"),
    ("spark.sql.timestampType", "TIMESTAMP_LTZ"),
    ("spark.sql.caseSensitive", "false"),
    ("spark.sql.sources.partitionOverwriteMode", "STATIC"),
    ("spark.sql.repl.eagerEval.enabled", "false"),
    ("spark.sql.repl.eagerEval.maxNumRows", "20"),
    ("spark.sql.repl.eagerEval.truncate", "20"),
    ("spark.sql.execution.arrow.pyspark.enabled", "true"),
    (
        "spark.sql.execution.arrow.pyspark.selfDestruct.enabled",
        "false",
    ),
    ("spark.sql.execution.arrow.maxRecordsPerBatch", "10000"),
    ("spark.sql.execution.arrow.useLargeVarTypes", "false"),
    (
        "spark.sql.execution.pandas.convertToArrowArraySafely",
        "true",
    ),
    ("spark.sql.execution.pandas.inferPandasDictAsMap", "false"),
    ("spark.sql.execution.pandas.structHandlingMode", "legacy"),
    ("spark.sql.execution.pyspark.binaryAsBytes", "true"),
    ("spark.sql.execution.pythonUDF.arrow.enabled", "true"),
    ("spark.sql.execution.pythonUDTF.arrow.enabled", "true"),
    ("spark.sql.pyspark.inferNestedDictAsStruct.enabled", "false"),
    ("spark.sql.pyspark.jvmStacktrace.enabled", "false"),
    (
        "spark.sql.pyspark.legacy.inferArrayTypeFromFirstElement.enabled",
        "false",
    ),
    (
        "spark.sql.pyspark.legacy.inferMapTypeFromFirstPair.enabled",
        "false",
    ),
    ("spark.sql.session.localRelationChunkSizeRows", "10000"),
    ("spark.sql.session.localRelationChunkSizeBytes", "16777216"),
    (
        "spark.sql.session.localRelationBatchOfChunksSizeBytes",
        "1073741824",
    ),
    // Spark caches local relations above 1 MiB as artifacts; Kiln takes no
    // artifacts yet, so the client keeps them inline up to Spark's size limit.
    (
        "spark.sql.session.localRelationCacheThreshold",
        "3221225472",
    ),
    ("spark.sql.session.localRelationSizeLimit", "3221225472"),
    ("spark.sql.execution.arrow.pyspark.fallback.enabled", "true"),
    (
        "spark.sql.execution.arrow.pyspark.validateSchema.enabled",
        "false",
    ),
    ("spark.sql.execution.pandas.udf.buffer.size", "65536"),
    ("spark.sql.artifact.isolation.enabled", "false"),
    (
        "spark.sql.artifact.isolation.alwaysApplyClassloader",
        "false",
    ),
    ("spark.sql.connect.serverStacktrace.enabled", "true"),
    ("spark.sql.connect.enrichError.enabled", "true"),
    ("spark.sql.adaptive.enabled", "true"),
    ("spark.sql.autoBroadcastJoinThreshold", "10485760b"),
    ("spark.sql.legacy.timeParserPolicy", "CORRECTED"),
    ("spark.sql.parquet.compression.codec", "snappy"),
    ("spark.sql.sources.default", "parquet"),
    ("spark.sql.files.maxPartitionBytes", "134217728b"),
    ("spark.sql.datetime.java8API.enabled", "false"),
    (
        "spark.sql.execution.arrow.localRelationThreshold",
        "50331648b",
    ),
    ("spark.sql.optimizer.plannedWrite.enabled", "true"),
    // Kiln does not decompress plans: the client sends them as they are.
    ("spark.connect.session.planCompression.threshold", "-1"),
    (
        "spark.connect.session.planCompression.defaultAlgorithm",
        "NONE",
    ),
];

/// Settings that cannot be changed in a running session (Spark's static
/// SQL settings Kiln knows of).
const STATIC: &[&str] = &[
    "spark.sql.warehouse.dir",
    "spark.sql.catalogImplementation",
    "spark.sql.extensions",
    "spark.sql.session.localRelationCacheThreshold",
    "spark.sql.session.localRelationSizeLimit",
];

/// One session's settings.
#[derive(Debug, Clone)]
pub struct SparkConf {
    set: BTreeMap<String, String>,
    /// Kiln's shuffle partitions when the session sets none: the cluster's
    /// task slots (Spark's fixed 200 would be many tiny tasks here).
    default_partitions: usize,
}

impl SparkConf {
    /// Settings of a new session on a cluster planning `default_partitions`
    /// shuffle partitions.
    pub fn new(default_partitions: usize) -> Self {
        SparkConf {
            set: BTreeMap::new(),
            default_partitions,
        }
    }

    /// The value of `key`: set, else Spark's default, else none.
    pub fn get(&self, key: &str) -> Option<String> {
        if key == "spark.sql.shuffle.partitions" && !self.set.contains_key(key) {
            return Some(self.default_partitions.to_string());
        }
        self.set.get(key).cloned().or_else(|| {
            DEFAULTS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// The value `key` was set to in this session, if it was.
    pub fn get_set(&self, key: &str) -> Option<String> {
        self.set.get(key).cloned()
    }

    /// The value of `key`, or Spark's "cannot be found" error.
    pub fn get_required(&self, key: &str) -> Result<String> {
        self.get(key).ok_or_else(|| {
            SparkError::new(
                "org.apache.spark.SparkNoSuchElementException",
                "SQL_CONF_NOT_FOUND",
                format!(
                    "The SQL config \"{key}\" cannot be found. Please verify that the config \
                     exists."
                ),
            )
            .param("sqlConf", format!("\"{key}\""))
            .into()
        })
    }

    /// Sets `key` and applies it to `config` where Kiln acts on it.
    pub fn set(&mut self, key: &str, value: &str, config: &mut SessionConfig) -> Result<()> {
        if STATIC.contains(&key) {
            return Err(SparkError::new(
                crate::error::exception::ANALYSIS,
                "CANNOT_MODIFY_STATIC_CONFIG",
                format!("Cannot modify the value of the static Spark config: \"{key}\"."),
            )
            .param("key", format!("\"{key}\""))
            .into());
        }
        apply(key, value, config)?;
        self.set.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Forgets `key` (back to its default).
    pub fn unset(&mut self, key: &str, config: &mut SessionConfig) -> Result<()> {
        self.set.remove(key);
        if let Some(v) = self.get(key) {
            apply(key, &v, config)?;
        }
        Ok(())
    }

    /// Every setting that was set, plus the defaults.
    pub fn all(&self) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert(
            "spark.sql.shuffle.partitions".into(),
            self.default_partitions.to_string(),
        );
        all.extend(self.set.clone());
        all
    }

    /// Whether a session may change `key`: Spark's SQL settings but its
    /// static ones (Spark also says false for keys it does not know).
    pub fn is_modifiable(key: &str) -> bool {
        key.starts_with("spark.sql.") && !STATIC.contains(&key)
    }
}

fn apply(key: &str, value: &str, config: &mut SessionConfig) -> Result<()> {
    kiln_core::config::apply_spark_setting(key, value, config)
        .map(|_| ())
        .map_err(|e| ConnectError::IllegalArgument(e.to_string()))
}

/// `spark.connect.execute.reattachable.senderMaxStreamDuration`.
pub const SENDER_MAX_DURATION: &str = "spark.connect.execute.reattachable.senderMaxStreamDuration";
/// `spark.connect.execute.reattachable.senderMaxStreamSize`.
pub const SENDER_MAX_SIZE: &str = "spark.connect.execute.reattachable.senderMaxStreamSize";
/// `spark.connect.execute.manager.detachedTimeout`.
pub const DETACHED_TIMEOUT: &str = "spark.connect.execute.manager.detachedTimeout";
/// `spark.connect.session.manager.defaultSessionTimeout`.
pub const SESSION_TIMEOUT: &str = "spark.connect.session.manager.defaultSessionTimeout";
/// Kiln's bound on an operation's unreleased responses.
pub const REPLAY_BUFFER: &str = "kiln.connect.replayBufferSize";

/// Settings of the Connect server itself, from `kiln connect --conf`
/// (Spark's names and defaults). A session may set the two stream limits
/// for its own operations.
#[derive(Debug, Clone)]
pub struct ServerConf {
    /// How long one response stream lasts before the client must
    /// reattach (Spark: 2m; 0 = no limit).
    pub sender_max_duration: Option<Duration>,
    /// How many bytes one response stream carries before the client must
    /// reattach (Spark: 1g; 0 = no limit).
    pub sender_max_bytes: Option<u64>,
    /// How long an operation no client is attached to lives on (Spark: 5m).
    pub detached_timeout: Duration,
    /// How long an idle session lives (Spark: 60m).
    pub session_timeout: Duration,
    /// Unreleased response bytes an operation buffers before its job
    /// waits for the client to read (64m).
    pub replay_buffer_bytes: usize,
}

/// A Spark time setting (a bare number is milliseconds, as in Spark).
fn millis_or_duration(key: &str, v: &str) -> Result<Duration> {
    let t = v.trim();
    if let Ok(ms) = t.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    kiln_core::config::parse_duration(t)
        .map_err(|e| ConnectError::IllegalArgument(format!("{key}: {e}")))
}

/// A Spark size setting (a bare number is bytes; 0 is allowed).
fn bytes(key: &str, v: &str) -> Result<u64> {
    if let Ok(n) = v.trim().parse::<u64>() {
        return Ok(n);
    }
    kiln_core::manifest::parse_memory(v)
        .map_err(|e| ConnectError::IllegalArgument(format!("{key}: {e}")))
}

impl ServerConf {
    /// The server settings in `conf`, Spark's defaults for the rest.
    pub fn from_settings(conf: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str, default: &str| conf.get(k).cloned().unwrap_or_else(|| default.into());
        let duration = millis_or_duration(SENDER_MAX_DURATION, &get(SENDER_MAX_DURATION, "2m"))?;
        let size = bytes(SENDER_MAX_SIZE, &get(SENDER_MAX_SIZE, "1g"))?;
        Ok(ServerConf {
            sender_max_duration: (!duration.is_zero()).then_some(duration),
            sender_max_bytes: (size > 0).then_some(size),
            detached_timeout: millis_or_duration(DETACHED_TIMEOUT, &get(DETACHED_TIMEOUT, "5m"))?,
            session_timeout: millis_or_duration(SESSION_TIMEOUT, &get(SESSION_TIMEOUT, "60m"))?,
            replay_buffer_bytes: usize::try_from(bytes(REPLAY_BUFFER, &get(REPLAY_BUFFER, "64m"))?)
                .unwrap_or(usize::MAX),
        })
    }

    /// The stream limits of an operation of a session with settings
    /// `session` (its own values win).
    pub fn stream_limits(&self, session: &SparkConf) -> Result<crate::operation::StreamLimits> {
        let duration = match session.get(SENDER_MAX_DURATION) {
            Some(v) => {
                let d = millis_or_duration(SENDER_MAX_DURATION, &v)?;
                (!d.is_zero()).then_some(d)
            }
            None => self.sender_max_duration,
        };
        let max_bytes = match session.get(SENDER_MAX_SIZE) {
            Some(v) => Some(bytes(SENDER_MAX_SIZE, &v)?).filter(|b| *b > 0),
            None => self.sender_max_bytes,
        };
        Ok(crate::operation::StreamLimits {
            max_duration: duration,
            max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fall_back_to_spark_defaults_and_reach_datafusion() {
        let mut conf = SparkConf::new(4);
        let mut config = SessionConfig::new();
        assert_eq!(
            conf.get("spark.sql.session.timeZone").as_deref(),
            Some("Etc/UTC")
        );
        conf.set("spark.sql.shuffle.partitions", "7", &mut config)
            .unwrap();
        assert_eq!(config.options().execution.target_partitions, 7);
        assert!(conf
            .set("spark.sql.shuffle.partitions", "x", &mut config)
            .is_err());
        assert!(conf.get_required("no.such.key").is_err());
        conf.unset("spark.sql.shuffle.partitions", &mut config)
            .unwrap();
        assert_eq!(
            conf.get("spark.sql.shuffle.partitions").as_deref(),
            Some("4")
        );
        assert_eq!(config.options().execution.target_partitions, 4);
    }

    #[test]
    fn stream_limits_come_from_the_server_unless_the_session_sets_them() {
        let mut server = BTreeMap::new();
        server.insert(SENDER_MAX_SIZE.to_string(), "123".to_string());
        let server = ServerConf::from_settings(&server).unwrap();
        assert_eq!(server.sender_max_duration, Some(Duration::from_secs(120)));
        assert_eq!(server.detached_timeout, Duration::from_secs(300));
        let mut session = SparkConf::new(2);
        let mut config = SessionConfig::new();
        let limits = server.stream_limits(&session).unwrap();
        assert_eq!(limits.max_bytes, Some(123));
        session
            .set(SENDER_MAX_DURATION, "1500", &mut config)
            .unwrap();
        session.set(SENDER_MAX_SIZE, "0", &mut config).unwrap();
        let limits = server.stream_limits(&session).unwrap();
        assert_eq!(limits.max_duration, Some(Duration::from_millis(1500)));
        assert_eq!(limits.max_bytes, None);
    }
}
