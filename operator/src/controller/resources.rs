//! The objects the operator creates for an application, built from its spec:
//! the driver's ServiceAccount, Role and RoleBinding, the Secret shared by
//! driver and executors, the ConfigMap with the job, the driver pod and its
//! Service, and executor pods. Every one carries the application's labels and
//! an owner reference to it, so deleting the application deletes them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde_json::{json, Value};

use super::names::{self, LABEL_EXECUTOR_ID, LABEL_ROLE, LABEL_RUN, ROLE_DRIVER, ROLE_EXECUTOR};
use super::tls;
use super::{monitoring, ControllerError};
use crate::application::{ApplicationType, PodSettings, SparkApplication, SparkApplicationSpec};

/// The driver's gRPC port (executors connect to it).
pub const DRIVER_PORT: i32 = 7078;
/// The driver's UI port (on its Service).
pub const UI_PORT: i32 = 4040;
/// The Spark Connect port of a Connect application's driver (on its Service).
pub const CONNECT_PORT: i32 = 15002;
/// Where the job ConfigMap is mounted in the driver container.
pub const JOB_DIR: &str = "/etc/kiln/job";
/// Key of the job manifest in the ConfigMap.
pub const JOB_KEY: &str = "app.yaml";
/// Key of the secret in the Secret.
pub const SECRET_KEY: &str = "secret";
/// Working directory (an `emptyDir`) of driver and executor containers.
pub const WORK_DIR: &str = "/var/lib/kiln";
/// Environment of the driver naming its application (for status reports).
pub const ENV_APP_NAME: &str = "KILN_APPLICATION_NAME";
/// Environment of the driver naming its application's namespace.
pub const ENV_APP_NAMESPACE: &str = "KILN_APPLICATION_NAMESPACE";

/// An owner reference to `app` that makes it the controller of the object.
pub fn owner_ref(app: &SparkApplication) -> Result<OwnerReference, ControllerError> {
    app.controller_owner_ref(&())
        .ok_or_else(|| ControllerError::Invalid("the application has no uid yet".into()))
}

fn meta(app: &SparkApplication, name: String, extra: BTreeMap<String, String>) -> ObjectMeta {
    let mut labels = names::base_labels(&app.name_any());
    labels.extend(extra);
    ObjectMeta {
        name: Some(name),
        namespace: app.namespace(),
        labels: Some(labels),
        owner_references: app.controller_owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T, ControllerError> {
    serde_json::from_value(v).map_err(|e| ControllerError::Invalid(format!("{what}: {e}")))
}

/// The driver's own ServiceAccount.
pub fn service_account(app: &SparkApplication) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(app, names::driver_account(&app.name_any()), BTreeMap::new()),
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    }
}

/// The driver's Role: read and watch its own application, patch its status,
/// read pod logs (to archive its executors'); nothing else (no pods, no
/// other applications).
pub fn role(app: &SparkApplication) -> Result<Role, ControllerError> {
    let name = app.name_any();
    let mut role: Role = from_json(
        "role",
        json!({
            "rules": [
                {"apiGroups": [crate::GROUP], "resources": ["sparkapplications"],
                 "resourceNames": [name], "verbs": ["get", "watch"]},
                {"apiGroups": [crate::GROUP], "resources": ["sparkapplications/status"],
                 "resourceNames": [name], "verbs": ["get", "patch"]},
                // Its own and its executors' logs, archived with the event
                // log at the end. Executor pod names depend on the run and
                // on replacements, so they cannot be listed here: the
                // logs of the namespace's pods, read only, and nothing
                // else of pods.
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            ]
        }),
    )?;
    role.metadata = meta(app, names::driver_account(&name), BTreeMap::new());
    Ok(role)
}

/// Binds the driver's Role to its ServiceAccount.
pub fn role_binding(app: &SparkApplication) -> Result<RoleBinding, ControllerError> {
    let account = names::driver_account(&app.name_any());
    let mut rb: RoleBinding = from_json(
        "role binding",
        json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account,
                          "namespace": app.namespace().unwrap_or_default()}],
        }),
    )?;
    rb.metadata = meta(app, account, BTreeMap::new());
    Ok(rb)
}

