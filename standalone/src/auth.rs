//! The cluster secret (Spark's `spark.authenticate.secret`): when the
//! master has one, every worker and application must present it. It is
//! distinct from each application's own secret, which only its driver and
//! executors share.

use std::path::Path;

use kiln_core::security::{AttachSecret, Secret, AUTH_HEADER};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::{Result, StandaloneError};

/// Spark's setting of the cluster secret.
pub const SECRET_SETTING: &str = "spark.authenticate.secret";
/// Environment variable with the cluster secret (for processes that get no
/// `--conf`, like a worker in a container).
pub const SECRET_ENV: &str = "KILN_CLUSTER_SECRET";

/// The cluster secret from a file, a setting or the environment, in that
/// order; `None` when none is given (the cluster is open).
pub fn cluster_secret(file: Option<&Path>, setting: Option<&str>) -> Result<Option<Secret>> {
    let bad = |e: kiln_core::KilnError| StandaloneError::Config(format!("cluster secret: {e}"));
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StandaloneError::io(format!("cannot read secret file {}", path.display()), e)
        })?;
        return Secret::new(&text).map(Some).map_err(bad);
    }
    if let Some(s) = setting {
        return Secret::new(s).map(Some).map_err(bad);
    }
    match std::env::var(SECRET_ENV) {
        Ok(s) if !s.trim().is_empty() => Secret::new(&s).map(Some).map_err(bad),
        _ => Ok(None),
    }
}

/// Server side: refuses calls that do not carry the cluster secret.
#[derive(Clone, Debug)]
pub struct RequireClusterSecret(pub Option<Secret>);

impl tonic::service::Interceptor for RequireClusterSecret {
    fn call(&mut self, request: Request<()>) -> std::result::Result<Request<()>, Status> {
        let Some(secret) = &self.0 else {
            return Ok(request);
        };
        let Some(value) = request.metadata().get(AUTH_HEADER) else {
            return Err(Status::unauthenticated(format!(
                "this master requires the cluster secret; set {SECRET_SETTING} (or --secret-file, or {SECRET_ENV})"
            )));
        };
        let token = value
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .unwrap_or(value.as_bytes());
        if secret.matches(token) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(format!(
                "wrong cluster secret: it is not the master's {SECRET_SETTING}"
            )))
        }
    }
}

/// Client side: adds the cluster secret, when there is one.
#[derive(Clone, Debug)]
pub struct AttachClusterSecret(Option<AttachSecret>);

impl tonic::service::Interceptor for AttachClusterSecret {
    fn call(&mut self, request: Request<()>) -> std::result::Result<Request<()>, Status> {
        match &mut self.0 {
            Some(a) => a.call(request),
            None => Ok(request),
        }
    }
}

/// A gRPC client of the master.
pub type MasterClient =
    crate::proto::master_client::MasterClient<InterceptedService<Channel, AttachClusterSecret>>;

/// A lazily connecting client of the master at `url` that carries `secret`.
pub fn master_client(url: &str, secret: Option<&Secret>) -> Result<MasterClient> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| StandaloneError::Config(format!("master address `{url}`: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10));
    let attach = AttachClusterSecret(secret.map(AttachSecret::new).transpose()?);
    Ok(crate::proto::master_client::MasterClient::with_interceptor(
        endpoint.connect_lazy(),
        attach,
    ))
}
