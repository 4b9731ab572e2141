//! The Helm chart `charts/kiln`: `helm lint` is clean, values.schema.json
//! refuses bad values, `helm template` renders what the operator needs (a
//! locked-down Deployment, RBAC per watched namespace or cluster-wide, a
//! metrics Service, the CRDs), the API server accepts the rendered objects,
//! and once installed the operator's service account holds exactly the
//! rights the controller uses.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{run, stdout, workspace};
use kiln_testcluster::TestCluster;
use serde::Deserialize;
use serde_json::Value;

fn chart() -> PathBuf {
    workspace().join("charts/kiln")
}

fn cluster() -> &'static TestCluster {
    kiln_testcluster::shared()
}

/// `helm template` with `args`, as JSON values (one per rendered object).
fn template(c: &TestCluster, ns: &str, args: &[&str]) -> (String, Vec<Value>) {
    let mut t = c.helm();
    t.args(["template", "demo"])
        .arg(chart())
        .args(["-n", ns])
        .args(args);
    let yaml = stdout(&run(t));
    let objects = serde_yaml::Deserializer::from_str(&yaml)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect();
    (yaml, objects)
}

fn find<'a>(objects: &'a [Value], kind: &str, ns: Option<&str>) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| ns.is_none_or(|ns| o["metadata"]["namespace"] == ns))
        .collect()
}

fn operator_container(objects: &[Value]) -> &Value {
    let deployments = find(objects, "Deployment", None);
    assert_eq!(deployments.len(), 1);
    &deployments[0]["spec"]["template"]["spec"]["containers"][0]
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect()
}