/// What the application's Secret holds for one run: the driver-executor
/// secret, the TLS files (unless TLS is off), the sensitive settings as JSON
/// and the S3 credentials among them as AWS variables.
pub fn secret_data(
    app: &SparkApplication,
    value: &str,
    cert: Option<&tls::AppCertificate>,
) -> Result<BTreeMap<String, String>, ControllerError> {
    let (_, sensitive) = tls::split_conf(merged_conf(app));
    let mut data = BTreeMap::from([
        (SECRET_KEY.to_string(), value.to_string()),
        (
            tls::CONF_KEY.to_string(),
            serde_json::to_string(&sensitive)
                .map_err(|e| ControllerError::Invalid(e.to_string()))?,
        ),
    ]);
    if let Some(c) = cert {
        data.insert(tls::CA_KEY.into(), c.ca_pem.clone());
        data.insert(tls::CERT_KEY.into(), c.cert_pem.clone());
        data.insert(tls::KEY_KEY.into(), c.key_pem.clone());
    }
    data.extend(tls::aws_env(&sensitive));
    Ok(data)
}

/// The application's Secret with `data` (see [`secret_data`]).
pub fn secret(app: &SparkApplication, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: meta(app, names::secret(&app.name_any()), BTreeMap::new()),
        string_data: Some(data),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// `sparkConf` with `conf` over it (`conf` wins on a clash).
pub fn merged_conf(app: &SparkApplication) -> BTreeMap<String, String> {
    let mut conf = app.spec.spark_conf.clone();
    conf.extend(app.spec.conf.clone());
    conf
}

/// Whether the application's pods talk TLS (on unless `spec.conf` says
/// `kiln.ssl.enabled: "false"`).
pub fn tls_enabled(app: &SparkApplication) -> bool {
    !tls::tls_disabled(&merged_conf(app))
}

/// A fresh random secret ([`kiln_values::secret::random_secret`]).
pub fn random_secret() -> Result<String, ControllerError> {
    kiln_values::secret::random_secret().map_err(ControllerError::Invalid)
}

/// The job as the manifest `kiln driver` reads: the SQL (or the file
/// naming it), resources and engine settings (`sparkConf` under `conf`,
/// over the operator's `defaults`, such as its event log).
pub fn job_manifest(
    app: &SparkApplication,
    defaults: &BTreeMap<String, String>,
) -> Result<String, ControllerError> {
    let s = &app.spec;
    // Credentials stay in the Secret; the ConfigMap gets the rest.
    let (mut conf, _) = tls::split_conf(merged_conf(app));
    for (k, v) in defaults {
        conf.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if tls_enabled(app) {
        conf.extend(tls::tls_conf(
            &app.name_any(),
            &app.namespace().unwrap_or_default(),
        ));
    }
    // The driver's allocation loop reads Spark's settings (the user's win).
    if let Some(d) = s.dynamic_allocation.as_ref().filter(|d| d.enabled) {
        let max = d.max_executors.unwrap_or(d.min_executors.max(1));
        for (k, v) in [
            ("spark.dynamicAllocation.enabled", "true".to_string()),
            (
                "spark.dynamicAllocation.minExecutors",
                d.min_executors.to_string(),
            ),
            ("spark.dynamicAllocation.maxExecutors", max.to_string()),
        ] {
            conf.entry(k.to_string()).or_insert(v);
        }
    }
    let mut spec = json!({
        "type": s.type_.as_str(),
        "driver": {"cores": s.driver.pod.cores, "memory": s.driver.pod.memory},
        "executor": {"instances": s.executor.instances, "cores": s.executor.pod.cores,
                     "memory": s.executor.pod.memory},
        "conf": conf,
    });
    if !s.arguments.is_empty() {
        spec["arguments"] = json!(s.arguments);
    }
    match (s.type_, &s.sql, &s.python, &s.main_application_file) {
        (ApplicationType::Connect, ..) => {}
        (ApplicationType::Sql, Some(sql), _, _) => spec["sql"] = json!(sql),
        (ApplicationType::Python, _, Some(py), _) => spec["python"] = json!(py),
        (_, _, _, Some(file)) => spec["mainApplicationFile"] = json!(file),
        _ => {
            return Err(ControllerError::Invalid(format!(
                "the {} application has no {}",
                s.type_.as_str(),
                if s.type_ == ApplicationType::Python {
                    "python or mainApplicationFile"
                } else {
                    "sql or mainApplicationFile"
                }
            )))
        }
    }
    let manifest = json!({
        "apiVersion": format!("{}/{}", crate::GROUP, crate::VERSION),
        "kind": "SparkApplication",
        "metadata": {"name": names::app_label(&app.name_any())},
        "spec": spec,
    });
    serde_yaml::to_string(&manifest).map_err(|e| ControllerError::Invalid(e.to_string()))
}

/// The ConfigMap with the job manifest (see [`job_manifest`]), annotated
/// with the fingerprint of the spec the run starts from.
pub fn config_map(
    app: &SparkApplication,
    defaults: &BTreeMap<String, String>,
) -> Result<ConfigMap, ControllerError> {
    let mut metadata = meta(app, names::config_map(&app.name_any()), BTreeMap::new());
    metadata.annotations = Some(BTreeMap::from([(
        names::ANNOTATION_SPEC_FINGERPRINT.to_string(),
        spec_fingerprint(&app.spec)?,
    )]));
    Ok(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(
            JOB_KEY.to_string(),
            job_manifest(app, defaults)?,
        )])),
        ..ConfigMap::default()
    })
}

