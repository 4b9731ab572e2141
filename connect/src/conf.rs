//! A session's Spark settings (`spark.conf`), with Spark 4.2's defaults for
//! the keys the PySpark client reads, and the settings Kiln applies to the
//! session's DataFusion configuration.

use std::collections::BTreeMap;

use datafusion::prelude::SessionConfig;

use crate::error::{ConnectError, Result};

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
    // Kiln does not decompress plans: the client sends them as they are.
    ("spark.connect.session.planCompression.threshold", "-1"),
    (
        "spark.connect.session.planCompression.defaultAlgorithm",
        "NONE",
    ),
];

/// Settings that cannot be changed in a running session.
const STATIC: &[&str] = &["spark.sql.warehouse.dir", "spark.driver.memory"];

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

    /// The value of `key`, or Spark's "cannot be found" error.
    pub fn get_required(&self, key: &str) -> Result<String> {
        self.get(key).ok_or_else(|| ConnectError::Analysis {
            class: "SQL_CONF_NOT_FOUND",
            message: format!(
                "The SQL config \"{key}\" cannot be found. Please verify that the config exists."
            ),
        })
    }

    /// Sets `key` and applies it to `config` where Kiln acts on it.
    pub fn set(&mut self, key: &str, value: &str, config: &mut SessionConfig) -> Result<()> {
        if STATIC.contains(&key) {
            return Err(ConnectError::Analysis {
                class: "CANNOT_MODIFY_STATIC_CONFIG",
                message: format!("Cannot modify the value of the static Spark config: \"{key}\"."),
            });
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

    /// Whether a session may change `key`.
    pub fn is_modifiable(key: &str) -> bool {
        !STATIC.contains(&key)
    }
}

fn apply(key: &str, value: &str, config: &mut SessionConfig) -> Result<()> {
    kiln_core::config::apply_spark_setting(key, value, config)
        .map(|_| ())
        .map_err(|e| ConnectError::IllegalArgument(e.to_string()))
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
}
