//! Key material for one test cluster, made with the `openssl` CLI: a CA, the
//! API server's and the node's serving certificates (IP SAN 127.0.0.1), the
//! service-account signing key pair, and a random admin bearer token in a
//! static token file (`system:masters`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub kubelet_cert: PathBuf,
    pub kubelet_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
    pub token_file: PathBuf,
    pub admin_token: String,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `openssl req <what>` with a new P-256 key written to `key`: `-new` writes
/// a signing request to `out`, `-x509` a self-signed certificate.
fn new_key(dir: &Path, what: &str, key: &str, out: &str, rest: &[&str]) -> Result<()> {
    let mut args = vec![
        "req",
        what,
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        out,
    ];
    args.extend_from_slice(rest);
    openssl(dir, &args)
}

/// Issues `<name>.crt`/`<name>.key` signed by the CA, for server auth.
fn leaf(dir: &Path, name: &str, cn: &str, sans: &str) -> Result<()> {
    let ext = format!(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n"
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext)?;
    new_key(
        dir,
        "-new",
        &format!("{name}.key"),
        &format!("{name}.csr"),
        &["-subj", &format!("/CN={cn}")],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "7",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    )
}

pub fn generate(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir)?;
    new_key(
        dir,
        "-x509",
        "ca.key",
        "ca.crt",
        &["-days", "7", "-subj", "/CN=kiln-testcluster-ca"],
    )?;
    leaf(
        dir,
        "apiserver",
        "kube-apiserver",
        "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
    )?;
    leaf(
        dir,
        "kubelet",
        "kiln-testnode",
        "IP:127.0.0.1,DNS:localhost,DNS:kiln-testnode",
    )?;
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "sa.key",
        ],
    )?;
    openssl(dir, &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
    let mut raw = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    let admin_token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let token_file = dir.join("tokens.csv");
    std::fs::write(
        &token_file,
        format!("{admin_token},admin,kiln-admin,\"system:masters\"\n"),
    )?;
    Ok(Pki {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        apiserver_cert: dir.join("apiserver.crt"),
        apiserver_key: dir.join("apiserver.key"),
        kubelet_cert: dir.join("kubelet.crt"),
        kubelet_key: dir.join("kubelet.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
        token_file,
        admin_token,
    })
}

/// Writes a kubeconfig (JSON, which is valid YAML) using a bearer token.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    token: &str,
    user: &str,
) -> Result<()> {
    let kc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kiln-test", "cluster": {
            "server": server, "certificate-authority": ca
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kiln-test", "context": {"cluster": "kiln-test", "user": user}}],
        "current-context": "kiln-test",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&kc)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pki_verifies_against_its_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = super::generate(dir.path()).expect("generate");
        for cert in [&pki.apiserver_cert, &pki.kubelet_cert] {
            let out = std::process::Command::new("openssl")
                .arg("verify")
                .arg("-CAfile")
                .arg(&pki.ca_cert)
                .arg(cert)
                .output()
                .expect("openssl verify");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(pki.sa_pub.exists() && pki.token_file.exists());
    }
}
