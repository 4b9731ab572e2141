//! Every engine setting's key and default, and the values a setting picks
//! from: the one list the rest of the engine (the conf parser in
//! [`crate::config`], the shuffle, the writer, the fault hooks, the object
//! stores) takes them from. It depends on nothing, so that those modules can
//! share keys without importing each other.
//!
//! Kiln reads its own `kiln.*` keys (all listed by [`kiln_keys`]; any other
//! `kiln.*` key is refused, see [`unknown_kiln_key`]), a few Spark keys whose
//! meaning carries over, and passes `datafusion.*` keys through to DataFusion.

use std::time::Duration;

/// `kiln.task.maxFailures`: attempts per task before the job fails.
pub const TASK_MAX_FAILURES: &str = "kiln.task.maxFailures";
/// Spark's name for [`TASK_MAX_FAILURES`].
pub const SPARK_TASK_MAX_FAILURES: &str = "spark.task.maxFailures";
/// `spark.stage.maxConsecutiveAttempts`: a job fails when one stage fails
/// this many attempts in a row (each losing map output it reads). Default 4.
pub const STAGE_MAX_CONSECUTIVE_ATTEMPTS: &str = "spark.stage.maxConsecutiveAttempts";
/// Default of [`TASK_MAX_FAILURES`] and [`STAGE_MAX_CONSECUTIVE_ATTEMPTS`]
/// (Spark's, for both).
pub const DEFAULT_ATTEMPTS: u32 = 4;
/// `kiln.shuffle.compression`: `none`, `lz4` or `zstd` for shuffle blocks.
pub const SHUFFLE_COMPRESSION: &str = "kiln.shuffle.compression";
/// `spark.sql.shuffle.partitions`: partitions per exchange (default: the
/// application's task slots).
pub const SHUFFLE_PARTITIONS: &str = "spark.sql.shuffle.partitions";
/// Kiln's name for [`SHUFFLE_PARTITIONS`].
pub const KILN_SHUFFLE_PARTITIONS: &str = "kiln.sql.shuffle.partitions";
/// `kiln.executor.heartbeatInterval`: how often executors report, e.g. `1s`.
pub const HEARTBEAT_INTERVAL: &str = "kiln.executor.heartbeatInterval";
/// Default of [`HEARTBEAT_INTERVAL`].
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// `kiln.executor.heartbeatTimeout`: silence after which an executor is lost.
pub const HEARTBEAT_TIMEOUT: &str = "kiln.executor.heartbeatTimeout";
/// Default of [`HEARTBEAT_TIMEOUT`].
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);
/// `kiln.executor.registrationTimeout`: how long the driver waits for executors.
pub const REGISTRATION_TIMEOUT: &str = "kiln.executor.registrationTimeout";
/// Default of [`REGISTRATION_TIMEOUT`].
pub const DEFAULT_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// `kiln.executor.maxReplacements` (or Spark's `spark.executor.maxNumFailures`):
/// how many dead executors `kiln run` replaces before giving up on replacing.
pub const MAX_EXECUTOR_REPLACEMENTS: &str = "kiln.executor.maxReplacements";
/// Spark's name for [`MAX_EXECUTOR_REPLACEMENTS`].
pub const SPARK_MAX_EXECUTOR_FAILURES: &str = "spark.executor.maxNumFailures";
/// `kiln.write.mode`: what `COPY ... TO` does with an existing target:
/// `overwrite` (default), `append` or `errorifexists` (Spark's save modes).
pub const WRITE_MODE: &str = "kiln.write.mode";
/// Spark's `spark.sql.sources.partitionOverwriteMode`: `static` (an overwrite
/// replaces the whole target) or `dynamic` (only the partitions written).
pub const PARTITION_OVERWRITE_MODE: &str = "spark.sql.sources.partitionOverwriteMode";
/// Where managed tables (`CREATE TABLE` without `LOCATION`) keep their
/// files, one folder per table; Spark's key and default (`spark-warehouse`
/// in the driver's working directory).
pub const WAREHOUSE_DIR: &str = "spark.sql.warehouse.dir";
/// Spark's `spark.sql.autoBroadcastJoinThreshold`: the largest estimated
/// size of a join side that is sent whole to every task instead of being
/// shuffled (`10m`, bytes, or `-1` to turn broadcasts off). Default 10 MiB,
/// Spark's default; DataFusion's own is 1 MiB, tuned for one process where
/// a repartition costs no serialization.
pub const BROADCAST_THRESHOLD: &str = "spark.sql.autoBroadcastJoinThreshold";
/// Default of [`BROADCAST_THRESHOLD`].
pub const DEFAULT_BROADCAST_THRESHOLD: usize = 10 << 20;
/// Spark's `spark.network.timeout`: the default of every network deadline
/// below (Spark's default, 120 s).
pub const NETWORK_TIMEOUT: &str = "spark.network.timeout";
/// Default of [`NETWORK_TIMEOUT`].
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(120);
/// Spark's `spark.shuffle.io.connectionTimeout`: how long a shuffle fetch
/// waits for its peer's next message (the reply to `DoGet`, then each piece
/// of the block) before it fails as a fetch failure. Default:
/// [`NETWORK_TIMEOUT`].
pub const SHUFFLE_CONNECTION_TIMEOUT: &str = "spark.shuffle.io.connectionTimeout";
/// Spark's `spark.shuffle.readHostLocalDisk` (default true): a reducer reads
/// the blocks of another executor whose shuffle folder it sees on its own
/// file system (the same host) from disk, not over the network.
pub const READ_HOST_LOCAL_DISK: &str = "spark.shuffle.readHostLocalDisk";
/// Spark's `spark.sql.optimizer.runtime.bloomFilter.enabled` (default true):
/// the large side of a shuffled join is filtered by the keys of its small,
/// selective side before it is shuffled (Kiln's filter holds exact key
/// hashes rather than a bloom filter).
pub const RUNTIME_FILTER: &str = "spark.sql.optimizer.runtime.bloomFilter.enabled";
/// Spark's `spark.scheduler.minRegisteredResourcesRatio`: the share of the
/// requested executors that must have registered before jobs start.
pub const MIN_REGISTERED_RATIO: &str = "spark.scheduler.minRegisteredResourcesRatio";
/// Default of [`MIN_REGISTERED_RATIO`] (Spark's on Kubernetes and YARN).
pub const DEFAULT_MIN_REGISTERED_RATIO: f64 = 0.8;
/// Spark's `spark.scheduler.maxRegisteredResourcesWaitingTime`: how long to
/// wait for that share before starting with the executors that registered.
pub const MAX_REGISTERED_WAIT: &str = "spark.scheduler.maxRegisteredResourcesWaitingTime";
/// Default of [`MAX_REGISTERED_WAIT`].
pub const DEFAULT_MAX_REGISTERED_WAIT: Duration = Duration::from_secs(30);
/// Spark's `spark.driver.maxResultSize`: the largest query result the driver
/// hands back (`1g` by default; `0` for no limit).
pub const MAX_RESULT_SIZE: &str = "spark.driver.maxResultSize";
/// Default of [`MAX_RESULT_SIZE`], in bytes.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 1 << 30;

