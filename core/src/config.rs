//! Engine settings (`spec.conf`) parsed into [`EngineConf`], and the
//! DataFusion session built from them. The keys and defaults themselves are
//! [`crate::settings`]'s (re-exported here for the crates that read them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use kiln_functions::settings::SparkSettings;

use crate::error::{KilnError, Result};

pub use crate::settings::{
    PartitionOverwriteMode, ShuffleCompression, WriteMode, BROADCAST_THRESHOLD,
    DEFAULT_BROADCAST_THRESHOLD, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, MAX_EXECUTOR_REPLACEMENTS,
    MAX_REGISTERED_WAIT, MAX_RESULT_SIZE, MIN_REGISTERED_RATIO, NETWORK_TIMEOUT,
    PARTITION_OVERWRITE_MODE, READ_HOST_LOCAL_DISK, REGISTRATION_TIMEOUT, RUNTIME_FILTER,
    SHUFFLE_COMPRESSION, SHUFFLE_CONNECTION_TIMEOUT, STAGE_MAX_CONSECUTIVE_ATTEMPTS,
    TASK_MAX_FAILURES, TEST_STAGE_DELAY, TEST_TASK_DELAY, WAREHOUSE_DIR, WRITE_MODE,
};
pub use kiln_values::duration::parse_duration;
use kiln_values::memory::parse_memory;

use crate::settings::{
    DEFAULT_ATTEMPTS, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_MAX_REGISTERED_WAIT, DEFAULT_MAX_RESULT_BYTES, DEFAULT_MIN_REGISTERED_RATIO,
    DEFAULT_NETWORK_TIMEOUT, DEFAULT_REGISTRATION_TIMEOUT, KILN_SHUFFLE_PARTITIONS,
    SHUFFLE_PARTITIONS, SPARK_MAX_EXECUTOR_FAILURES, SPARK_TASK_MAX_FAILURES,
};

/// Settings Kiln itself interprets, parsed from the application's conf.
#[derive(Debug, Clone)]
pub struct EngineConf {
    /// Every key as given, for passing on to executors.
    pub raw: BTreeMap<String, String>,
    /// Attempts per task (Spark's `spark.task.maxFailures`).
    pub task_max_failures: u32,
    /// [`STAGE_MAX_CONSECUTIVE_ATTEMPTS`].
    pub stage_max_consecutive_attempts: u32,
    /// Shuffle block compression.
    pub shuffle_compression: ShuffleCompression,
    /// Executor heartbeat period.
    pub heartbeat_interval: Duration,
    /// Executor considered lost after this much silence.
    pub heartbeat_timeout: Duration,
    /// How long the driver waits for executors to register.
    pub registration_timeout: Duration,
    /// [`SHUFFLE_CONNECTION_TIMEOUT`]: the per-message deadline of a fetch.
    pub fetch_timeout: Duration,
    /// [`MIN_REGISTERED_RATIO`].
    pub min_registered_ratio: f64,
    /// [`MAX_REGISTERED_WAIT`].
    pub max_registered_wait: Duration,
    /// [`MAX_RESULT_SIZE`] in bytes; `None` for no limit.
    pub max_result_bytes: Option<u64>,
    /// Partitions per exchange, when set (`spark.sql.shuffle.partitions`).
    pub shuffle_partitions: Option<usize>,
    /// [`BROADCAST_THRESHOLD`] in bytes; 0 when broadcasts are off.
    pub broadcast_threshold: usize,
    /// [`READ_HOST_LOCAL_DISK`].
    pub read_host_local_disk: bool,
    /// [`RUNTIME_FILTER`].
    pub runtime_filters: bool,
    /// Dead executors replaced per application, when set; by default
    /// Spark's rule, twice the executor count and at least 3.
    pub max_executor_replacements: Option<u32>,
    /// [`WRITE_MODE`].
    pub write_mode: WriteMode,
    /// [`PARTITION_OVERWRITE_MODE`].
    pub partition_overwrite_mode: PartitionOverwriteMode,
    /// [`WAREHOUSE_DIR`], absolute.
    pub warehouse_dir: String,
    /// The `kiln.test.*` fault-injection hooks (off in release builds).
    pub hooks: crate::fault_injection::TestHooks,
}

