//! Object stores behind `s3://` paths, configured from the AWS environment
//! and the application's conf, registered on the driver and on every executor
//! so that scans and writes planned on one run on the other.
//!
//! Transient S3 errors (503 Slow Down, 500, a reset or refused connection,
//! a timeout) are retried by the store itself with exponential backoff
//! ([`S3Retry`]); one that outlives those retries fails the task, which the
//! scheduler retries in turn (`executor::failure` counts it as transient).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, RetryConfig};
use url::Url;

use crate::error::{KilnError, Result};

/// Settings read for S3, as (Kiln key, Spark s3a key).
const S3_KEYS: &[(&str, &str)] = &[
    ("kiln.s3.endpoint", "spark.hadoop.fs.s3a.endpoint"),
    ("kiln.s3.region", "spark.hadoop.fs.s3a.endpoint.region"),
    ("kiln.s3.accessKeyId", "spark.hadoop.fs.s3a.access.key"),
    ("kiln.s3.secretAccessKey", "spark.hadoop.fs.s3a.secret.key"),
    ("kiln.s3.sessionToken", "spark.hadoop.fs.s3a.session.token"),
    (
        "kiln.s3.allowHttp",
        "spark.hadoop.fs.s3a.connection.ssl.enabled",
    ),
];

/// How an S3 store retries, as (Kiln key, Spark s3a key) and default.
///
/// - `kiln.s3.maxRetries` (`spark.hadoop.fs.s3a.retry.limit`): retries of one
///   request, default 10;
/// - `kiln.s3.retryTimeout`: no retry starts after this long from the first
///   attempt, default 3m;
/// - `kiln.s3.connectTimeout` (`spark.hadoop.fs.s3a.connection.establish.timeout`):
///   default 5s;
/// - `kiln.s3.requestTimeout` (`spark.hadoop.fs.s3a.connection.request.timeout`):
///   one attempt's limit, default 30s.
///
/// Durations take `500ms`, `10s`, `2m`; a bare number is seconds for the
/// Kiln keys and milliseconds for the Hadoop ones, as Hadoop reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Retry {
    /// Retries of one request.
    pub max_retries: usize,
    /// No retry starts after this long.
    pub retry_timeout: Duration,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on one attempt.
    pub request_timeout: Duration,
}

impl S3Retry {
    /// The retry settings in `conf`.
    pub fn from_conf(conf: &BTreeMap<String, String>) -> Result<Self> {
        let bad = |key: &str, message: String| KilnError::Config {
            key: key.to_string(),
            message,
        };
        let duration = |kiln: &str, hadoop: Option<&str>, default: Duration| -> Result<Duration> {
            if let Some(v) = conf.get(kiln) {
                return crate::config::parse_duration(v).map_err(|m| bad(kiln, m));
            }
            match hadoop.and_then(|h| conf.get(h).map(|v| (h, v))) {
                Some((h, v)) => match v.trim().parse::<u64>() {
                    Ok(ms) => Ok(Duration::from_millis(ms)),
                    Err(_) => crate::config::parse_duration(v).map_err(|m| bad(h, m)),
                },
                None => Ok(default),
            }
        };
        let max_retries = match [
            ("kiln.s3.maxRetries", conf.get("kiln.s3.maxRetries")),
            (
                "spark.hadoop.fs.s3a.retry.limit",
                conf.get("spark.hadoop.fs.s3a.retry.limit"),
            ),
        ]
        .into_iter()
        .find_map(|(k, v)| v.map(|v| (k, v)))
        {
            Some((k, v)) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| bad(k, format!("expected a whole number up to 100, found `{v}`")))?,
            None => 10,
        };
        Ok(S3Retry {
            max_retries,
            retry_timeout: duration("kiln.s3.retryTimeout", None, Duration::from_secs(180))?,
            connect_timeout: duration(
                "kiln.s3.connectTimeout",
                Some("spark.hadoop.fs.s3a.connection.establish.timeout"),
                Duration::from_secs(5),
            )?,
            request_timeout: duration(
                "kiln.s3.requestTimeout",
                Some("spark.hadoop.fs.s3a.connection.request.timeout"),
                Duration::from_secs(30),
            )?,
        })
    }
}