/// `kiln.rpc.maxMessageSize`: largest gRPC/Flight message sent or accepted
/// (default 64m).
pub const MAX_MESSAGE_SIZE: &str = "kiln.rpc.maxMessageSize";
/// `kiln.ssl.enabled`: serve and call over TLS.
pub const SSL_ENABLED: &str = "kiln.ssl.enabled";
/// `kiln.ssl.certFile`: PEM certificate (chain) of this process's servers.
pub const SSL_CERT_FILE: &str = "kiln.ssl.certFile";
/// `kiln.ssl.keyFile`: PEM private key of that certificate.
pub const SSL_KEY_FILE: &str = "kiln.ssl.keyFile";
/// `kiln.ssl.caFile`: PEM CA that signed the peers' certificates (default:
/// the certFile itself).
pub const SSL_CA_FILE: &str = "kiln.ssl.caFile";
/// `kiln.ssl.serverName`: name to verify in peers' certificates (default:
/// the host of the URL).
pub const SSL_SERVER_NAME: &str = "kiln.ssl.serverName";

/// `kiln.s3.endpoint` (`spark.hadoop.fs.s3a.endpoint`): the S3 endpoint.
pub const S3_ENDPOINT: &str = "kiln.s3.endpoint";
/// `kiln.s3.region` (`spark.hadoop.fs.s3a.endpoint.region`).
pub const S3_REGION: &str = "kiln.s3.region";
/// `kiln.s3.accessKeyId` (`spark.hadoop.fs.s3a.access.key`).
pub const S3_ACCESS_KEY_ID: &str = "kiln.s3.accessKeyId";
/// `kiln.s3.secretAccessKey` (`spark.hadoop.fs.s3a.secret.key`).
pub const S3_SECRET_ACCESS_KEY: &str = "kiln.s3.secretAccessKey";
/// `kiln.s3.sessionToken` (`spark.hadoop.fs.s3a.session.token`).
pub const S3_SESSION_TOKEN: &str = "kiln.s3.sessionToken";
/// `kiln.s3.allowHttp`: `true` lets Kiln talk plain HTTP to the endpoint
/// (the inverse of `spark.hadoop.fs.s3a.connection.ssl.enabled`). An
/// `http://` endpoint allows it without this key.
pub const S3_ALLOW_HTTP: &str = "kiln.s3.allowHttp";
/// `kiln.s3.maxRetries` (`spark.hadoop.fs.s3a.retry.limit`): retries of one
/// request, default 10.
pub const S3_MAX_RETRIES: &str = "kiln.s3.maxRetries";
/// `kiln.s3.retryTimeout`: no retry starts after this long from the first
/// attempt, default 3m.
pub const S3_RETRY_TIMEOUT: &str = "kiln.s3.retryTimeout";
/// `kiln.s3.connectTimeout` (`spark.hadoop.fs.s3a.connection.establish.timeout`):
/// default 5s.
pub const S3_CONNECT_TIMEOUT: &str = "kiln.s3.connectTimeout";
/// `kiln.s3.requestTimeout` (`spark.hadoop.fs.s3a.connection.request.timeout`):
/// one attempt's limit, default 30s.
pub const S3_REQUEST_TIMEOUT: &str = "kiln.s3.requestTimeout";
/// `kiln.s3.buckets`: the buckets an executor registers stores for (set by
/// `kiln run` and the driver from the buckets the job names, not by users).
pub const S3_BUCKETS: &str = "kiln.s3.buckets";

