//! Object stores behind `s3://` paths, configured from the AWS environment
//! and the application's conf, registered on the driver and on every executor
//! so that scans and writes planned on one run on the other.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::AmazonS3Builder;
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
    b.build().map_err(|e| KilnError::Config {
        key: "kiln.s3.*".into(),
        message: format!("cannot configure S3 for bucket `{bucket}`: {e}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_buckets() {
        let b = super::s3_buckets("LOCATION 's3://data/trips/' ... COPY x TO 's3://out/y.parquet'");
        assert_eq!(b, vec!["data".to_string(), "out".to_string()]);
    }
}
