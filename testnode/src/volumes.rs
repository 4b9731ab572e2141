//! Materialises a pod's volumes as plain folders and makes its mount paths
//! reachable under a per-container root.
//!
//! Mount-path mechanism: containers run as ordinary processes in the host's
//! filesystem, so a volume cannot appear at its real `mountPath`. Instead:
//! - each volume is a folder `<pod>/volumes/<volume>/`;
//! - each container gets a root `<pod>/containers/<name>/root/`, and every
//!   `volumeMount` becomes a symlink `<root>/<mountPath>` -> the volume folder
//!   (or its `subPath`);
//! - the process gets `KILN_MOUNT_ROOT=<root>`; Kiln's binaries prefix absolute
//!   paths they read or write under known mount points with it, and shell
//!   commands in tests write `$KILN_MOUNT_ROOT/etc/foo`.
//!
//! Nothing is rewritten behind a program's back: a program that ignores
//! `KILN_MOUNT_ROOT` sees host paths.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    ServiceAccount, Volume,
};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

/// Requests a token for the pod's service account, bound to the pod so it is
/// revoked when the pod goes away.
pub async fn request_token(
    client: &kube::Client,
    pod: &Pod,
    audience: Option<&str>,
    expiration_seconds: i64,
) -> anyhow::Result<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let mut spec = json!({
        "expirationSeconds": expiration_seconds,
        "boundObjectRef": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.metadata.name,
            "uid": pod.metadata.uid,
        }
    });
    if let Some(a) = audience {
        spec["audiences"] = json!([a]);
    }
    let tr: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": spec,
    }))?;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let out = api
        .create_token_request(&sa, &PostParams::default(), &tr)
        .await
        .with_context(|| format!("TokenRequest for serviceaccount {ns}/{sa}"))?;
    out.status
        .and_then(|s| s.token)
        .context("TokenRequest returned no token")
}

fn write_file(dir: &Path, rel: &str, data: &[u8], mode: Option<i32>) -> anyhow::Result<()> {
    if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
        bail!("invalid volume item path {rel:?}");
    }
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m as u32))?;
    }
    Ok(())
}

/// Writes `entries` (key -> bytes) into `dir`, honouring `items` selection.
fn write_keys(
    dir: &Path,
    entries: &std::collections::BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    what: &str,
) -> anyhow::Result<()> {
    match items {
        Some(items) => {
            for it in items {
                let data = entries
                    .get(&it.key)
                    .with_context(|| format!("{what} has no key {:?}", it.key))?;
                write_file(dir, &it.path, data, it.mode.or(default_mode))?;
            }
        }
        None => {
            for (k, v) in entries {
                write_file(dir, k, v, default_mode)?;
            }
        }
    }
    Ok(())
}

async fn config_map_entries(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> anyhow::Result<Option<std::collections::BTreeMap<String, Vec<u8>>>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    Ok(api.get_opt(name).await?.map(|cm| {
        let mut m: std::collections::BTreeMap<String, Vec<u8>> = cm
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        for (k, v) in cm.binary_data.unwrap_or_default() {
            m.insert(k, v.0);
        }
        m
    }))
}

async fn secret_entries(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> anyhow::Result<Option<std::collections::BTreeMap<String, Vec<u8>>>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    Ok(api.get_opt(name).await?.map(|s| {
        let mut m: std::collections::BTreeMap<String, Vec<u8>> = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in s.string_data.unwrap_or_default() {
            m.insert(k, v.into_bytes());
        }
        m
    }))
}

/// The host folder of PersistentVolumeClaim `name` in `ns`: the `hostPath`
/// or `local` path of the PersistentVolume it names in `spec.volumeName`
/// (this node runs no volume plugins; claims are bound statically).
async fn claim_path(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let Some(claim) = claims.get_opt(name).await? else {
        bail!("persistentVolumeClaim {name:?} not found in namespace {ns:?}");
    };
    let Some(volume) = claim
        .spec
        .and_then(|s| s.volume_name)
        .filter(|v| !v.is_empty())
    else {
        bail!(
            "persistentVolumeClaim {name:?} names no volume (kiln-testnode needs spec.volumeName)"
        );
    };
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let Some(pv) = volumes.get_opt(&volume).await? else {
        bail!("persistentVolume {volume:?} of claim {name:?} not found");
    };
    let spec = pv.spec.unwrap_or_default();
    match (spec.host_path, spec.local) {
        (Some(h), _) => Ok(PathBuf::from(h.path)),
        (None, Some(l)) => Ok(PathBuf::from(l.path)),
        _ => bail!(
            "persistentVolume {volume:?}: kiln-testnode mounts only hostPath and local volumes"
        ),
    }
}