/// `kubectl apply --dry-run=server` of `yaml`, whose objects name their
/// namespaces (the API server validates
/// every object, RBAC included, and stores nothing).
fn server_dry_run(c: &TestCluster, yaml: &str) -> String {
    let mut k = c.kubectl();
    k.args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = k.spawn().expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write manifests");
    let out = child.wait_with_output().expect("kubectl");
    assert!(
        out.status.success(),
        "dry run refused:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[test]
fn helm_lint_is_clean_and_the_values_schema_refuses_bad_values() {
    let c = cluster();
    let mut lint = c.helm();
    lint.args(["lint", "--strict"]).arg(chart());
    let out = stdout(&run(lint));
    assert!(
        out.contains("1 chart(s) linted, 0 chart(s) failed")
            && !out.contains("[WARNING]")
            && !out.contains("[ERROR]"),
        "{out}"
    );
    for (set, complaint) in [
        ("logLevel=loud", "/logLevel"),
        ("replicaCount=0", "/replicaCount"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("watchNamespaces={Not_A_Namespace}", "/watchNamespaces/0"),
        ("metrics.port=70000", "/metrics/port"),
        ("leaderElection.enabled=maybe", "/leaderElection/enabled"),
    ] {
        let mut t = c.helm();
        t.args(["template", "demo"])
            .arg(chart())
            .args(["--set", set]);
        let out = t.output().expect("helm");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(complaint),
            "--set {set} was not refused naming {complaint}: {err}"
        );
    }
}

#[tokio::test]
async fn default_values_render_a_locked_down_operator_with_cluster_rbac() {
    let c = cluster();
    let client = c.client().await.expect("client");
    c.create_namespace(&client, "t-chart")
        .await
        .expect("namespace");
    let (yaml, objects) = template(c, "t-chart", &[]);

    let container = operator_container(&objects);
    let a = args(container);
    assert_eq!(a[0], "operator");
    for want in [
        "--namespaces=",
        "--leader-elect=true",
        "--lease-name=kiln-operator-leader",
        "--log-level=info",
        "--default-app-image=ghcr.io/kiln-dev/kiln:0.1.0",
        "--bind-address=$(POD_IP)",
        "--metrics-port=8080",
        "--health-port=8081",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
    }
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let deployment = find(&objects, "Deployment", Some("t-chart"))[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["serviceAccountName"], "demo-kiln");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "health");
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());

    let svc = find(&objects, "Service", Some("t-chart"));
    assert_eq!(svc.len(), 1);
    assert_eq!(svc[0]["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(find(&objects, "ClusterRole", None).len(), 1);
    assert_eq!(find(&objects, "ClusterRoleBinding", None).len(), 1);
    // Only the leader-election Role, in the release namespace.
    let roles = find(&objects, "Role", None);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["metadata"]["namespace"], "t-chart");

    // The CRDs are templates of the chart, kept on uninstall, with their
    // upper bounds from values.
    let crds: Vec<&Value> = find(&objects, "CustomResourceDefinition", None);
    let mut names: Vec<&str> = crds
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "scheduledsparkapplications.kiln.dev",
            "sparkapplications.kiln.dev"
        ]
    );
    for crd in &crds {
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
    }
    let spec_schema = |objects: &[Value]| -> Value {
        find(objects, "CustomResourceDefinition", None)
            .into_iter()
            .find(|o| o["metadata"]["name"] == "sparkapplications.kiln.dev")
            .expect("SparkApplication CRD")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            ["properties"]["spec"]["properties"]
            .clone()
    };
    let spec = spec_schema(&objects);
    assert_eq!(spec["executor"]["properties"]["instances"]["maximum"], 1000);
    assert_eq!(
        spec["dynamicAllocation"]["properties"]["maxExecutors"]["maximum"],
        1000
    );
    assert_eq!(spec["driver"]["properties"]["cores"]["maximum"], 64);
    let memory_rule = spec["executor"]["properties"]["memory"]["x-kubernetes-validations"][0]
        ["rule"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        memory_rule.contains("double(1024) * 1073741824.0"),
        "{memory_rule}"
    );
    let (_, raised) = template(
        c,
        "t-chart",
        &[
            "--set",
            "crds.limits.executors=5000",
            "--set",
            "crds.limits.cores=128",
            "--set",
            "crds.limits.memoryGiB=4096",
        ],
    );
    let spec = spec_schema(&raised);
    assert_eq!(spec["executor"]["properties"]["instances"]["maximum"], 5000);
    assert_eq!(
        spec["dynamicAllocation"]["properties"]["minExecutors"]["maximum"],
        5000
    );
    assert_eq!(spec["executor"]["properties"]["cores"]["maximum"], 128);
    let rule =
        spec["driver"]["properties"]["memory"]["x-kubernetes-validations"][0]["rule"].to_string();
    assert!(rule.contains("double(4096)"), "{rule}");
    let (_, without) = template(c, "t-chart", &["--set", "crds.install=false"]);
    assert!(find(&without, "CustomResourceDefinition", None).is_empty());

    let out = server_dry_run(c, &yaml);
    assert_eq!(
        out.matches("(server dry run)").count(),
        objects.len(),
        "{out}"
    );
}

#[tokio::test]
async fn a_namespace_scoped_install_has_no_cluster_rights() {
    let c = cluster();
    let client = c.client().await.expect("client");
    c.create_namespace(&client, "t-chart-scoped")
        .await
        .expect("namespace");
    let (yaml, objects) = template(
        c,
        "t-chart-scoped",
        &[
            "--set",
            "namespaceScoped=true",
            "--set",
            "crds.install=false",
        ],
    );
    let a = args(operator_container(&objects));
    assert!(
        a.iter().any(|x| x == "--namespaces=t-chart-scoped"),
        "{a:?}"
    );
    assert!(find(&objects, "ClusterRole", None).is_empty());
    assert!(find(&objects, "ClusterRoleBinding", None).is_empty());
    assert!(find(&objects, "CustomResourceDefinition", None).is_empty());
    // The application rules and the leader-election Role, both in the release namespace.
    let roles = find(&objects, "Role", Some("t-chart-scoped"));
    assert_eq!(roles.len(), 2);
    server_dry_run(c, &yaml);
}

