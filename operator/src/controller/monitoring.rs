//! How an application's UI and metrics are reached: the driver's UI port
//! (`spark.ui.port`, 4040 by default) behind the Service's `ui` port, the
//! run's `status.uiURL`, and the Prometheus scrape annotations of
//! `spec.monitoring` (kubeflow's shape) on driver and executor pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::application::SparkApplication;

/// Spark's setting of the UI's port.
pub const UI_PORT_SETTING: &str = "spark.ui.port";
/// Spark's setting that turns the UI off.
pub const UI_ENABLED_SETTING: &str = "spark.ui.enabled";
/// The UI's port when `spark.ui.port` is not set (Spark's).
pub const DEFAULT_UI_PORT: i32 = 4040;
/// The executors' metrics port when `monitoring.prometheus.port` is not
/// set (kubeflow's default).
pub const DEFAULT_EXECUTOR_METRICS_PORT: i32 = 8090;
/// The environment variable naming that port in executor containers.
pub const ENV_EXECUTOR_METRICS_PORT: &str = "KILN_EXECUTOR_METRICS_PORT";
/// Annotation: scrape this pod.
pub const ANNOTATION_SCRAPE: &str = "prometheus.io/scrape";
/// Annotation: the port to scrape.
pub const ANNOTATION_PORT: &str = "prometheus.io/port";
/// Annotation: the path to scrape.
pub const ANNOTATION_PATH: &str = "prometheus.io/path";

/// The port the driver's UI listens on in its pod: `spark.ui.port` of
/// `conf` (a fixed port; `0`, "any free port", cannot sit behind a
/// Service and gives Spark's default).
pub fn ui_port(conf: &BTreeMap<String, String>) -> i32 {
    conf.get(UI_PORT_SETTING)
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|p| (1..=65535).contains(p))
        .unwrap_or(DEFAULT_UI_PORT)
}

/// Whether the driver serves a UI (`spark.ui.enabled` is not `false`).
pub fn ui_enabled(conf: &BTreeMap<String, String>) -> bool {
    !conf
        .get(UI_ENABLED_SETTING)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// `status.uiURL`: the live UI through the driver's Service `service` in
/// `namespace` (its `ui` port is `service_port`), when the driver serves one.
pub fn ui_url(
    conf: &BTreeMap<String, String>,
    service: &str,
    namespace: &str,
    service_port: i32,
) -> Option<String> {
    ui_enabled(conf).then(|| format!("http://{service}.{namespace}.svc:{service_port}/"))
}

/// The executors' metrics port of `spec.monitoring`.
pub fn executor_metrics_port(app: &SparkApplication) -> i32 {
    app.spec
        .monitoring
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .and_then(|p| p.port)
        .unwrap_or(DEFAULT_EXECUTOR_METRICS_PORT)
}

/// Adds the scrape annotations `spec.monitoring` asks for to a driver pod
/// (its `/metrics` is on the UI port) or an executor pod (on the
/// executors' metrics port, also given to the container as
/// [`ENV_EXECUTOR_METRICS_PORT`]). The user's own annotations win.
pub fn annotate(
    app: &SparkApplication,
    conf: &BTreeMap<String, String>,
    pod: &mut Pod,
    driver: bool,
) {
    let Some(m) = &app.spec.monitoring else {
        return;
    };
    let port = match (driver, m.expose_driver_metrics, m.expose_executor_metrics) {
        (true, true, _) if ui_enabled(conf) => ui_port(conf),
        (false, _, true) => {
            let port = executor_metrics_port(app);
            if let Some(spec) = pod.spec.as_mut() {
                for c in &mut spec.containers {
                    c.env
                        .get_or_insert_with(Vec::new)
                        .push(k8s_openapi::api::core::v1::EnvVar {
                            name: ENV_EXECUTOR_METRICS_PORT.into(),
                            value: Some(port.to_string()),
                            ..Default::default()
                        });
                }
            }
            port
        }
        _ => return,
    };
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in [
        (ANNOTATION_SCRAPE, "true".to_string()),
        (ANNOTATION_PORT, port.to_string()),
        (ANNOTATION_PATH, "/metrics".to_string()),
    ] {
        annotations.entry(k.to_string()).or_insert(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{Monitoring, PrometheusSpec, SparkApplicationSpec};

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({"spec": {"containers": [{"name": "c"}]}}))
            .unwrap()
    }

    #[test]
    fn the_ui_port_follows_spark_ui_port() {
        let mut conf = BTreeMap::new();
        assert_eq!(ui_port(&conf), 4040);
        conf.insert(UI_PORT_SETTING.into(), "4100".into());
        assert_eq!(ui_port(&conf), 4100);
        conf.insert(UI_PORT_SETTING.into(), "0".into());
        assert_eq!(ui_port(&conf), 4040);
        assert_eq!(
            ui_url(&conf, "q-ui-svc", "team", 4040).as_deref(),
            Some("http://q-ui-svc.team.svc:4040/")
        );
        conf.insert(UI_ENABLED_SETTING.into(), "false".into());
        assert_eq!(ui_url(&conf, "q-ui-svc", "team", 4040), None);
    }

    #[test]
    fn monitoring_annotates_the_pods_it_names() {
        let mut app = SparkApplication::new("q", SparkApplicationSpec::default());
        let conf = BTreeMap::from([(UI_PORT_SETTING.to_string(), "4100".to_string())]);
        let mut d = pod();
        annotate(&app, &conf, &mut d, true);
        assert!(
            d.metadata.annotations.is_none(),
            "no monitoring, no annotations"
        );
        app.spec.monitoring = Some(Monitoring {
            expose_driver_metrics: true,
            expose_executor_metrics: false,
            prometheus: Some(PrometheusSpec {
                port: Some(9100),
                ..PrometheusSpec::default()
            }),
            ..Monitoring::default()
        });
        annotate(&app, &conf, &mut d, true);
        let a = d.metadata.annotations.clone().unwrap();
        assert_eq!(a[ANNOTATION_SCRAPE], "true");
        assert_eq!(a[ANNOTATION_PORT], "4100");
        assert_eq!(a[ANNOTATION_PATH], "/metrics");
        let mut e = pod();
        annotate(&app, &conf, &mut e, false);
        assert!(e.metadata.annotations.is_none(), "executors not asked for");
        if let Some(m) = app.spec.monitoring.as_mut() {
            m.expose_executor_metrics = true;
        }
        annotate(&app, &conf, &mut e, false);
        assert_eq!(e.metadata.annotations.unwrap()[ANNOTATION_PORT], "9100");
        let env = e.spec.unwrap().containers[0].env.clone().unwrap();
        assert_eq!(env[0].name, ENV_EXECUTOR_METRICS_PORT);
        assert_eq!(env[0].value.as_deref(), Some("9100"));
    }
}