/// A fingerprint of everything in `spec` that shapes a run: the whole spec
/// except `suspend` and `timeToLiveSeconds`, which only say when an
/// application runs or is deleted. Suspending a finished application and
/// resuming it, or giving it a time to live, leaves it unchanged, so it is
/// not run again.
pub fn spec_fingerprint(spec: &SparkApplicationSpec) -> Result<String, ControllerError> {
    let mut run_spec = spec.clone();
    run_spec.suspend = false;
    run_spec.time_to_live_seconds = None;
    // Struct fields serialize in declaration order and maps are BTreeMaps,
    // so equal specs give equal bytes.
    let bytes = serde_json::to_vec(&run_spec)
        .map_err(|e| ControllerError::Invalid(format!("cannot serialize the spec: {e}")))?;
    Ok(format!("{:016x}", names::fnv1a(&bytes)))
}

/// The driver's Service: gRPC and UI ports (the UI's target is the
/// driver's `spark.ui.port`), selecting the driver pod of any run.
pub fn service(app: &SparkApplication) -> Result<Service, ControllerError> {
    let ui_target = monitoring::ui_port(&merged_conf(app));
    let mut selector = names::base_labels(&app.name_any());
    selector.insert(LABEL_ROLE.into(), ROLE_DRIVER.into());
    let mut svc: Service = from_json(
        "service",
        json!({
            "spec": {
                "selector": selector,
                "ports": [
                    {"name": "grpc", "port": DRIVER_PORT, "targetPort": DRIVER_PORT},
                    {"name": "ui", "port": UI_PORT, "targetPort": ui_target},
                    {"name": "spark-connect", "port": CONNECT_PORT, "targetPort": CONNECT_PORT},
                ],
            }
        }),
    )?;
    svc.metadata = meta(app, names::service(&app.name_any()), BTreeMap::new());
    Ok(svc)
}

/// Bytes of a memory size in Kiln's units ([`kiln_values::memory`]);
/// `None` if it does not parse (the schema's pattern normally prevents that).
pub fn memory_bytes(s: &str) -> Option<u64> {
    kiln_values::memory::parse_memory(s).ok()
}

/// The pod's memory request and limit: the engine's memory plus overhead
/// for the process itself (10%, at least 384 MiB, as Spark on Kubernetes).
fn pod_memory(settings: &PodSettings) -> Option<String> {
    let bytes = memory_bytes(&settings.memory)?;
    let overhead = (bytes / 10).max(384 * 1024 * 1024);
    Some((bytes + overhead).to_string())
}

/// What differs between the driver's and an executor's pod.
struct Container<'a> {
    pod_name: String,
    name: &'a str,
    labels: BTreeMap<String, String>,
    service_account: Option<String>,
    args: Vec<String>,
    env: Vec<Value>,
    ports: Vec<Value>,
    mounts: Vec<Value>,
    volumes: Vec<Value>,
}

