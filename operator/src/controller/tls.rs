//! The per-application certificate and what stays secret about an
//! application.
//!
//! TLS is on by default on Kubernetes: at the first submission the operator
//! issues an application its own CA and a certificate signed by it (ECDSA
//! P-256, `rcgen`), stored with the driver-executor secret in the
//! application's Secret and mounted read-only into the driver and executor
//! pods. Every process of the application serves its gRPC and Flight
//! endpoints with that certificate and trusts only that CA, checking the
//! name [`server_name`] (pods are reached by IP, which is not known when
//! the certificate is made). `kiln.ssl.enabled: "false"` in `spec.conf`
//! turns it off.
//!
//! Credentials in `spec.conf`/`spec.sparkConf` ([`is_sensitive`]) go into the
//! same Secret, never into the job's ConfigMap; the pods read them from the
//! environment ([`SECRET_CONF_ENV`]) and the driver never sends them to
//! executors.

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::names;
use super::ControllerError;

/// Key of the CA certificate (PEM) in the application's Secret.
pub const CA_KEY: &str = "ca.crt";
/// Key of the certificate (PEM).
pub const CERT_KEY: &str = "tls.crt";
/// Key of the certificate's private key (PEM).
pub const KEY_KEY: &str = "tls.key";
/// Key of the sensitive settings (a JSON object of `spec.conf` entries).
pub const CONF_KEY: &str = "conf.json";
/// Where the Secret's TLS files are mounted in driver and executor pods.
pub const TLS_DIR: &str = "/etc/kiln/tls";
/// Environment variable of the driver pod holding [`CONF_KEY`].
pub const SECRET_CONF_ENV: &str = "KILN_SECRET_CONF";
/// S3 credentials in `spec.conf` and the AWS variables (and Secret keys)
/// they reach driver and executor pods as; `object_store` reads them.
pub const S3_CREDENTIALS: [(&str, &str, &str); 3] = [
    (
        "kiln.s3.accessKeyId",
        "spark.hadoop.fs.s3a.access.key",
        "AWS_ACCESS_KEY_ID",
    ),
    (
        "kiln.s3.secretAccessKey",
        "spark.hadoop.fs.s3a.secret.key",
        "AWS_SECRET_ACCESS_KEY",
    ),
    (
        "kiln.s3.sessionToken",
        "spark.hadoop.fs.s3a.session.token",
        "AWS_SESSION_TOKEN",
    ),
];

/// The AWS variables for the S3 credentials among `secret` settings
/// (Kiln's key wins over Spark's s3a key).
pub fn aws_env(secret: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    S3_CREDENTIALS
        .iter()
        .filter_map(|(kiln, s3a, var)| {
            secret
                .get(*kiln)
                .or_else(|| secret.get(*s3a))
                .map(|v| (var.to_string(), v.clone()))
        })
        .collect()
}

/// An application's CA and the certificate its processes serve with (PEM).
pub struct AppCertificate {
    /// The CA's certificate: what every process trusts.
    pub ca_pem: String,
    /// The certificate, for [`server_name`].
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

/// The name in the application's certificate, which clients check instead
/// of the pod IP they connect to.
pub fn server_name(app: &str, namespace: &str) -> String {
    format!("{}.{namespace}.kiln", names::app_label(app))
}

/// Issues a fresh CA and certificate for application `app` in `namespace`.
pub fn issue(app: &str, namespace: &str) -> Result<AppCertificate, ControllerError> {
    let bad =
        |e: rcgen::Error| ControllerError::Invalid(format!("cannot issue a certificate: {e}"));
    let ca_key = KeyPair::generate().map_err(bad)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, format!("kiln CA of {namespace}/{app}"));
    let ca_cert = ca.self_signed(&ca_key).map_err(bad)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(bad)?;
    let name = server_name(app, namespace);
    let mut leaf = CertificateParams::new(vec![name.clone()]).map_err(bad)?;
    leaf.distinguished_name.push(DnType::CommonName, name);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = leaf.signed_by(&key, &issuer).map_err(bad)?;
    Ok(AppCertificate {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Whether `spec.conf` turns TLS off (`kiln.ssl.enabled: "false"`).
pub fn tls_disabled(conf: &BTreeMap<String, String>) -> bool {
    conf.get("kiln.ssl.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// The transport settings of a TLS-enabled application's pods: the
/// mounted files and the name to check.
pub fn tls_conf(app: &str, namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kiln.ssl.enabled".to_string(), "true".to_string()),
        (
            "kiln.ssl.certFile".to_string(),
            format!("{TLS_DIR}/{CERT_KEY}"),
        ),
        (
            "kiln.ssl.keyFile".to_string(),
            format!("{TLS_DIR}/{KEY_KEY}"),
        ),
        ("kiln.ssl.caFile".to_string(), format!("{TLS_DIR}/{CA_KEY}")),
        (
            "kiln.ssl.serverName".to_string(),
            server_name(app, namespace),
        ),
    ])
}

/// Whether a setting holds a credential: S3/s3a keys and secrets, session
/// tokens, and any key whose last part names a password, secret, token or
/// credential.
pub fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let last = k.rsplit('.').next().unwrap_or(&k);
    const EXACT: [&str; 6] = [
        "kiln.s3.accesskeyid",
        "kiln.s3.secretaccesskey",
        "kiln.s3.sessiontoken",
        "spark.hadoop.fs.s3a.access.key",
        "spark.hadoop.fs.s3a.secret.key",
        "spark.hadoop.fs.s3a.session.token",
    ];
    EXACT.contains(&k.as_str())
        || ["password", "secret", "token", "credential", "credentials"]
            .iter()
            .any(|w| last.contains(w))
}

/// Splits settings into (public, sensitive).
pub fn split_conf(
    conf: BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    conf.into_iter().partition(|(k, _)| !is_sensitive(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_told_apart_from_settings() {
        for k in [
            "kiln.s3.secretAccessKey",
            "kiln.s3.accessKeyId",
            "spark.hadoop.fs.s3a.access.key",
            "spark.hadoop.fs.s3a.secret.key",
            "spark.hadoop.fs.s3a.session.token",
            "spark.jdbc.password",
            "my.api.token",
        ] {
            assert!(is_sensitive(k), "{k}");
        }
        for k in [
            "spark.sql.shuffle.partitions",
            "kiln.s3.endpoint",
            "kiln.s3.region",
            "kiln.ssl.enabled",
            "spark.hadoop.fs.s3a.endpoint",
        ] {
            assert!(!is_sensitive(k), "{k}");
        }
        let (public, secret) = split_conf(BTreeMap::from([
            ("kiln.s3.endpoint".to_string(), "http://s3".to_string()),
            ("kiln.s3.secretAccessKey".to_string(), "x".to_string()),
        ]));
        assert_eq!(public.len(), 1);
        assert_eq!(secret["kiln.s3.secretAccessKey"], "x");
    }

    #[test]
    fn the_certificate_is_signed_by_the_application_ca_for_its_name() {
        let c = issue("q1", "team").unwrap();
        assert!(c.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.key_pem.contains("PRIVATE KEY"));
        assert_ne!(c.ca_pem, c.cert_pem);
        assert_eq!(server_name("q1", "team"), "q1.team.kiln");
        let again = issue("q1", "team").unwrap();
        assert_ne!(
            again.key_pem, c.key_pem,
            "every application gets its own key"
        );
    }
}