impl EngineConf {
    /// Parses the settings Kiln interprets; unknown `kiln.*` keys are an error
    /// so that a typo does not silently do nothing.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self> {
        fn get<'a>(
            raw: &'a BTreeMap<String, String>,
            keys: &[&'static str],
        ) -> Option<(&'static str, &'a String)> {
            keys.iter().find_map(|k| raw.get(*k).map(|v| (*k, v)))
        }
        // An attempt count: 1 to 100.
        let attempts = |keys: &[&'static str]| -> Result<u32> {
            match get(raw, keys) {
                Some((k, v)) => match parse_u64(k, v)? {
                    n @ 1..=100 => Ok(n as u32),
                    n => Err(bad(k, format!("must be between 1 and 100, found {n}"))),
                },
                None => Ok(DEFAULT_ATTEMPTS),
            }
        };
        let stage_max_consecutive_attempts = attempts(&[STAGE_MAX_CONSECUTIVE_ATTEMPTS])?;
        let task_max_failures = attempts(&[TASK_MAX_FAILURES, SPARK_TASK_MAX_FAILURES])?;
        let shuffle_compression = match get(raw, &[SHUFFLE_COMPRESSION]) {
            None => ShuffleCompression::None,
            Some((k, v)) => match v.to_ascii_lowercase().as_str() {
                "none" | "false" => ShuffleCompression::None,
                "lz4" => ShuffleCompression::Lz4,
                "zstd" => ShuffleCompression::Zstd,
                other => {
                    return Err(bad(
                        k,
                        format!("expected none, lz4 or zstd, found `{other}`"),
                    ))
                }
            },
        };
        let dur = |key: &str, default: Duration| -> Result<Duration> {
            match raw.get(key) {
                Some(v) => parse_duration(v).map_err(|m| bad(key, m)),
                None => Ok(default),
            }
        };
        let shuffle_partitions = match get(raw, &[SHUFFLE_PARTITIONS, KILN_SHUFFLE_PARTITIONS]) {
            Some((k, v)) => {
                let n = parse_u64(k, v)?;
                if n == 0 {
                    return Err(bad(k, "must be at least 1".into()));
                }
                Some(n as usize)
            }
            None => None,
        };
        let max_executor_replacements = match get(
            raw,
            &[MAX_EXECUTOR_REPLACEMENTS, SPARK_MAX_EXECUTOR_FAILURES],
        ) {
            Some((k, v)) => {
                Some(u32::try_from(parse_u64(k, v)?).map_err(|_| bad(k, "too large".into()))?)
            }
            None => None,
        };
        let network_timeout = dur(NETWORK_TIMEOUT, DEFAULT_NETWORK_TIMEOUT)?;
        let fetch_timeout = dur(SHUFFLE_CONNECTION_TIMEOUT, network_timeout)?;
        if fetch_timeout.is_zero() {
            return Err(bad(
                SHUFFLE_CONNECTION_TIMEOUT,
                "must be more than 0".into(),
            ));
        }
        let min_registered_ratio = match raw.get(MIN_REGISTERED_RATIO) {
            None => DEFAULT_MIN_REGISTERED_RATIO,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    bad(
                        MIN_REGISTERED_RATIO,
                        format!("expected a number from 0 to 1, found `{v}`"),
                    )
                })?,
        };
        let max_registered_wait = dur(MAX_REGISTERED_WAIT, DEFAULT_MAX_REGISTERED_WAIT)?;
        let max_result_bytes = match raw.get(MAX_RESULT_SIZE) {
            None => Some(DEFAULT_MAX_RESULT_BYTES),
            Some(v) if v.trim() == "0" => None,
            Some(v) => Some(parse_memory(v).map_err(|m| bad(MAX_RESULT_SIZE, m))?),
        };
        let write_mode = match raw.get(WRITE_MODE).map(|v| v.to_ascii_lowercase()) {
            None => WriteMode::Overwrite,
            Some(v) => match v.as_str() {
                "overwrite" => WriteMode::Overwrite,
                "append" => WriteMode::Append,
                "errorifexists" | "error" => WriteMode::ErrorIfExists,
                other => {
                    return Err(bad(
                        WRITE_MODE,
                        format!("expected overwrite, append or errorifexists, found `{other}`"),
                    ))
                }
            },
        };
        let partition_overwrite_mode = match raw
            .get(PARTITION_OVERWRITE_MODE)
            .map(|v| v.to_ascii_lowercase())
        {
            None => PartitionOverwriteMode::Static,
            Some(v) => match v.as_str() {
                "static" => PartitionOverwriteMode::Static,
                "dynamic" => PartitionOverwriteMode::Dynamic,
                other => {
                    return Err(bad(
                        PARTITION_OVERWRITE_MODE,
                        format!("expected static or dynamic, found `{other}`"),
                    ))
                }
            },
        };
        let broadcast_threshold = match raw.get(BROADCAST_THRESHOLD).map(|v| v.trim()) {
            None => DEFAULT_BROADCAST_THRESHOLD,
            Some(v) if v.starts_with('-') => 0,
            Some(v) => parse_memory(v)
                .map_err(|m| bad(BROADCAST_THRESHOLD, m))?
                .try_into()
                .unwrap_or(usize::MAX),
        };
        let flag = |key: &str| match raw.get(key).map(|v| v.trim()) {
            None => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(bad(key, format!("expected true or false, found `{v}`"))),
        };
        let read_host_local_disk = flag(READ_HOST_LOCAL_DISK)?;
        let runtime_filters = flag(RUNTIME_FILTER)?;
        let warehouse_dir = warehouse_dir(raw.get(WAREHOUSE_DIR).map(String::as_str));
        let hooks = crate::fault_injection::TestHooks::parse(raw)?;
        if let Some((k, message)) = raw
            .keys()
            .find_map(|k| crate::settings::unknown_kiln_key(k).map(|m| (k, m)))
        {
            return Err(bad(k, message));
        }
        Ok(EngineConf {
            raw: raw.clone(),
            task_max_failures,
            stage_max_consecutive_attempts,
            shuffle_compression,
            heartbeat_interval: dur(HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)?,
            heartbeat_timeout: dur(HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT)?,
            registration_timeout: dur(REGISTRATION_TIMEOUT, DEFAULT_REGISTRATION_TIMEOUT)?,
            fetch_timeout,
            min_registered_ratio,
            max_registered_wait,
            max_result_bytes,
            shuffle_partitions,
            broadcast_threshold,
            read_host_local_disk,
            runtime_filters,
            max_executor_replacements,
            write_mode,
            partition_overwrite_mode,
            hooks,
            warehouse_dir,
        })
    }

    /// The DataFusion session settings for a job on `total_cores` task slots.
    pub fn session_config(&self, total_cores: usize) -> Result<SessionConfig> {
        let partitions = self.shuffle_partitions.unwrap_or(total_cores).max(1);
        let mut config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_information_schema(true);
        let opts = config.options_mut();
        // Spark SQL's dialect: backticks quote identifiers, double quotes
        // strings; `DIV`, `LONG`, `CREATE TABLE ... USING`.
        opts.sql_parser.dialect = datafusion::common::config::Dialect::Spark;
        // `1.5` is a DECIMAL(2,1) in Spark (`1.5D` and `1.5E0` are doubles).
        opts.sql_parser.parse_float_as_decimal = true;
        // Spark sorts NULLs first ascending and last descending.
        opts.sql_parser.default_null_ordering = "nulls_min".into();
        // Spark 4 runs in ANSI mode unless `spark.sql.ansi.enabled=false`.
        opts.execution.enable_ansi_mode = true;
        // Spark resolves identifiers case-insensitively; `sql::resolve_identifiers`
        // does that on the AST and quotes what it resolved.
        opts.sql_parser.enable_ident_normalization = true;
        // Physical scalar subqueries share in-memory state between the node that
        // computes them and the expressions that read them, which breaks when the
        // two land in different stages. DataFusion keeps the join rewrite for
        // distributed engines.
        opts.optimizer.enable_physical_uncorrelated_scalar_subquery = false;
        // Dynamic filters are in-memory links between a join and a scan; across a
        // stage boundary they would never be filled in.
        opts.optimizer.enable_dynamic_filter_pushdown = false;
        opts.optimizer.enable_join_dynamic_filter_pushdown = false;
        opts.optimizer.enable_topk_dynamic_filter_pushdown = false;
        opts.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        // Scans rebalance files between sibling partitions at run time by
        // default; a task runs one partition alone, so it must read exactly
        // its planned file group.
        opts.execution.enable_file_stream_work_stealing = false;
        // One file per write task, as Spark writes one part file per task:
        // tasks already write in parallel, and a single writer of a sorted
        // result must not deal its rows out over several files.
        opts.set("datafusion.execution.minimum_parallel_output_files", "1")
            .map_err(|e| KilnError::Internal(e.to_string()))?;
        // Join sides up to the broadcast threshold are collected (and so
        // broadcast) rather than shuffled: across processes a shuffle costs
        // encoding, disk and network. With broadcasts off nothing is
        // collected by size.
        opts.optimizer.hash_join_single_partition_threshold = self.broadcast_threshold;
        if self.broadcast_threshold == 0 {
            opts.optimizer.hash_join_single_partition_threshold_rows = 0;
        }
        let mut config = config
            .with_extension(Arc::new(Warehouse {
                dir: self.warehouse_dir.clone(),
            }))
            .with_extension(Arc::new(crate::python::PythonInterpreter(
                crate::python::interpreter(&self.raw),
            )));
        config
            .options_mut()
            .extensions
            .insert(SparkSettings::default());
        for (key, v) in &self.raw {
            if key.starts_with("spark.sql.") {
                apply_spark_setting(key, v, &mut config)?;
            }
        }
        for (k, v) in &self.raw {
            if k.starts_with("datafusion.") {
                config
                    .options_mut()
                    .set(k, v)
                    .map_err(|e| bad(k, e.to_string()))?;
            }
        }
        Ok(config)
    }
}