/// A pod for `role` of run `run`, with the user's pod settings.
fn pod(
    app: &SparkApplication,
    image: &str,
    settings: &PodSettings,
    mut c: Container<'_>,
) -> Result<Pod, ControllerError> {
    let s = &app.spec;
    // User labels first: the operator's own labels must win (selectors use them).
    let mut all_labels = settings.labels.clone();
    all_labels.append(&mut c.labels);
    let secret_ref =
        json!({"secretKeyRef": {"name": names::secret(&app.name_any()), "key": SECRET_KEY}});
    let mut env = vec![
        json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}),
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": kiln_secret_env(), "valueFrom": secret_ref}),
    ];
    // S3 credentials of spec.conf reach the process as AWS variables, from
    // the Secret (before the user's env, which may override them).
    let (_, sensitive) = tls::split_conf(merged_conf(app));
    for var in tls::aws_env(&sensitive).keys() {
        env.push(json!({"name": var, "valueFrom": {"secretKeyRef":
            {"name": names::secret(&app.name_any()), "key": var}}}));
    }
    env.extend(c.env);
    for e in &settings.env {
        env.push(to_value(e)?);
    }
    let mut mounts = vec![json!({"name": "kiln-work", "mountPath": WORK_DIR})];
    let mut volumes = vec![json!({"name": "kiln-work", "emptyDir": {}})];
    if tls_enabled(app) {
        let items: Vec<Value> = [tls::CA_KEY, tls::CERT_KEY, tls::KEY_KEY]
            .iter()
            .map(|k| json!({"key": k, "path": k}))
            .collect();
        mounts.push(json!({"name": "kiln-tls", "mountPath": tls::TLS_DIR, "readOnly": true}));
        volumes.push(json!({"name": "kiln-tls", "secret": {
            "secretName": names::secret(&app.name_any()),
            "defaultMode": 0o400,
            "items": items,
        }}));
    }
    mounts.extend(c.mounts);
    for m in &settings.volume_mounts {
        mounts.push(to_value(m)?);
    }
    volumes.extend(c.volumes);
    for v in &s.volumes {
        volumes.push(to_value(v)?);
    }
    let mut resources = json!({"requests": {"cpu": settings.cores.to_string()}});
    if let Some(mem) = pod_memory(settings) {
        resources["requests"]["memory"] = json!(mem);
        resources["limits"] = json!({"memory": mem});
    }
    let mut container = json!({
        "name": c.name,
        "image": image,
        "args": c.args,
        "env": env,
        "ports": c.ports,
        "resources": resources,
        "volumeMounts": mounts,
        "workingDir": WORK_DIR,
    });
    if !settings.env_from.is_empty() {
        container["envFrom"] = to_value(&settings.env_from)?;
    }
    if let Some(p) = s.image_pull_policy {
        container["imagePullPolicy"] = json!(p.as_str());
    }
    if let Some(sc) = &settings.security_context {
        container["securityContext"] = to_value(sc)?;
    }
    // The engine's error as the container's termination message (what
    // `kubectl describe` and Airflow report): the driver writes it to
    // /dev/termination-log; without it, the end of the log.
    container["terminationMessagePolicy"] = json!("FallbackToLogsOnError");
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
    });
    match c.service_account {
        Some(sa) => spec["serviceAccountName"] = json!(sa),
        // Executors talk to no API: no token in their pods.
        None => spec["automountServiceAccountToken"] = json!(false),
    }
    if !settings.node_selector.is_empty() {
        spec["nodeSelector"] = json!(settings.node_selector);
    }
    if !settings.tolerations.is_empty() {
        spec["tolerations"] = to_value(&settings.tolerations)?;
    }
    if let Some(a) = &settings.affinity {
        spec["affinity"] = to_value(a)?;
    }
    if !s.image_pull_secrets.is_empty() {
        spec["imagePullSecrets"] = Value::Array(
            s.image_pull_secrets
                .iter()
                .map(|n| json!({"name": n}))
                .collect(),
        );
    }
    let mut pod: Pod = from_json("pod", json!({"spec": spec}))?;
    pod.metadata = meta(app, c.pod_name, all_labels);
    if !settings.annotations.is_empty() {
        pod.metadata.annotations = Some(settings.annotations.clone());
    }
    Ok(pod)
}

fn kiln_secret_env() -> &'static str {
    "KILN_AUTH_SECRET"
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ControllerError> {
    serde_json::to_value(v).map_err(|e| ControllerError::Invalid(e.to_string()))
}

