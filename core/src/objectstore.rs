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

use kiln_values::duration::parse_duration;

use crate::error::{KilnError, Result};
use crate::settings::{
    S3_ACCESS_KEY_ID, S3_ALLOW_HTTP, S3_CONNECT_TIMEOUT, S3_ENDPOINT, S3_MAX_RETRIES, S3_REGION,
    S3_REQUEST_TIMEOUT, S3_RETRY_TIMEOUT, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
};

/// Settings read for S3, as (Kiln key, Spark s3a key).
const S3_KEYS: &[(&str, &str)] = &[
    (S3_ENDPOINT, "spark.hadoop.fs.s3a.endpoint"),
    (S3_REGION, "spark.hadoop.fs.s3a.endpoint.region"),
    (S3_ACCESS_KEY_ID, "spark.hadoop.fs.s3a.access.key"),
    (S3_SECRET_ACCESS_KEY, "spark.hadoop.fs.s3a.secret.key"),
    (S3_SESSION_TOKEN, "spark.hadoop.fs.s3a.session.token"),
];

/// Spark's s3a switch for TLS: the inverse of [`S3_ALLOW_HTTP`].
const S3A_SSL_ENABLED: &str = "spark.hadoop.fs.s3a.connection.ssl.enabled";

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
                return parse_duration(v).map_err(|m| bad(kiln, m));
            }
            match hadoop.and_then(|h| conf.get(h).map(|v| (h, v))) {
                Some((h, v)) => match v.trim().parse::<u64>() {
                    Ok(ms) => Ok(Duration::from_millis(ms)),
                    Err(_) => parse_duration(v).map_err(|m| bad(h, m)),
                },
                None => Ok(default),
            }
        };
        let max_retries = match [
            (S3_MAX_RETRIES, conf.get(S3_MAX_RETRIES)),
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
            retry_timeout: duration(S3_RETRY_TIMEOUT, None, Duration::from_secs(180))?,
            connect_timeout: duration(
                S3_CONNECT_TIMEOUT,
                Some("spark.hadoop.fs.s3a.connection.establish.timeout"),
                Duration::from_secs(5),
            )?,
            request_timeout: duration(
                S3_REQUEST_TIMEOUT,
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
    let allow_http = allow_http(conf, endpoint.as_deref())?;
    if let Some(ep) = &endpoint {
        // Path-style addressing: what MinIO, moto and most on-premise stores expect.
        b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
    }
    if allow_http {
        b = b.with_allow_http(true);
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

/// Whether the store may talk plain HTTP: [`S3_ALLOW_HTTP`], else the
/// inverse of Spark's [`S3A_SSL_ENABLED`], else whether the endpoint is an
/// `http://` URL. Refusing HTTP to an `http://` endpoint is an error here,
/// not a failure at the first request.
fn allow_http(conf: &BTreeMap<String, String>, endpoint: Option<&str>) -> Result<bool> {
    let flag = |key: &str, v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(KilnError::Config {
            key: key.into(),
            message: format!("expected true or false, found `{v}`"),
        }),
    };
    let http_endpoint = endpoint.is_some_and(|ep| ep.starts_with("http://"));
    let (key, allowed) = match (conf.get(S3_ALLOW_HTTP), conf.get(S3A_SSL_ENABLED)) {
        (Some(v), _) => (S3_ALLOW_HTTP, flag(S3_ALLOW_HTTP, v)?),
        (None, Some(v)) => (S3A_SSL_ENABLED, !flag(S3A_SSL_ENABLED, v)?),
        (None, None) => return Ok(http_endpoint),
    };
    if http_endpoint && !allowed {
        return Err(KilnError::Config {
            key: key.into(),
            message: format!(
                "the endpoint `{}` is plain HTTP but {key} refuses HTTP",
                endpoint.unwrap_or_default()
            ),
        });
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_follows_kiln_then_spark_then_the_endpoint() {
        let conf = crate::settings::from_pairs;
        let http = Some("http://localhost:9000");
        let https = Some("https://s3.example.com");
        assert!(allow_http(&conf(&[]), http).unwrap());
        assert!(!allow_http(&conf(&[]), https).unwrap());
        assert!(!allow_http(&conf(&[]), None).unwrap());
        assert!(allow_http(&conf(&[(S3_ALLOW_HTTP, "true")]), https).unwrap());
        assert!(allow_http(&conf(&[(S3A_SSL_ENABLED, "false")]), https).unwrap());
        assert!(!allow_http(&conf(&[(S3A_SSL_ENABLED, "true")]), https).unwrap());
        // The Kiln key wins over Spark's.
        let both = conf(&[(S3_ALLOW_HTTP, "TRUE"), (S3A_SSL_ENABLED, "true")]);
        assert!(allow_http(&both, https).unwrap());
        let e = allow_http(&conf(&[(S3_ALLOW_HTTP, "false")]), http)
            .unwrap_err()
            .to_string();
        assert!(e.contains(S3_ALLOW_HTTP) && e.contains("plain HTTP"), "{e}");
        let e = allow_http(&conf(&[(S3_ALLOW_HTTP, "yes")]), https)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected true or false"), "{e}");
        // The store is built with it: HTTP refused to an http:// endpoint fails early.
        let e = s3_store(
            "bucket",
            &conf(&[
                (S3_ENDPOINT, "http://localhost:9000"),
                (S3_ALLOW_HTTP, "false"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(S3_ALLOW_HTTP), "{e}");
    }

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
