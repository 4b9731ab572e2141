//! Kiln's standalone deploy mode (Spark's `spark://` cluster): a master
//! process that keeps the workers and the applications and allocates
//! executors ([`master`], [`state`], [`recovery`], [`webui`]), worker
//! processes that run the executors it assigns them ([`worker`]), and the
//! driver's side, a cluster manager that asks the master for executors
//! ([`application`]). Everything talks gRPC (`proto/standalone.proto`),
//! guarded by an optional cluster secret ([`auth`]).

pub mod application;
pub mod auth;
pub mod master;
pub mod recovery;
pub mod shared;
pub mod state;
pub mod webui;
pub mod worker;

/// The generated gRPC types and services of `proto/standalone.proto`.
pub mod proto {
    tonic::include_proto!("kiln.standalone");
}

/// Spark's default port of a standalone master.
pub const DEFAULT_MASTER_PORT: u16 = 7077;

/// Errors of the standalone cluster's processes.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// A `kiln://host:port` URL that is not one.
    #[error(
        "master URL `{url}`: {message} (expected kiln://HOST:PORT, e.g. kiln://10.0.0.5:7077)"
    )]
    MasterUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The master could not be reached.
    #[error("cannot reach the master at {url}: {message}; is `kiln master` running there, and is the port open?")]
    Unreachable {
        /// The master's URL.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The master refused the call (wrong secret, a request no worker can meet).
    #[error("the master at {url} refused: {message}")]
    Refused {
        /// The master's URL.
        url: String,
        /// The master's reason.
        message: String,
    },
    /// A setting or argument that is wrong.
    #[error("{0}")]
    Config(String),
    /// A file or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// An error of Kiln's core (secrets, transport settings).
    #[error(transparent)]
    Core(#[from] kiln_core::KilnError),
}

/// Result of the standalone modules.
pub type Result<T> = std::result::Result<T, StandaloneError>;

impl StandaloneError {
    /// A failed call to the master at `url`: unreachable or refused.
    pub fn from_status(url: &str, status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                StandaloneError::Unreachable {
                    url: url.to_string(),
                    message: status.message().to_string(),
                }
            }
            _ => StandaloneError::Refused {
                url: url.to_string(),
                message: status.message().to_string(),
            },
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StandaloneError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A master's address: `kiln://HOST:PORT` (`spark://` is accepted too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterUrl {
    /// Host name or IP.
    pub host: String,
    /// gRPC port.
    pub port: u16,
}

impl MasterUrl {
    /// Parses `kiln://HOST[:PORT]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |message: &str| StandaloneError::MasterUrl {
            url: text.to_string(),
            message: message.to_string(),
        };
        let rest = text
            .strip_prefix("kiln://")
            .or_else(|| text.strip_prefix("spark://"))
            .ok_or_else(|| bad("it does not start with kiln://"))?;
        let parsed = url::Url::parse(&format!("http://{rest}")).map_err(|e| bad(&e.to_string()))?;
        if parsed.path() != "/" || parsed.query().is_some() {
            return Err(bad("it has a path; give only host and port"));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(MasterUrl {
            host,
            port: parsed.port().unwrap_or(DEFAULT_MASTER_PORT),
        })
    }

    /// The gRPC URL of the master.
    pub fn grpc(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for MasterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kiln://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_urls() {
        let m = MasterUrl::parse("kiln://127.0.0.5:7077").unwrap();
        assert_eq!((m.host.as_str(), m.port), ("127.0.0.5", 7077));
        assert_eq!(MasterUrl::parse("spark://node1").unwrap().port, 7077);
        assert_eq!(m.grpc(), "http://127.0.0.5:7077");
        let e = MasterUrl::parse("http://x:1").unwrap_err().to_string();
        assert!(e.contains("does not start with kiln://"), "{e}");
        assert!(MasterUrl::parse("kiln://h:99999").is_err());
    }
}
