//! Who may talk to a Kiln driver or executor, and over what: the
//! per-application secret, message size caps, and optional TLS.
//!
//! Driver and executors of one application share a [`Secret`]. Every gRPC
//! call (`DriverService`, `ExecutorService`) and every Flight `DoGet` carries
//! it as `authorization: Bearer <secret>` ([`AttachSecret`]); every server
//! checks it in constant time before the call reaches a handler
//! ([`RequireSecret`]) and answers `Unauthenticated` otherwise. So an
//! executor runs tasks only from its own driver and serves shuffle blocks
//! only to its peers and that driver.
//!
//! [`Transport`] bundles the secret with the settings every channel and
//! server of a process uses: the largest message accepted or sent
//! (`kiln.rpc.maxMessageSize`) and TLS from PEM files (`kiln.ssl.*`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};

use crate::error::{KilnError, Result};

/// Environment variable holding the application secret.
pub const SECRET_ENV: &str = "KILN_AUTH_SECRET";
/// Metadata key that carries the secret on every call.
pub const AUTH_HEADER: &str = "authorization";
/// HTTP/2 PING period (and TCP keepalive) of every Kiln connection.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// A connection whose PING is not answered within this is closed and its
/// calls fail.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Every setting [`Transport`] reads.
pub use crate::settings::TRANSPORT_KEYS as KEYS;
pub use crate::settings::{
    MAX_MESSAGE_SIZE, SSL_CA_FILE, SSL_CERT_FILE, SSL_ENABLED, SSL_KEY_FILE, SSL_SERVER_NAME,
};
/// Default of `kiln.rpc.maxMessageSize`: 64 MiB (a task's plan; shuffle
/// blocks travel in 1 MiB pieces).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Shortest secret accepted from a file or the environment.
const MIN_SECRET_LEN: usize = 16;

/// The secret of one application. Its `Debug` form does not show it.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A fresh random secret ([`kiln_values::secret::random_secret`]).
    pub fn generate() -> Result<Self> {
        let hex = kiln_values::secret::random_secret()
            .map_err(|e| KilnError::Internal(format!("application secret: {e}")))?;
        Ok(Secret(hex.into()))
    }

    /// A secret given by the user; surrounding whitespace is dropped.
    pub fn new(text: &str) -> Result<Self> {
        let s = text.trim();
        let bad = |message: String| KilnError::Config {
            key: "application secret".into(),
            message,
        };
        if s.len() < MIN_SECRET_LEN {
            return Err(bad(format!(
                "must be at least {MIN_SECRET_LEN} characters, found {}",
                s.len()
            )));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "must be printable ASCII without spaces (it travels in a header)".into(),
            ));
        }
        Ok(Secret(s.into()))
    }

    /// The secret from `file` when given, else from `KILN_AUTH_SECRET`.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                KilnError::io(format!("cannot read secret file {}", path.display()), e)
            })?;
            return Secret::new(&text);
        }
        match std::env::var(SECRET_ENV) {
            Ok(v) => Secret::new(&v),
            Err(_) => Err(KilnError::Config {
                key: "application secret".into(),
                message: format!(
                    "none given: set {SECRET_ENV} or pass --auth-secret-file (`kiln run` makes one itself)"
                ),
            }),
        }
    }

    /// The secret's text, to hand to a child process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time independent of where they
    /// differ (`subtle`'s comparison; only the length may leak).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

/// Client side: adds the secret to every outgoing call.
#[derive(Clone)]
pub struct AttachSecret {
    value: MetadataValue<Ascii>,
}

impl fmt::Debug for AttachSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachSecret(<redacted>)")
    }
}

impl AttachSecret {
    /// Attaches `secret`.
    pub fn new(secret: &Secret) -> Result<Self> {
        let mut value: MetadataValue<Ascii> = format!("Bearer {}", secret.expose())
            .parse()
            .map_err(|_| KilnError::Config {
                key: "application secret".into(),
                message: "not a valid header value".into(),
            })?;
        value.set_sensitive(true);
        Ok(AttachSecret { value })
    }
}

impl Interceptor for AttachSecret {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(AUTH_HEADER, self.value.clone());
        Ok(request)
    }
}

