//! Materialising a pod before its containers run: its loopback address
//! folder, volumes and the pod's own kubeconfig.

use serde_json::json;

use super::PodWorker;
use crate::node::NODE_IP;

impl PodWorker {
    pub(super) async fn prepare(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::volumes::materialise(&self.client, &self.pod, &self.dir, &self.ip, NODE_IP).await?;
        let automount = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.automount_service_account_token)
            .unwrap_or(true);
        if automount {
            let token = crate::volumes::request_token(&self.client, &self.pod, None, 86400).await?;
            let mut cluster = json!({"server": self.cfg.api_server});
            if let Some(ca) = &self.cfg.api_ca {
                cluster["certificate-authority"] = json!(ca);
            }
            let kc = json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kiln-test", "cluster": cluster}],
                "users": [{"name": "pod", "user": {"token": token}}],
                "contexts": [{"name": "pod", "context": {
                    "cluster": "kiln-test", "user": "pod", "namespace": self.ns()
                }}],
                "current-context": "pod",
            });
            let path = self.dir.join("kubeconfig");
            std::fs::write(&path, serde_json::to_vec_pretty(&kc)?)?;
        }
        Ok(())
    }
}