/// The warehouse folder of a session (its [`SessionConfig`] extension):
/// where `CREATE TABLE` without `LOCATION` puts a table's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse {
    /// Absolute path or object-store URL, without a trailing `/`.
    pub dir: String,
}

/// The warehouse folder when [`WAREHOUSE_DIR`] is not set.
pub fn default_warehouse_dir() -> String {
    warehouse_dir(None)
}

/// [`WAREHOUSE_DIR`] made absolute: a relative path is relative to the
/// working directory, as in Spark; URLs (`s3://...`) are kept.
fn warehouse_dir(value: Option<&str>) -> String {
    let value = value.map(str::trim).unwrap_or("spark-warehouse");
    let value = value.strip_prefix("file://").unwrap_or(value);
    if value.contains("://") || value.starts_with('/') {
        return value.trim_end_matches('/').to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(value).display().to_string(),
        Err(_) => value.to_string(),
    }
    .trim_end_matches('/')
    .to_string()
}

/// Applies a Spark SQL setting (`SET key=value` in a job, `spark.conf.set`
/// in a Connect session) to the DataFusion settings it stands for.
/// Returns whether `key` is one Kiln maps; other `spark.*` keys are kept in
/// the session's [`SparkSettings`] for the functions that read them while
/// planning (most change nothing). `datafusion.*` keys are set as given.
pub fn apply_spark_setting(key: &str, value: &str, config: &mut SessionConfig) -> Result<bool> {
    let value = value.trim();
    let opts = config.options_mut();
    match key {
        "spark.sql.shuffle.partitions" => {
            let n: usize = value
                .parse()
                .map_err(|_| bad(key, format!("`{value}` is not a number")))?;
            if n == 0 {
                return Err(bad(key, "must be a positive number".into()));
            }
            opts.execution.target_partitions = n;
        }
        "spark.sql.session.timeZone" => {
            if value.parse::<arrow::array::timezone::Tz>().is_err() {
                return Err(bad(
                    key,
                    format!("`{value}` is not a time zone (a region like Europe/Paris, or an offset like +02:00)"),
                ));
            }
            opts.execution.time_zone = Some(value.to_string());
        }
        "spark.sql.ansi.enabled" => {
            opts.execution.enable_ansi_mode = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(bad(key, format!("`{value}` is not true or false"))),
            };
        }
        k if k.starts_with("datafusion.") => {
            opts.set(k, value).map_err(|e| bad(k, e.to_string()))?;
        }
        crate::python::MAX_RECORDS_PER_BATCH => {
            let n: usize = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(key, format!("`{value}` is not a positive number")))?;
            config.set_extension(Arc::new(crate::python::ArrowBatchSize(n)));
        }
        // Other Spark settings are kept for the functions that read them
        // while the driver plans (`kiln_functions::settings`).
        k if k.starts_with("spark.") => {
            if opts.extensions.get::<SparkSettings>().is_none() {
                opts.extensions.insert(SparkSettings::default());
            }
            opts.set(k, value).map_err(|e| bad(k, e.to_string()))?;
            return Ok(false);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The execution settings of a session that differ from DataFusion's
/// defaults, as `datafusion.execution.*` key-value pairs: what a task needs
/// to run as its stage was planned (time zone, ANSI mode, batch size).
pub fn execution_settings(config: &SessionConfig) -> Vec<(String, String)> {
    let defaults: std::collections::HashMap<String, Option<String>> =
        datafusion::config::ConfigOptions::default()
            .entries()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
    config
        .options()
        .entries()
        .into_iter()
        .filter(|e| e.key.starts_with("datafusion.execution."))
        .filter(|e| defaults.get(&e.key) != Some(&e.value))
        .filter_map(|e| Some((e.key, e.value?)))
        .collect()
}

/// The name of `ctx`'s default catalog (where tables and views go).
pub fn default_catalog(ctx: &SessionContext) -> String {
    ctx.state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone()
}

/// A session with Spark SQL's functions and semantics on `config` and
/// `runtime`: what the driver, every executor and the Connect server plan
/// and run with, so a plan means the same in each process.
pub fn spark_session(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionContext {
    // Each session its own set of cached tables (a cloned config shares one).
    let config = config.with_extension(Arc::new(crate::cached_tables::CachedTables::default()));
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // A user's repartition or coalesce keeps its partitioning.
        .with_physical_optimizer_rules(crate::requested_repartition::physical_rules())
        // Scan partitions of whole files where they balance.
        .with_physical_optimizer_rule(Arc::new(crate::file_splits::WholeFileSplits));
    // Tables over folders skip Spark's marker and hidden files.
    for factory in builder
        .table_factories()
        .iter_mut()
        .flat_map(|f| f.values_mut())
    {
        *factory = Arc::new(crate::listing::SparkListingFactory::default());
    }
    let mut builder = kiln_functions::with_spark_sql(builder)
        // Python UDFs become Python nodes after DataFusion's own rules.
        .with_optimizer_rule(Arc::new(crate::python::extract::ExtractPythonUdfs))
        .with_query_planner(Arc::new(crate::python::planner::KilnQueryPlanner));
    // Spark's implicit casts, before DataFusion's own type coercion.
    crate::spark_coercion::register(&mut builder);
    // INTERSECT ALL and EXCEPT ALL count copies, as Spark does.
    crate::spark_set_ops::register(&mut builder);
    // A constant filter over an aggregate without GROUP BY stays above it.
    crate::global_aggregate_filter::register(&mut builder);
    // A name a relation has twice is ambiguous, as in Spark.
    crate::ambiguous_names::register(&mut builder);
    // `IN (grouped subquery)` filters before the inner joins, not after.
    let builder =
        builder.with_optimizer_rule(Arc::new(crate::semi_join_pushdown::SemiJoinPushdown));
    let ctx = SessionContext::new_with_state(builder.build());
    // DataFusion 55's struct-field extraction pushdown fails to plan a
    // field a projection adds to a struct (`named_struct(..., 'd', 4) AS
    // a` then `a.d`, as `withField` builds: "Field d not found in
    // struct"); without it the field is read after the projection.
    ctx.remove_optimizer_rule("push_down_leaf_projections");
    ctx.remove_optimizer_rule("extract_leaf_expressions");
    ctx
}

/// Builds the runtime (memory pool, spill directory) of an executor or driver.
pub fn runtime_env(
    memory_bytes: Option<u64>,
    spill_dir: Option<PathBuf>,
) -> Result<Arc<RuntimeEnv>> {
    // DataFusion caches folder listings forever by default: a read after a
    // write (or an append) to the same path in one session would then miss
    // the new files. Spark lists on every read; so does Kiln.
    let mut builder = RuntimeEnvBuilder::new()
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0));
    if let Some(bytes) = memory_bytes {
        builder = builder.with_memory_pool(Arc::new(FairSpillPool::new(bytes as usize)));
    }
    if let Some(dir) = spill_dir {
        std::fs::create_dir_all(&dir).map_err(|e| {
            KilnError::io(
                format!("cannot create spill directory {}", dir.display()),
                e,
            )
        })?;
        builder = builder.with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir])),
        );
    }
    Ok(builder.build_arc()?)
}