/// Server side: refuses calls without the right secret with `Unauthenticated`.
#[derive(Clone, Debug)]
pub struct RequireSecret {
    secret: Secret,
}

impl RequireSecret {
    /// Requires `secret`.
    pub fn new(secret: Secret) -> Self {
        RequireSecret { secret }
    }
}

impl Interceptor for RequireSecret {
    fn call(&mut self, request: Request<()>) -> std::result::Result<Request<()>, Status> {
        let Some(value) = request.metadata().get(AUTH_HEADER) else {
            return Err(Status::unauthenticated(
                "missing application secret (authorization header)",
            ));
        };
        let token = value
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .unwrap_or(value.as_bytes());
        if self.secret.matches(token) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("wrong application secret"))
        }
    }
}

/// A gRPC channel that carries the application secret.
pub type AuthChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, AttachSecret>;

/// TLS material, read from the PEM files once.
#[derive(Clone)]
struct Tls {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
    server_name: Option<String>,
}

/// How this process's servers and channels talk: secret, size caps, TLS.
#[derive(Clone)]
pub struct Transport {
    secret: Secret,
    /// Largest message sent or accepted, in bytes.
    pub max_message_bytes: usize,
    tls: Option<Arc<Tls>>,
    /// The transport settings as given, for passing on to child executors.
    settings: BTreeMap<String, String>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("max_message_bytes", &self.max_message_bytes)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Reads the transport settings from an application's conf.
    pub fn new(secret: Secret, conf: &BTreeMap<String, String>) -> Result<Self> {
        let bad = |key: &str, message: String| KilnError::Config {
            key: key.to_string(),
            message,
        };
        let max_message_bytes = match conf.get(MAX_MESSAGE_SIZE) {
            None => DEFAULT_MAX_MESSAGE_BYTES,
            Some(v) => {
                let n =
                    kiln_values::memory::parse_memory(v).map_err(|m| bad(MAX_MESSAGE_SIZE, m))?;
                if !(1024 * 1024..=2 * 1024 * 1024 * 1024).contains(&n) {
                    return Err(bad(
                        MAX_MESSAGE_SIZE,
                        format!("must be between 1m and 2g, found {v}"),
                    ));
                }
                n as usize
            }
        };
        let enabled = match conf.get(SSL_ENABLED).map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                return Err(bad(
                    SSL_ENABLED,
                    format!("expected true or false, found `{v}`"),
                ))
            }
        };
        let read = |key: &str| -> Result<Vec<u8>> {
            let path = conf
                .get(key)
                .ok_or_else(|| bad(key, format!("required when {SSL_ENABLED} is true")))?;
            std::fs::read(PathBuf::from(path))
                .map_err(|e| bad(key, format!("cannot read {path}: {e}")))
        };
        let tls = if enabled {
            let cert = read(SSL_CERT_FILE)?;
            let key = read(SSL_KEY_FILE)?;
            let ca = match conf.get(SSL_CA_FILE) {
                Some(_) => read(SSL_CA_FILE)?,
                None => cert.clone(),
            };
            Some(Arc::new(Tls {
                cert,
                key,
                ca,
                server_name: conf.get(SSL_SERVER_NAME).cloned(),
            }))
        } else {
            None
        };
        let settings = conf
            .iter()
            .filter(|(k, _)| KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Transport {
            secret,
            max_message_bytes,
            tls,
            settings,
        })
    }

    /// The application secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Whether channels use TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// The URL of a server of this process listening on `host:port`.
    pub fn url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        if host.contains(':') && !host.starts_with('[') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }

    /// The transport settings as `KEY=VALUE`, for a child executor's `--conf`.
    pub fn settings(&self) -> impl Iterator<Item = String> + '_ {
        self.settings.iter().map(|(k, v)| format!("{k}={v}"))
    }

    /// An endpoint to `url` (TLS when enabled; the URL then starts with `https`).
    pub fn endpoint(&self, url: &str) -> std::result::Result<Endpoint, String> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("invalid address `{url}`: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            // A peer that stops answering (stopped, partitioned, black-holed)
            // fails the calls in flight instead of holding them forever.
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL));
        if let Some(tls) = &self.tls {
            let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca));
            if let Some(name) = &tls.server_name {
                config = config.domain_name(name.clone());
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| format!("TLS settings for `{url}`: {e}"))?;
        }
        Ok(endpoint)
    }

    /// A lazily connecting channel to `url` that carries the secret.
    pub fn channel(&self, url: &str) -> std::result::Result<AuthChannel, String> {
        let channel = self.endpoint(url)?.connect_lazy();
        let attach = AttachSecret::new(&self.secret).map_err(|e| e.to_string())?;
        Ok(tonic::service::interceptor::InterceptedService::new(
            channel, attach,
        ))
    }

    /// The interceptor servers put in front of every service.
    pub fn require(&self) -> RequireSecret {
        RequireSecret::new(self.secret.clone())
    }

    /// The connections a server accepts on `listener`, with `TCP_NODELAY`.
    /// A server fed its own listener does not apply the builder's
    /// `tcp_nodelay`; without it every small reply (a task result, a
    /// shuffle block's last piece) waits out Nagle's algorithm against the
    /// peer's delayed ACK, about 40 ms per round trip on Linux.
    pub fn incoming(listener: tokio::net::TcpListener) -> TcpIncoming {
        TcpIncoming::from(listener).with_nodelay(Some(true))
    }

    /// A server builder with TLS when enabled. Serve it on
    /// [`Transport::incoming`], which sets `TCP_NODELAY` (the builder's own
    /// setting applies only to listeners the server binds itself).
    pub fn server(&self) -> Result<Server> {
        // Servers ping idle clients too, so a vanished client's streams end.
        let builder = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
        match &self.tls {
            None => Ok(builder),
            Some(tls) => builder
                .tls_config(
                    ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key)),
                )
                .map_err(|e| KilnError::Config {
                    key: SSL_CERT_FILE.into(),
                    message: format!("cannot use the certificate and key: {e}"),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_checks() {
        let s = Secret::new("  0123456789abcdef\n").expect("valid");
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcde"));
        assert!(!s.matches(b""));
        assert!(Secret::new("short").is_err());
        assert!(Secret::new("has a space in the middle").is_err());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let a = Secret::generate().expect("random");
        let b = Secret::generate().expect("random");
        assert_eq!(a.expose().len(), 64);
        assert!(!a.matches(b.expose().as_bytes()));
    }

    #[tokio::test]
    async fn accepted_connections_send_without_nagle() {
        use tokio_stream::StreamExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut incoming = Transport::incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let accepted = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(accepted.nodelay().expect("TCP_NODELAY readable"));
    }

    #[test]
    fn interceptors_agree() {
        let s = Secret::generate().expect("random");
        let mut attach = AttachSecret::new(&s).expect("header");
        let mut require = RequireSecret::new(s.clone());
        let ok = attach.call(Request::new(())).expect("attached");
        assert!(require.call(ok).is_ok());
        let missing = require.call(Request::new(())).expect_err("refused");
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let other = Secret::generate().expect("random");
        let wrong = AttachSecret::new(&other)
            .expect("header")
            .call(Request::new(()))
            .expect("attached");
        assert_eq!(
            require.call(wrong).expect_err("refused").code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn transport_settings() {
        let s = Secret::generate().expect("random");
        let mut conf = BTreeMap::new();
        let t = Transport::new(s.clone(), &conf).expect("defaults");
        assert_eq!(t.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(t.url("127.0.0.1", 80), "http://127.0.0.1:80");
        conf.insert(MAX_MESSAGE_SIZE.to_string(), "16m".to_string());
        let t = Transport::new(s.clone(), &conf).expect("16m");
        assert_eq!(t.max_message_bytes, 16 * 1024 * 1024);
        assert_eq!(
            t.settings().collect::<Vec<_>>(),
            vec!["kiln.rpc.maxMessageSize=16m"]
        );
        conf.insert(MAX_MESSAGE_SIZE.to_string(), "10".to_string());
        assert!(Transport::new(s.clone(), &conf).is_err());
        conf.remove(MAX_MESSAGE_SIZE);
        conf.insert(SSL_ENABLED.to_string(), "true".to_string());
        let err = Transport::new(s, &conf).expect_err("no cert");
        assert!(err.to_string().contains(SSL_CERT_FILE), "{err}");
    }
}