/// Creates `<pod_dir>/volumes/<name>` for every volume in the pod.
pub async fn materialise(
    client: &kube::Client,
    pod: &Pod,
    pod_dir: &Path,
    pod_ip: &str,
    host_ip: &str,
) -> anyhow::Result<()> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let vols: &[Volume] = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or(&[]);
    for v in vols {
        let dir = pod_dir.join("volumes").join(&v.name);
        if v.host_path.is_some() {
            continue; // a symlink to the host path is made at mount time
        }
        if let Some(claim) = &v.persistent_volume_claim {
            // The claim's volume is a folder on this host: the volume
            // folder is a link to it, shared by every pod mounting it.
            let target = claim_path(client, &ns, &claim.claim_name).await?;
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let _ = std::fs::remove_file(&dir);
            std::os::unix::fs::symlink(&target, &dir)
                .with_context(|| format!("linking {} -> {}", dir.display(), target.display()))?;
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        if v.empty_dir.is_some() {
            continue;
        }
        if let Some(cm) = &v.config_map {
            match config_map_entries(client, &ns, &cm.name).await? {
                Some(e) => write_keys(&dir, &e, cm.items.as_ref(), cm.default_mode, &cm.name)?,
                None if cm.optional.unwrap_or(false) => {}
                None => bail!("configmap {:?} not found", cm.name),
            }
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            match secret_entries(client, &ns, &name).await? {
                Some(e) => write_keys(&dir, &e, s.items.as_ref(), s.default_mode, &name)?,
                None if s.optional.unwrap_or(false) => {}
                None => bail!("secret {name:?} not found"),
            }
        } else if let Some(d) = &v.downward_api {
            for it in d.items.iter().flatten() {
                if let Some(f) = &it.field_ref {
                    let val = crate::env::field_ref(pod, pod_ip, host_ip, &f.field_path)?;
                    write_file(&dir, &it.path, val.as_bytes(), it.mode.or(d.default_mode))?;
                }
            }
        } else if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                if let Some(t) = &src.service_account_token {
                    let token = request_token(
                        client,
                        pod,
                        t.audience.as_deref(),
                        t.expiration_seconds.unwrap_or(3600),
                    )
                    .await?;
                    write_file(&dir, &t.path, token.as_bytes(), p.default_mode)?;
                }
                if let Some(cm) = &src.config_map {
                    match config_map_entries(client, &ns, &cm.name).await? {
                        Some(e) => {
                            write_keys(&dir, &e, cm.items.as_ref(), p.default_mode, &cm.name)?
                        }
                        None if cm.optional.unwrap_or(false) => {}
                        None => bail!("configmap {:?} not found", cm.name),
                    }
                }
                if let Some(s) = &src.secret {
                    match secret_entries(client, &ns, &s.name).await? {
                        Some(e) => write_keys(&dir, &e, s.items.as_ref(), p.default_mode, &s.name)?,
                        None if s.optional.unwrap_or(false) => {}
                        None => bail!("secret {:?} not found", s.name),
                    }
                }
                if let Some(d) = &src.downward_api {
                    for it in d.items.iter().flatten() {
                        if let Some(f) = &it.field_ref {
                            let val = crate::env::field_ref(pod, pod_ip, host_ip, &f.field_path)?;
                            write_file(&dir, &it.path, val.as_bytes(), it.mode.or(p.default_mode))?;
                        }
                    }
                }
            }
        } else {
            bail!(
                "volume {:?}: unsupported volume type on kiln-testnode",
                v.name
            );
        }
    }
    Ok(())
}

/// Builds `<pod_dir>/containers/<c>/root` with one symlink per volume mount and
/// returns that root (the container's `KILN_MOUNT_ROOT`).
pub fn mount_root(pod: &Pod, pod_dir: &Path, c: &Container) -> anyhow::Result<PathBuf> {
    let root = pod_dir.join("containers").join(&c.name).join("root");
    std::fs::create_dir_all(&root)?;
    let vols: &[Volume] = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or(&[]);
    for m in c.volume_mounts.iter().flatten() {
        let v = vols
            .iter()
            .find(|v| v.name == m.name)
            .with_context(|| format!("volumeMount {:?} names no volume", m.name))?;
        let mut target = match &v.host_path {
            Some(h) => PathBuf::from(&h.path),
            None => pod_dir.join("volumes").join(&v.name),
        };
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sp.starts_with('/') || sp.split('/').any(|c| c == "..") {
                bail!("invalid subPath {sp:?}");
            }
            target = target.join(sp);
            if v.empty_dir.is_some() {
                std::fs::create_dir_all(&target)?;
            }
        }
        let rel = m.mount_path.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            bail!("invalid mountPath {:?}", m.mount_path);
        }
        let link = root.join(rel);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("linking {} -> {}", link.display(), target.display()))?;
    }
    Ok(root)
}