/// `kiln.test.taskDelay`: executors wait this long before each task, so
/// fault tests can kill a process while a stage runs.
pub const TEST_TASK_DELAY: &str = "kiln.test.taskDelay";
/// `kiln.test.stageDelay`: the driver waits this long after a stage
/// completes before launching more tasks, so fault tests can kill an
/// executor between a map stage and the stage that reads its output.
pub const TEST_STAGE_DELAY: &str = "kiln.test.stageDelay";
/// `kiln.test.corruptShuffleBlock`: `STAGE/MAP/BLOCK:flip` or
/// `STAGE/MAP/BLOCK:truncate`. Right after the first attempt of map task MAP
/// of stage STAGE has written its blocks (checksums included), the executor
/// damages block BLOCK on disk: it flips one byte in the middle of the file,
/// or cuts off its last third. The reduce side must then detect the damage
/// and have the map output recomputed. Never set it outside tests.
pub const TEST_CORRUPT_BLOCK: &str = "kiln.test.corruptShuffleBlock";
/// `kiln.test.failFirstWriteAttempt`: testing only. The first attempt of
/// every write task writes its files and then fails as a lost disk would,
/// so tests can check that only the retry's files are committed.
pub const TEST_FAIL_FIRST_WRITE_ATTEMPT: &str = "kiln.test.failFirstWriteAttempt";
/// `kiln.test.failCommitAfterFiles`: testing only. The driver's commit of
/// a write fails after moving this many files into the target, as a rename
/// refused by the storage would, so tests can check what a half-done commit
/// leaves.
pub const TEST_FAIL_COMMIT_AFTER_FILES: &str = "kiln.test.failCommitAfterFiles";

/// Every `kiln.test.*` key (the fault hooks of [`crate::fault_injection`]).
pub const TEST_KEYS: [&str; 5] = [
    TEST_TASK_DELAY,
    TEST_STAGE_DELAY,
    TEST_CORRUPT_BLOCK,
    TEST_FAIL_FIRST_WRITE_ATTEMPT,
    TEST_FAIL_COMMIT_AFTER_FILES,
];

/// The settings of the transport between the application's processes
/// (`crate::security::Transport`).
pub const TRANSPORT_KEYS: [&str; 6] = [
    MAX_MESSAGE_SIZE,
    SSL_ENABLED,
    SSL_CERT_FILE,
    SSL_KEY_FILE,
    SSL_CA_FILE,
    SSL_SERVER_NAME,
];