/// A run's pod labels: Kiln's, and Spark's and kubeflow's next to them
/// (`spark-role`, `spark-app-selector`, `spark-app-name`,
/// `sparkoperator.k8s.io/app-name`), which Airflow and kubeflow tooling
/// select pods by.
fn run_labels(app: &str, role: &str, run: i32) -> BTreeMap<String, String> {
    let app_label = names::app_label(app);
    BTreeMap::from([
        (LABEL_ROLE.to_string(), role.to_string()),
        (LABEL_RUN.to_string(), run.to_string()),
        (names::LABEL_SPARK_ROLE.to_string(), role.to_string()),
        (
            names::LABEL_SPARK_APP_SELECTOR.to_string(),
            names::dns_label(&names::application_id(app, run), ""),
        ),
        (names::LABEL_SPARK_APP_NAME.to_string(), app_label.clone()),
        (names::LABEL_KUBEFLOW_APP_NAME.to_string(), app_label),
        (
            names::LABEL_KUBEFLOW_LAUNCHED.to_string(),
            "true".to_string(),
        ),
    ])
}

/// Executors the driver waits for before it starts the job.
pub fn min_executors(app: &SparkApplication) -> i32 {
    match &app.spec.dynamic_allocation {
        Some(d) if d.enabled => d.initial_executors.unwrap_or(d.min_executors).max(1),
        _ => app.spec.executor.instances.max(1),
    }
}

/// Whether the application scales its executors on the driver's requests.
pub fn dynamic(app: &SparkApplication) -> bool {
    app.spec
        .dynamic_allocation
        .as_ref()
        .is_some_and(|d| d.enabled)
}

/// Executors wanted now: the spec's count, or under dynamic allocation the
/// driver's request (it keeps `minExecutors` itself, and asks for none once
/// its job is over), at most `maxExecutors`; before its first request,
/// `initialExecutors` (at least one).
pub fn wanted_executors(app: &SparkApplication) -> i32 {
    match &app.spec.dynamic_allocation {
        Some(d) if d.enabled => {
            let max = d.max_executors.unwrap_or(i32::MAX).max(1);
            match app.status.as_ref().and_then(|s| s.requested_executors) {
                Some(asked) => asked.clamp(0, max),
                None => d.initial_executors.unwrap_or(d.min_executors).clamp(1, max),
            }
        }
        _ => app.spec.executor.instances.max(1),
    }
}

/// The driver pod of run `run`.
pub fn driver_pod(app: &SparkApplication, run: i32, image: &str) -> Result<Pod, ControllerError> {
    let name = app.name_any();
    let settings = &app.spec.driver.pod;
    let account = settings
        .service_account
        .clone()
        .unwrap_or_else(|| names::driver_account(&name));
    let args = vec![
        "driver".to_string(),
        format!("{JOB_DIR}/{JOB_KEY}"),
        format!("--bind=$(POD_IP):{DRIVER_PORT}"),
        format!("--application-id={}", names::application_id(&name, run)),
        format!("--min-executors={}", min_executors(app)),
        "--format=csv".to_string(),
    ];
    let env = vec![
        json!({"name": ENV_APP_NAME, "value": name}),
        json!({"name": ENV_APP_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": tls::SECRET_CONF_ENV, "valueFrom": {"secretKeyRef":
            {"name": names::secret(&name), "key": tls::CONF_KEY}}}),
    ];
    let job_volume = json!({"name": "kiln-job", "configMap": {"name": names::config_map(&name)}});
    let c = Container {
        pod_name: names::driver_pod(&name),
        name: names::DRIVER_CONTAINER,
        labels: run_labels(&name, ROLE_DRIVER, run),
        service_account: Some(account),
        args,
        env,
        ports: vec![
            json!({"name": "grpc", "containerPort": DRIVER_PORT}),
            json!({"name": "ui", "containerPort": monitoring::ui_port(&merged_conf(app))}),
            json!({"name": "spark-connect", "containerPort": CONNECT_PORT}),
        ],
        mounts: vec![json!({"name": "kiln-job", "mountPath": JOB_DIR, "readOnly": true})],
        volumes: vec![job_volume],
    };
    pod(app, image, settings, c)
}

