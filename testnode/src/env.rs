//! Builds a container's environment the way kubelet does: `envFrom`
//! (ConfigMaps, Secrets, with prefixes), then `env` entries in order (literal
//! values with `$(VAR)` expansion, `configMapKeyRef`, `secretKeyRef`,
//! downward-API `fieldRef`s and `resourceFieldRef`s).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::Api;

/// Resolves a downward-API field path against the pod (with the IP the node
/// gave it, which may not be in `pod.status` yet).
pub fn field_ref(pod: &Pod, pod_ip: &str, host_ip: &str, path: &str) -> anyhow::Result<String> {
    let md = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str| -> Option<String> {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['").or_else(|| r.strip_prefix("[\"")))
            .and_then(|r| r.strip_suffix("']").or_else(|| r.strip_suffix("\"]")))
            .map(str::to_string)
    };
    let fmt_map = |m: Option<&BTreeMap<String, String>>| {
        m.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => md.name.clone().unwrap_or_default(),
        "metadata.namespace" => md.namespace.clone().unwrap_or_default(),
        "metadata.uid" => md.uid.clone().unwrap_or_default(),
        "metadata.labels" => fmt_map(md.labels.as_ref()),
        "metadata.annotations" => fmt_map(md.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                md.labels
                    .as_ref()
                    .and_then(|m| m.get(&k))
                    .cloned()
                    .unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations") {
                md.annotations
                    .as_ref()
                    .and_then(|m| m.get(&k))
                    .cloned()
                    .unwrap_or_default()
            } else {
                bail!("unsupported fieldRef {path}")
            }
        }
    })
}

/// Resolves `limits.cpu` and friends. Without a value, kubelet reports the
/// node's allocatable; we report the node's capacity as given in the config.
pub fn resource_field_ref(c: &Container, resource: &str, node_cpu: &str, node_mem: &str) -> String {
    let r = c.resources.as_ref();
    let (kind, key) = resource.split_once('.').unwrap_or(("limits", resource));
    let q = match kind {
        "requests" => r.and_then(|r| r.requests.as_ref()).and_then(|m| m.get(key)),
        _ => r.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(key)),
    }
    .map(|q| q.0.clone());
    match key {
        "cpu" => {
            let m = crate::scheduler::cpu_millis(q.as_deref().unwrap_or(node_cpu));
            ((m + 999) / 1000).max(1).to_string()
        }
        "memory" => crate::scheduler::mem_bytes(q.as_deref().unwrap_or(node_mem)).to_string(),
        _ => q.unwrap_or_default(),
    }
}

/// Expands `$(VAR)` references against variables defined so far; `$$` escapes.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(j) => {
                    let name = &inner[..j];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[j + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn bytes_to_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The variables a container's spec defines, in the order kubelet applies them.
pub async fn container_env(
    client: &kube::Client,
    pod: &Pod,
    c: &Container,
    pod_ip: &str,
    host_ip: &str,
    node_cpu: &str,
    node_mem: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mut vars = BTreeMap::new();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match cms.get_opt(&r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.into_iter().flatten() {
                        vars.insert(format!("{prefix}{k}"), v);
                    }
                }
                None if optional => {}
                None => bail!("configmap {:?} not found", r.name),
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match secrets.get_opt(&r.name).await? {
                Some(s) => {
                    for (k, v) in s.data.into_iter().flatten() {
                        vars.insert(format!("{prefix}{k}"), bytes_to_string(&v.0));
                    }
                    for (k, v) in s.string_data.into_iter().flatten() {
                        vars.insert(format!("{prefix}{k}"), v);
                    }
                }
                None if optional => {}
                None => bail!("secret {:?} not found", r.name),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(src) = &e.value_from {
            if let Some(f) = &src.field_ref {
                field_ref(pod, pod_ip, host_ip, &f.field_path)?
            } else if let Some(r) = &src.resource_field_ref {
                resource_field_ref(c, &r.resource, node_cpu, node_mem)
            } else if let Some(k) = &src.config_map_key_ref {
                let cm = cms.get_opt(&k.name).await?;
                match cm.and_then(|cm| cm.data.and_then(|d| d.get(&k.key).cloned())) {
                    Some(v) => v,
                    None if k.optional.unwrap_or(false) => continue,
                    None => bail!("configmap key {}/{} not found", k.name, k.key),
                }
            } else if let Some(k) = &src.secret_key_ref {
                let s = secrets.get_opt(&k.name).await?;
                match s.and_then(|s| s.data.and_then(|d| d.get(&k.key).map(|b| b.0.clone()))) {
                    Some(v) => bytes_to_string(&v),
                    None if k.optional.unwrap_or(false) => continue,
                    None => bail!("secret key {}/{} not found", k.name, k.key),
                }
            } else {
                bail!("env {} has an unsupported valueFrom", e.name)
            }
        } else {
            expand(e.value.as_deref().unwrap_or(""), &vars)
        };
        vars.insert(e.name.clone(), value);
    }
    Ok(vars)
}

/// Expands `$(VAR)` in command and args as kubelet does.
pub fn expand_all(items: &[String], vars: &BTreeMap<String, String>) -> Vec<String> {
    items.iter().map(|s| expand(s, vars)).collect()
}

/// Looks up a program on a PATH string.
pub fn which(prog: &str, path: &str) -> anyhow::Result<std::path::PathBuf> {
    if prog.contains('/') {
        return Ok(prog.into());
    }
    path.split(':')
        .map(|d| std::path::Path::new(d).join(prog))
        .find(|p| p.is_file())
        .with_context(|| format!("executable {prog:?} not found on PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_vars() {
        let mut v = BTreeMap::new();
        v.insert("A".to_string(), "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &v), "x-$(B)-$(A)-$");
    }
}