/// The settings of S3 object stores (`crate::objectstore`), but
/// [`S3_BUCKETS`], which Kiln sets itself.
pub const S3_KEYS: [&str; 10] = [
    S3_ENDPOINT,
    S3_REGION,
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    S3_SESSION_TOKEN,
    S3_ALLOW_HTTP,
    S3_MAX_RETRIES,
    S3_RETRY_TIMEOUT,
    S3_CONNECT_TIMEOUT,
    S3_REQUEST_TIMEOUT,
];

/// The engine's own `kiln.*` settings ([`crate::config::EngineConf`]).
pub const ENGINE_KEYS: [&str; 8] = [
    TASK_MAX_FAILURES,
    SHUFFLE_COMPRESSION,
    KILN_SHUFFLE_PARTITIONS,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    REGISTRATION_TIMEOUT,
    MAX_EXECUTOR_REPLACEMENTS,
    WRITE_MODE,
];

/// Every `kiln.*` key the engine reads, but the `kiln.test.*` hooks (checked
/// by the hooks, which a release build refuses) and the `kiln.ui.*` keys
/// (kiln-ui's, which it checks).
pub fn kiln_keys() -> Vec<&'static str> {
    [&ENGINE_KEYS[..], &TRANSPORT_KEYS, &S3_KEYS].concat()
}

/// What is wrong with a `kiln.*` key that names no setting (`None` when it
/// names one, or belongs to the `kiln.test.*`/`kiln.ui.*` families, which
/// their owners check): the closest known keys, as Spark suggests names.
pub fn unknown_kiln_key(key: &str) -> Option<String> {
    if !key.starts_with("kiln.")
        || key.starts_with("kiln.test.")
        || key.starts_with("kiln.ui.")
        || key == S3_BUCKETS
    {
        return None;
    }
    let known = kiln_keys();
    (!known.contains(&key)).then(|| unknown_key_message(key, &known))
}

/// "unknown setting; did you mean …?" for a key of a family of settings:
/// the known keys closest to `key` (by edit distance, ignoring case), or
/// all of them when none is close.
pub fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let lower = key.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .collect();
    scored.sort();
    // Close enough to be a typo: a third of the key's length at most.
    let limit = (key.len() / 3).max(2);
    let close: Vec<&str> = scored
        .iter()
        .take_while(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, k)| *k)
        .collect();
    if close.is_empty() {
        format!("unknown setting (known: {})", known.join(", "))
    } else {
        format!("unknown setting; did you mean {}?", close.join(" or "))
    }
}

/// Levenshtein distance between two texts, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Settings from `(key, value)` pairs, as tests and callers that build a
/// conf by hand write them.
pub fn from_pairs(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a `COPY ... TO` does with a target that already holds data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the target's contents.
    Overwrite,
    /// Add files beside the existing ones.
    Append,
    /// Fail the statement if the target holds data.
    ErrorIfExists,
}

/// Which part of a partitioned target an overwrite replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionOverwriteMode {
    /// All of it.
    Static,
    /// Only the partitions the job wrote.
    Dynamic,
}

/// Compression codec for shuffle blocks ([`SHUFFLE_COMPRESSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuffleCompression {
    /// Plain Arrow IPC.
    None,
    /// LZ4 frame compression of IPC buffers.
    Lz4,
    /// Zstandard compression of IPC buffers.
    Zstd,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_keys() {
        let m = unknown_kiln_key("kiln.s3.allowHTTPS").expect("unknown");
        assert!(m.contains("did you mean kiln.s3.allowHttp"), "{m}");
        let m = unknown_kiln_key("kiln.s3.endpiont").expect("unknown");
        assert!(m.contains("did you mean kiln.s3.endpoint"), "{m}");
        let m = unknown_kiln_key("kiln.task.maxFailure").expect("unknown");
        assert!(m.contains("did you mean kiln.task.maxFailures"), "{m}");
    }

    #[test]
    fn far_keys_get_the_whole_list() {
        let m = unknown_kiln_key("kiln.something.else.entirely").expect("unknown");
        assert!(m.starts_with("unknown setting (known: "), "{m}");
        assert!(m.contains(S3_ALLOW_HTTP), "{m}");
    }

    #[test]
    fn known_keys_and_delegated_families_pass() {
        for k in kiln_keys() {
            assert_eq!(unknown_kiln_key(k), None, "{k}");
        }
        for k in [
            "kiln.test.anything",
            "kiln.ui.anything",
            S3_BUCKETS,
            "spark.foo",
        ] {
            assert_eq!(unknown_kiln_key(k), None, "{k}");
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