/// Executor pod `id` of run `run`, connecting to the driver at `driver_url`.
pub fn executor_pod(
    app: &SparkApplication,
    run: i32,
    id: u32,
    image: &str,
    driver_url: &str,
) -> Result<Pod, ControllerError> {
    let name = app.name_any();
    let settings = &app.spec.executor.pod;
    let args = vec![
        "executor".to_string(),
        format!("--driver={driver_url}"),
        format!("--executor-id={id}"),
        format!("--application-id={}", names::application_id(&name, run)),
        format!("--cores={}", settings.cores.max(1)),
        format!("--memory={}", settings.memory),
        "--bind=$(POD_IP):0".to_string(),
        // Relative to the working directory, the pod's emptyDir.
        "--work-dir=work".to_string(),
    ];
    let mut args = args;
    if tls_enabled(app) {
        let ns = app.namespace().unwrap_or_default();
        args.extend(
            tls::tls_conf(&name, &ns)
                .into_iter()
                .map(|(k, v)| format!("--conf={k}={v}")),
        );
    }
    let mut labels = run_labels(&name, ROLE_EXECUTOR, run);
    labels.insert(LABEL_EXECUTOR_ID.into(), id.to_string());
    labels.insert(names::LABEL_SPARK_EXEC_ID.into(), id.to_string());
    let c = Container {
        pod_name: names::executor_pod(&name, run, id),
        name: names::EXECUTOR_CONTAINER,
        labels,
        service_account: settings.service_account.clone(),
        args,
        env: Vec::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        volumes: Vec::new(),
    };
    pod(app, image, settings, c)
}