#[tokio::test]
async fn watched_namespaces_get_their_own_roles() {
    let c = cluster();
    let client = c.client().await.expect("client");
    for ns in ["t-chart-ops", "t-chart-a", "t-chart-b"] {
        c.create_namespace(&client, ns).await.expect("namespace");
    }
    let (yaml, objects) = template(
        c,
        "t-chart-ops",
        &[
            "--set",
            "watchNamespaces={t-chart-a,t-chart-b}",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "logLevel=debug",
            "--set",
            "replicaCount=2",
            "--set",
            "defaultAppImage=registry.example/kiln:7",
        ],
    );
    let a = args(operator_container(&objects));
    for want in [
        "--namespaces=t-chart-a,t-chart-b",
        "--leader-elect=false",
        "--log-level=debug",
        "--default-app-image=registry.example/kiln:7",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
    }
    assert_eq!(find(&objects, "Deployment", None)[0]["spec"]["replicas"], 2);
    assert!(find(&objects, "ClusterRole", None).is_empty());
    assert!(find(&objects, "ClusterRoleBinding", None).is_empty());
    for ns in ["t-chart-a", "t-chart-b"] {
        assert_eq!(find(&objects, "Role", Some(ns)).len(), 1, "{ns}");
        let binding = find(&objects, "RoleBinding", Some(ns));
        assert_eq!(binding.len(), 1, "{ns}");
        assert_eq!(binding[0]["subjects"][0]["namespace"], "t-chart-ops");
    }
    server_dry_run(c, &yaml);
}