fn bad(key: &str, message: String) -> KilnError {
    KilnError::Config {
        key: key.to_string(),
        message,
    }
}

fn parse_u64(key: &str, v: &str) -> Result<u64> {
    v.trim()
        .parse()
        .map_err(|_| bad(key, format!("expected a whole number, found `{v}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut raw = BTreeMap::new();
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.task_max_failures, 4);
        raw.insert("spark.task.maxFailures".into(), "2".into());
        raw.insert("kiln.executor.heartbeatTimeout".into(), "1500ms".into());
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.task_max_failures, 2);
        assert_eq!(c.heartbeat_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn host_local_reads_are_on_unless_turned_off() {
        let mut raw = BTreeMap::new();
        assert!(EngineConf::parse(&raw).unwrap().read_host_local_disk);
        raw.insert(READ_HOST_LOCAL_DISK.into(), "FALSE".into());
        assert!(!EngineConf::parse(&raw).unwrap().read_host_local_disk);
        raw.insert(READ_HOST_LOCAL_DISK.into(), "maybe".into());
        let e = EngineConf::parse(&raw).unwrap_err().to_string();
        assert!(e.contains(READ_HOST_LOCAL_DISK), "{e}");
    }

    #[test]
    fn attempt_counts_are_bounded_and_the_error_names_the_key() {
        let mut raw = BTreeMap::new();
        assert_eq!(
            EngineConf::parse(&raw)
                .unwrap()
                .stage_max_consecutive_attempts,
            4
        );
        raw.insert(STAGE_MAX_CONSECUTIVE_ATTEMPTS.into(), "2".into());
        assert_eq!(
            EngineConf::parse(&raw)
                .unwrap()
                .stage_max_consecutive_attempts,
            2
        );
        for bad in ["0", "101", "many"] {
            raw.insert(STAGE_MAX_CONSECUTIVE_ATTEMPTS.into(), bad.into());
            let e = EngineConf::parse(&raw).unwrap_err().to_string();
            assert!(e.contains(STAGE_MAX_CONSECUTIVE_ATTEMPTS), "{bad}: {e}");
        }
        raw.clear();
        raw.insert("spark.task.maxFailures".into(), "0".into());
        let e = EngineConf::parse(&raw).unwrap_err().to_string();
        assert!(e.contains("must be between 1 and 100, found 0"), "{e}");
    }

    #[test]
    fn spark_settings_in_the_conf_reach_the_session_or_are_refused() {
        let mut raw = BTreeMap::new();
        let config = |raw: &BTreeMap<String, String>| {
            EngineConf::parse(raw).and_then(|c| c.session_config(2))
        };
        assert!(config(&raw).unwrap().options().execution.enable_ansi_mode);
        raw.insert("spark.sql.ansi.enabled".into(), "False".into());
        raw.insert("spark.sql.session.timeZone".into(), "Asia/Tokyo".into());
        let c = config(&raw).unwrap();
        assert!(!c.options().execution.enable_ansi_mode);
        assert_eq!(
            c.options().execution.time_zone.as_deref(),
            Some("Asia/Tokyo")
        );
        raw.insert("spark.sql.ansi.enabled".into(), "maybe".into());
        let e = config(&raw).unwrap_err().to_string();
        assert!(
            e.contains("spark.sql.ansi.enabled") && e.contains("maybe"),
            "{e}"
        );
        raw.remove("spark.sql.ansi.enabled");
        raw.insert("spark.sql.session.timeZone".into(), "Mars/Olympus".into());
        let e = config(&raw).unwrap_err().to_string();
        assert!(e.contains("not a time zone"), "{e}");
    }

    #[test]
    fn network_deadlines_result_limit_and_start_rule_follow_spark() {
        let mut raw = BTreeMap::new();
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.fetch_timeout, Duration::from_secs(120));
        assert_eq!(c.max_result_bytes, Some(1 << 30));
        assert_eq!(c.min_registered_ratio, 0.8);
        assert_eq!(c.max_registered_wait, Duration::from_secs(30));
        raw.insert(NETWORK_TIMEOUT.into(), "45s".into());
        raw.insert(MAX_RESULT_SIZE.into(), "0".into());
        raw.insert(MIN_REGISTERED_RATIO.into(), "0.5".into());
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.fetch_timeout, Duration::from_secs(45), "network default");
        assert_eq!(c.max_result_bytes, None, "0 is no limit");
        assert_eq!(c.min_registered_ratio, 0.5);
        raw.insert(SHUFFLE_CONNECTION_TIMEOUT.into(), "2s".into());
        raw.insert(MAX_RESULT_SIZE.into(), "64m".into());
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.fetch_timeout, Duration::from_secs(2));
        assert_eq!(c.max_result_bytes, Some(64 << 20));
        for (key, bad) in [
            (MIN_REGISTERED_RATIO, "1.5"),
            (MAX_RESULT_SIZE, "lots"),
            (SHUFFLE_CONNECTION_TIMEOUT, "0s"),
        ] {
            let mut raw = BTreeMap::new();
            raw.insert(key.to_string(), bad.to_string());
            let e = EngineConf::parse(&raw).unwrap_err().to_string();
            assert!(e.contains(key), "{key} = {bad}: {e}");
        }
    }

    #[test]
    fn unknown_kiln_key_is_rejected() {
        let mut raw = BTreeMap::new();
        raw.insert("kiln.task.maxFailure".into(), "2".into());
        let e = EngineConf::parse(&raw).unwrap_err().to_string();
        assert!(e.contains("kiln.task.maxFailure"), "{e}");
        assert!(e.contains("did you mean kiln.task.maxFailures?"), "{e}");
        // The S3 family is checked key by key like the others.
        let mut raw = BTreeMap::new();
        raw.insert("kiln.s3.endpoint".into(), "http://localhost:9000".into());
        raw.insert("kiln.s3.acessKeyId".into(), "k".into());
        let e = EngineConf::parse(&raw).unwrap_err().to_string();
        assert!(e.contains("kiln.s3.acessKeyId"), "{e}");
        assert!(e.contains("did you mean kiln.s3.accessKeyId?"), "{e}");
    }

    #[test]
    fn datafusion_keys_pass_through() {
        let mut raw = BTreeMap::new();
        raw.insert("datafusion.execution.batch_size".into(), "1024".into());
        let c = EngineConf::parse(&raw).unwrap();
        let s = c.session_config(3).unwrap();
        assert_eq!(s.batch_size(), 1024);
        assert_eq!(s.target_partitions(), 3);
        raw.insert("datafusion.execution.batch_size".into(), "many".into());
        assert!(EngineConf::parse(&raw).unwrap().session_config(1).is_err());
    }

    #[test]
    fn broadcast_threshold_follows_spark_and_reaches_the_optimizer() {
        let mut raw = BTreeMap::new();
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.broadcast_threshold, 10 << 20);
        let opts = c.session_config(2).unwrap();
        assert_eq!(
            opts.options()
                .optimizer
                .hash_join_single_partition_threshold,
            10 << 20
        );
        raw.insert(BROADCAST_THRESHOLD.into(), "64MB".into());
        assert_eq!(
            EngineConf::parse(&raw).unwrap().broadcast_threshold,
            64 << 20
        );
        raw.insert(BROADCAST_THRESHOLD.into(), "-1".into());
        let c = EngineConf::parse(&raw).unwrap();
        assert_eq!(c.broadcast_threshold, 0);
        let opts = c.session_config(2).unwrap();
        assert_eq!(
            opts.options()
                .optimizer
                .hash_join_single_partition_threshold,
            0
        );
        assert_eq!(
            opts.options()
                .optimizer
                .hash_join_single_partition_threshold_rows,
            0
        );
        raw.insert(BROADCAST_THRESHOLD.into(), "lots".into());
        let e = EngineConf::parse(&raw).unwrap_err().to_string();
        assert!(e.contains(BROADCAST_THRESHOLD), "{e}");
    }
}