/// The driver's gRPC URL at `ip` (`https` when the application uses TLS).
pub fn driver_url(app: &SparkApplication, ip: &str) -> String {
    let scheme = if tls_enabled(app) { "https" } else { "http" };
    format!("{scheme}://{ip}:{DRIVER_PORT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> SparkApplication {
        let mut a = SparkApplication::new(
            "q1",
            SparkApplicationSpec {
                sql: Some("SELECT 1".into()),
                ..SparkApplicationSpec::default()
            },
        );
        a.metadata.namespace = Some("ns".into());
        a.metadata.uid = Some("u-1".into());
        a.spec.executor.instances = 2;
        a
    }

    #[test]
    fn every_object_is_owned_and_labelled() {
        let a = app();
        let pod = driver_pod(&a, 1, "kiln:dev").unwrap();
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, "u-1");
        assert_eq!(owner.controller, Some(true));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["kiln.dev/app"], "q1");
        assert_eq!(labels["kiln.dev/role"], "driver");
        assert_eq!(labels["kiln.dev/run"], "1");
        assert_eq!(labels["spark-role"], "driver");
        assert_eq!(labels["spark-app-selector"], "q1-1");
        assert_eq!(labels["sparkoperator.k8s.io/app-name"], "q1");
        assert_eq!(pod.metadata.name.as_deref(), Some("q1-driver"));
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.name, "spark-kubernetes-driver");
        assert_eq!(
            c.termination_message_policy.as_deref(),
            Some("FallbackToLogsOnError")
        );
        let e = executor_pod(&a, 1, 2, "kiln:dev", "https://x:7078").unwrap();
        let el = e.metadata.labels.as_ref().unwrap();
        assert_eq!(el["spark-role"], "executor");
        assert_eq!(el["spark-exec-id"], "2");
        assert_eq!(
            e.spec.as_ref().unwrap().containers[0].name,
            "spark-kubernetes-executor"
        );
        let sa = service_account(&a);
        assert_eq!(sa.metadata.name.as_deref(), Some("q1-driver"));
        assert!(sa.metadata.owner_references.is_some());
    }

    #[test]
    fn driver_and_executors_share_the_secret_and_find_each_other() {
        let a = app();
        let d = driver_pod(&a, 2, "kiln:dev").unwrap();
        let e = executor_pod(&a, 2, 3, "kiln:dev", &driver_url(&a, "10.0.0.5")).unwrap();
        for p in [&d, &e] {
            let v = serde_json::to_value(p).unwrap();
            let env = &v["spec"]["containers"][0]["env"];
            let secret = env
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "KILN_AUTH_SECRET")
                .unwrap();
            assert_eq!(secret["valueFrom"]["secretKeyRef"]["name"], "q1-secret");
        }
        let args = e.spec.as_ref().unwrap().containers[0].args.clone().unwrap();
        assert!(args.contains(&"--driver=https://10.0.0.5:7078".to_string()));
        assert!(args.contains(&"--conf=kiln.ssl.serverName=q1.ns.kiln".to_string()));
        assert!(args.contains(&"--executor-id=3".to_string()));
        assert!(args.contains(&"--application-id=q1-2".to_string()));
        assert_eq!(
            e.spec.as_ref().unwrap().automount_service_account_token,
            Some(false)
        );
        let dargs = d.spec.as_ref().unwrap().containers[0].args.clone().unwrap();
        assert!(dargs.contains(&"--min-executors=2".to_string()));
        assert_eq!(
            d.spec.as_ref().unwrap().service_account_name.as_deref(),
            Some("q1-driver")
        );
    }

    #[test]
    fn job_manifest_carries_sql_resources_and_merged_conf() {
        let mut a = app();
        a.spec.spark_conf.insert("a".into(), "1".into());
        a.spec.conf.insert("a".into(), "2".into());
        let text = job_manifest(&a, &BTreeMap::new()).unwrap();
        let v: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["spec"]["sql"], "SELECT 1");
        assert_eq!(v["spec"]["conf"]["a"], "2", "conf wins over sparkConf");
        assert_eq!(v["spec"]["executor"]["instances"], 2);
    }

    #[test]
    fn credentials_go_to_the_secret_not_the_config_map() {
        let mut a = app();
        a.spec
            .conf
            .insert("kiln.s3.secretAccessKey".into(), "s3cr3t".into());
        a.spec
            .spark_conf
            .insert("spark.hadoop.fs.s3a.access.key".into(), "AKID".into());
        a.spec
            .conf
            .insert("kiln.s3.endpoint".into(), "http://s3:9000".into());
        let cm = config_map(&a, &BTreeMap::new()).unwrap();
        let text = serde_json::to_string(&cm).unwrap();
        assert!(!text.contains("s3cr3t") && !text.contains("AKID"), "{text}");
        assert!(text.contains("http://s3:9000"));
        assert!(
            text.contains("kiln.ssl.enabled"),
            "TLS on by default: {text}"
        );
        let cert = tls::issue("q1", "ns").unwrap();
        let data = secret_data(&a, "x".repeat(64).as_str(), Some(&cert)).unwrap();
        assert_eq!(data["AWS_SECRET_ACCESS_KEY"], "s3cr3t");
        assert_eq!(data["AWS_ACCESS_KEY_ID"], "AKID");
        assert!(data[tls::CONF_KEY].contains("s3cr3t"));
        assert!(data.contains_key(tls::CERT_KEY));
        let e = serde_json::to_value(executor_pod(&a, 1, 1, "kiln:dev", "https://x:7078").unwrap())
            .unwrap();
        let env = e["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
        let aws = env
            .iter()
            .find(|v| v["name"] == "AWS_SECRET_ACCESS_KEY")
            .unwrap();
        assert_eq!(aws["valueFrom"]["secretKeyRef"]["name"], "q1-secret");
        assert!(!e.to_string().contains("s3cr3t"));
        let mounts = e["spec"]["containers"][0]["volumeMounts"].to_string();
        assert!(mounts.contains("/etc/kiln/tls"), "{mounts}");

        a.spec
            .conf
            .insert("kiln.ssl.enabled".into(), "false".into());
        assert_eq!(driver_url(&a, "10.0.0.5"), "http://10.0.0.5:7078");
        let d = serde_json::to_value(driver_pod(&a, 1, "kiln:dev").unwrap()).unwrap();
        assert!(!d.to_string().contains("/etc/kiln/tls"));
    }

    #[test]
    fn memory_gets_overhead() {
        assert_eq!(memory_bytes("1g"), Some(1 << 30));
        assert_eq!(memory_bytes("512Mi"), Some(512 << 20));
        let s = PodSettings {
            memory: "8g".into(),
            ..PodSettings::default()
        };
        assert_eq!(
            pod_memory(&s),
            Some(((8u64 << 30) + (8u64 << 30) / 10).to_string())
        );
    }

    #[test]
    fn the_driver_role_names_only_its_application() {
        let r = role(&app()).unwrap();
        for rule in r.rules.unwrap() {
            assert!(!rule.verbs.iter().any(|v| v == "create" || v == "list"));
            if rule.resources == Some(vec!["pods/log".to_string()]) {
                assert_eq!(rule.verbs, ["get"], "logs are only read");
                continue;
            }
            assert_eq!(rule.resource_names, Some(vec!["q1".to_string()]));
        }
    }
}