/// `kubectl auth can-i` as the operator's service account.
fn can_i(c: &TestCluster, sa: &str, verb: &str, resource: &str, ns: &str) -> bool {
    let mut k: Command = c.kubectl();
    k.args(["auth", "can-i", verb, resource, "-n", ns, "--as", sa]);
    let out = k.output().expect("kubectl");
    match stdout(&out).trim() {
        "yes" => true,
        "no" => false,
        other => panic!(
            "can-i {verb} {resource}: {other} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test]
async fn installed_chart_grants_the_operator_what_the_controller_uses() {
    let c = cluster();
    let client = c.client().await.expect("client");
    for ns in ["t-chart-install", "t-chart-watched", "t-chart-other"] {
        c.create_namespace(&client, ns).await.expect("namespace");
    }
    let mut install = c.helm();
    // This cluster has the CRDs already (from crds/, not from Helm).
    install.args(["install", "kiln"]).arg(chart()).args([
        "-n",
        "t-chart-install",
        "--set",
        "watchNamespaces={t-chart-watched}",
        "--set",
        "crds.install=false",
    ]);
    run(install);
    let sa = "system:serviceaccount:t-chart-install:kiln";
    let watched = "t-chart-watched";
    // The API server's authorizer learns new bindings from its informers a
    // moment after Helm created them (longer on a loaded machine): wait
    // until the chart's grants are in force before judging any of them.
    for (verb, resource, ns) in [
        ("watch", "sparkapplications.kiln.dev", watched),
        ("update", "leases.coordination.k8s.io", "t-chart-install"),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !can_i(c, sa, verb, resource, ns) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    for (verb, resource) in [
        ("watch", "sparkapplications.kiln.dev"),
        ("patch", "sparkapplications.kiln.dev/status"),
        ("update", "scheduledsparkapplications.kiln.dev/status"),
        ("create", "sparkapplications.kiln.dev"),
        ("delete", "sparkapplications.kiln.dev"),
        ("create", "pods"),
        ("delete", "pods"),
        ("get", "pods/log"),
        ("create", "services"),
        ("create", "configmaps"),
        ("create", "secrets"),
        ("patch", "secrets"),
        ("create", "serviceaccounts"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("create", "events"),
    ] {
        assert!(
            can_i(c, sa, verb, resource, watched),
            "operator cannot {verb} {resource} in {watched}"
        );
        assert!(
            !can_i(c, sa, verb, resource, "t-chart-other"),
            "operator can {verb} {resource} outside its watched namespaces"
        );
    }
    assert!(can_i(
        c,
        sa,
        "update",
        "leases.coordination.k8s.io",
        "t-chart-install"
    ));
    assert!(!can_i(
        c,
        sa,
        "create",
        "clusterroles.rbac.authorization.k8s.io",
        watched
    ));
    assert!(!can_i(c, sa, "delete", "nodes", watched));
    // Secrets are written, never read: not in the watched namespace, nor anywhere.
    for verb in ["get", "list", "watch"] {
        for ns in [watched, "t-chart-other", "t-chart-install", "kube-system"] {
            assert!(
                !can_i(c, sa, verb, "secrets", ns),
                "operator can {verb} secrets in {ns}"
            );
        }
    }

    let mut uninstall = c.helm();
    uninstall.args([
        "uninstall",
        "kiln",
        "-n",
        "t-chart-install",
        "--wait",
        "--timeout",
        "60s",
    ]);
    run(uninstall);
}

/// `history.enabled` renders `kiln history` (Deployment, Service, optional
/// Ingress under the base path) and points the operator's event log and
/// history URL at it, for a claim or an S3 prefix; an impossible
/// combination is refused at install time with what is wrong.
#[tokio::test]
async fn history_values_render_the_history_server_and_the_operators_defaults() {
    let c = cluster();
    let client = c.client().await.expect("client");
    c.create_namespace(&client, "t-chart-history")
        .await
        .expect("namespace");
    let (yaml, objects) = template(
        c,
        "t-chart-history",
        &[
            "--set",
            "crds.install=false",
            "--set",
            "history.enabled=true",
            "--set",
            "history.eventLog.persistentVolumeClaim=kiln-events",
            "--set",
            "history.basePath=/kiln-history",
            "--set",
            "history.ingress.enabled=true",
        ],
    );
    let deployments = find(&objects, "Deployment", None);
    assert_eq!(deployments.len(), 2, "operator and history");
    let history = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "demo-kiln-history")
        .expect("history Deployment");
    let pod = &history["spec"]["template"]["spec"];
    let hargs = args(&pod["containers"][0]);
    assert_eq!(
        hargs,
        [
            "history",
            "/var/lib/kiln/events",
            "--bind=$(POD_IP):18080",
            "--proxy-base=/kiln-history"
        ]
    );
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "kiln-events"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    let op = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "demo-kiln")
        .expect("operator Deployment");
    let oargs = args(&op["spec"]["template"]["spec"]["containers"][0]);
    for want in [
        "--event-log-dir=/var/lib/kiln/events",
        "--event-log-claim=kiln-events",
        "--history-url=http://demo-kiln-history.t-chart-history.svc:18080/kiln-history",
    ] {
        assert!(oargs.iter().any(|a| a == want), "{want} missing: {oargs:?}");
    }
    let ingress = find(&objects, "Ingress", None);
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        ingress[0]["spec"]["rules"][0]["http"]["paths"][0]["path"],
        "/kiln-history"
    );
    // The API server accepts every object.
    server_dry_run(c, &yaml);

    // S3, with the Ingress host as the users' URL.
    let (_, objects) = template(
        c,
        "kiln-system",
        &[
            "--set",
            "history.enabled=true",
            "--set",
            "history.eventLog.dir=s3://logs/kiln",
            "--set",
            "history.ingress.enabled=true",
            "--set",
            "history.ingress.host=kiln.example.com",
            "--set",
            "history.s3CredentialsSecret=history-s3",
        ],
    );
    let deployments = find(&objects, "Deployment", None);
    let op = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "demo-kiln")
        .expect("operator");
    let oargs = args(&op["spec"]["template"]["spec"]["containers"][0]);
    assert!(oargs.contains(&"--history-url=http://kiln.example.com".to_string()));
    assert!(!oargs.iter().any(|a| a.starts_with("--event-log-claim")));

    // A local folder with no claim to put it on.
    let mut t = c.helm();
    t.args(["template", "demo"])
        .arg(chart())
        .args(["--set", "history.enabled=true"]);
    let out = t.output().expect("helm");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("history.eventLog.dir must be an s3:// prefix"),
        "{err}"
    );
}