/// Finds every `s3://bucket` named in `sql` and registers a store for it.
pub fn register_for_sql(
    runtime: &RuntimeEnv,
    sql: &str,
    conf: &BTreeMap<String, String>,
) -> Result<()> {
    for bucket in s3_buckets(sql) {
        register_s3(runtime, &bucket, conf)?;
    }
    Ok(())
}

/// Bucket names of the `s3://` URLs in a text.
pub fn s3_buckets(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("s3://") {
        let rest = &text[i + 5..];
        let end = rest
            .find(|c: char| c == '/' || c == '\'' || c == '"' || c.is_whitespace())
            .unwrap_or(rest.len());
        let b = rest[..end].to_string();
        if !b.is_empty() && !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// Registers an S3 store for one bucket, from env (`AWS_*`) overridden by conf.
pub fn register_s3(
    runtime: &RuntimeEnv,
    bucket: &str,
    conf: &BTreeMap<String, String>,
) -> Result<()> {
    let store = s3_store(bucket, conf)?;
    let url = Url::parse(&format!("s3://{bucket}"))
        .map_err(|e| KilnError::Sql(format!("invalid bucket name `{bucket}`: {e}")))?;
    runtime.register_object_store(&url, Arc::new(store));
    Ok(())
}

/// The S3 store of one bucket, from env (`AWS_*`) overridden by conf.
pub fn s3_store(
    bucket: &str,
    conf: &BTreeMap<String, String>,
) -> Result<object_store::aws::AmazonS3> {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let get = |i: usize| {
        let (kiln, spark) = S3_KEYS[i];
        conf.get(kiln).or_else(|| conf.get(spark)).cloned()
    };
    let endpoint = get(0).or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(ep) = &endpoint {
        // Path-style addressing: what MinIO, moto and most on-premise stores expect.
        b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
        if ep.starts_with("http://") {
            b = b.with_allow_http(true);
        }
    }
    if let Some(r) = get(1) {
        b = b.with_region(r);
    } else if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        b = b.with_region("us-east-1");
    }
    if let Some(k) = get(2) {
        b = b.with_access_key_id(k);
    }
    if let Some(s) = get(3) {
        b = b.with_secret_access_key(s);
    }
    if let Some(t) = get(4) {
        b = b.with_token(t);
    }
    let retry = S3Retry::from_conf(conf)?;
    b = b
        .with_retry(RetryConfig {
            max_retries: retry.max_retries,
            retry_timeout: retry.retry_timeout,
            ..RetryConfig::default()
        })
        // Merged into the client options from the environment, not in
        // place of them (humantime durations).
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            format!("{}ms", retry.connect_timeout.as_millis()),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            format!("{}ms", retry.request_timeout.as_millis()),
        );
    b.build().map_err(|e| KilnError::Config {
        key: "kiln.s3.*".into(),
        message: format!("cannot configure S3 for bucket `{bucket}`: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_settings_from_kiln_and_hadoop_keys() {
        let mut conf = BTreeMap::new();
        let d = S3Retry::from_conf(&conf).unwrap();
        assert_eq!(d.max_retries, 10);
        assert_eq!(d.request_timeout, Duration::from_secs(30));
        conf.insert("spark.hadoop.fs.s3a.retry.limit".into(), "3".into());
        conf.insert(
            "spark.hadoop.fs.s3a.connection.request.timeout".into(),
            "1500".into(),
        );
        conf.insert("kiln.s3.retryTimeout".into(), "20s".into());
        let r = S3Retry::from_conf(&conf).unwrap();
        assert_eq!(r.max_retries, 3);
        assert_eq!(r.request_timeout, Duration::from_millis(1500));
        assert_eq!(r.retry_timeout, Duration::from_secs(20));
        conf.insert("kiln.s3.maxRetries".into(), "lots".into());
        let e = S3Retry::from_conf(&conf).unwrap_err().to_string();
        assert!(e.contains("kiln.s3.maxRetries"), "{e}");
    }

    #[test]
    fn finds_buckets() {
        let b = super::s3_buckets("LOCATION 's3://data/trips/' ... COPY x TO 's3://out/y.parquet'");
        assert_eq!(b, vec!["data".to_string(), "out".to_string()]);
    }
}
