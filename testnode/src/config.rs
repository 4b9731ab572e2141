//! Node configuration: command-line flags (each also readable from an env var)
//! and the mapping from container images to local binaries.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kiln-testnode",
    about = "Test-only process-based Kubernetes node"
)]
pub struct Args {
    /// Kubeconfig with rights to manage nodes and pods (the harness's admin one).
    #[arg(long, env = "KILN_TESTNODE_KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Node name.
    #[arg(long, env = "KILN_TESTNODE_NAME", default_value = "kiln-testnode")]
    pub name: String,
    /// CPU capacity in cores.
    #[arg(long, env = "KILN_TESTNODE_CPU", default_value = "8")]
    pub cpu: String,
    /// Memory capacity (Kubernetes quantity).
    #[arg(long, env = "KILN_TESTNODE_MEMORY", default_value = "16Gi")]
    pub memory: String,
    /// Folder for pod folders (volumes, logs, kubeconfigs).
    #[arg(long, env = "KILN_TESTNODE_ROOT")]
    pub root: PathBuf,
    /// First two octets of pod IPs, e.g. `127.23`: pods get 127.23.X.Y.
    #[arg(long, env = "KILN_TESTNODE_POD_IP_PREFIX", default_value = "127.42")]
    pub pod_ip_prefix: String,
    /// Image mappings `SUBSTRING=/path/to/binary`, comma separated: a container
    /// whose image contains SUBSTRING runs that binary.
    #[arg(
        long,
        env = "KILN_TESTNODE_IMAGES",
        default_value = "",
        value_delimiter = ','
    )]
    pub images: Vec<String>,
    /// Port of the kubelet-style HTTPS endpoint (logs); 0 disables it.
    #[arg(long, env = "KILN_TESTNODE_KUBELET_PORT", default_value = "0")]
    pub kubelet_port: u16,
    /// TLS certificate (PEM) for the kubelet endpoint.
    #[arg(long, env = "KILN_TESTNODE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM) for the kubelet endpoint.
    #[arg(long, env = "KILN_TESTNODE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// API server URL written into pods' kubeconfigs (default: the one in --kubeconfig).
    #[arg(long, env = "KILN_TESTNODE_API_SERVER")]
    pub api_server: Option<String>,
    /// CA file written into pods' kubeconfigs.
    #[arg(long, env = "KILN_TESTNODE_API_CA")]
    pub api_ca: Option<PathBuf>,
    /// Extra folders put in front of PATH for pod processes.
    #[arg(long, env = "KILN_TESTNODE_EXTRA_PATH", default_value = "")]
    pub extra_path: String,
}

/// One image -> binary mapping.
#[derive(Debug, Clone)]
pub struct ImageMapping {
    pub image_contains: String,
    pub binary: PathBuf,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub cpu: String,
    pub memory: String,
    pub root: PathBuf,
    pub pod_ip_prefix: String,
    pub images: Vec<ImageMapping>,
    pub kubelet_port: u16,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub kubeconfig: PathBuf,
    pub api_server: String,
    pub api_ca: Option<PathBuf>,
    pub extra_path: String,
}

impl NodeConfig {
    pub fn from_args(a: Args) -> anyhow::Result<Self> {
        let mut images = Vec::new();
        for m in a.images.iter().filter(|s| !s.trim().is_empty()) {
            let (k, v) = m
                .split_once('=')
                .with_context(|| format!("image mapping {m:?} is not SUBSTRING=PATH"))?;
            images.push(ImageMapping {
                image_contains: k.trim().to_string(),
                binary: PathBuf::from(v.trim()),
            });
        }
        let kc = kube::config::Kubeconfig::read_from(&a.kubeconfig)
            .with_context(|| format!("reading {}", a.kubeconfig.display()))?;
        let api_server = match a.api_server {
            Some(s) => s,
            None => kc
                .clusters
                .first()
                .and_then(|c| c.cluster.as_ref())
                .and_then(|c| c.server.clone())
                .context("kubeconfig has no cluster server")?,
        };
        let api_ca = a.api_ca.or_else(|| {
            kc.clusters
                .first()
                .and_then(|c| c.cluster.as_ref())
                .and_then(|c| c.certificate_authority.clone())
                .map(PathBuf::from)
        });
        std::fs::create_dir_all(&a.root)
            .with_context(|| format!("creating {}", a.root.display()))?;
        Ok(Self {
            name: a.name,
            cpu: a.cpu,
            memory: a.memory,
            root: a.root,
            pod_ip_prefix: a.pod_ip_prefix,
            images,
            kubelet_port: a.kubelet_port,
            tls_cert: a.tls_cert,
            tls_key: a.tls_key,
            kubeconfig: a.kubeconfig,
            api_server,
            api_ca,
            extra_path: a.extra_path,
        })
    }

    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// The local binary for `image`, if a mapping matches.
    pub fn binary_for(&self, image: &str) -> Option<&Path> {
        self.images
            .iter()
            .find(|m| image.contains(&m.image_contains))
            .map(|m| m.binary.as_path())
    }
}
