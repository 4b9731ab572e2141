//! Pods on the process node: exit codes, logs, restarts, deletion, owner GC,
//! env (ConfigMap, Secret, downward API), pod-to-pod TCP and RBAC through the
//! pod's own service-account kubeconfig. All tests share one cluster and use
//! their own namespace.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kiln_testcluster::{phase, wait_pod};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::json;

#[tokio::test]
async fn succeeded_and_failed_pods_report_exit_codes_and_logs() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-exit").await;
    create_pod(
        &client,
        "t-exit",
        shell_pod("ok", "echo hello-from-pod; exit 0", "Never"),
    )
    .await;
    create_pod(
        &client,
        "t-exit",
        shell_pod("bad", "echo failing >&2; exit 3", "Never"),
    )
    .await;

    let ok = wait_pod(&client, "t-exit", "ok", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    let st = container_state(&ok);
    assert_eq!(st["state"]["terminated"]["exitCode"], 0, "{st}");
    assert_eq!(st["state"]["terminated"]["reason"], "Completed");
    assert!(ok
        .status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_deref()
        .unwrap()
        .starts_with("127."));
    assert_eq!(
        c.container_log("t-exit", "ok", "main").unwrap(),
        "hello-from-pod\n"
    );

    let bad = wait_pod(&client, "t-exit", "bad", T, |p| phase(p) == "Failed")
        .await
        .unwrap();
    let st = container_state(&bad);
    assert_eq!(st["state"]["terminated"]["exitCode"], 3, "{st}");
    assert_eq!(st["restartCount"], 0);
    assert!(c
        .container_log("t-exit", "bad", "main")
        .unwrap()
        .contains("failing"));

    // The log also comes back through the API server (pods/log -> the node).
    let pods: Api<Pod> = Api::namespaced(client.clone(), "t-exit");
    let log = pods.logs("ok", &Default::default()).await.unwrap();
    assert_eq!(log, "hello-from-pod\n");
}

#[tokio::test]
async fn on_failure_pod_restarts_until_it_succeeds() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-restart").await;
    let mut p = shell_pod(
        "flaky",
        r#"m="$KILN_MOUNT_ROOT/scratch/marker"; n=$(cat "$m" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$m"; echo "attempt $n"; [ "$n" -ge 3 ]"#,
        "OnFailure",
    );
    p["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    p["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "scratch", "mountPath": "/scratch"}]);
    create_pod(&client, "t-restart", p).await;
    let done = wait_pod(&client, "t-restart", "flaky", T, |p| {
        phase(p) == "Succeeded"
    })
    .await
    .unwrap();
    let st = container_state(&done);
    assert_eq!(st["restartCount"], 2, "{st}");
    assert_eq!(st["lastState"]["terminated"]["exitCode"], 1, "{st}");
    assert_eq!(
        c.container_log("t-restart", "flaky", "main").unwrap(),
        "attempt 3\n"
    );
    // The previous run's log, through the API server (`kubectl logs --previous`).
    let pods: Api<Pod> = Api::namespaced(client.clone(), "t-restart");
    let lp = kube::api::LogParams {
        previous: true,
        ..Default::default()
    };
    assert_eq!(pods.logs("flaky", &lp).await.unwrap(), "attempt 2\n");
}

#[tokio::test]
async fn deleting_a_running_pod_stops_it_within_the_grace_period() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-delete").await;
    // One pod exits on SIGTERM, the other ignores it and needs SIGKILL.
    create_pod(
        &client,
        "t-delete",
        shell_pod(
            "polite",
            "trap 'echo got-term; exit 0' TERM; echo up; while true; do sleep 0.1; done",
            "Always",
        ),
    )
    .await;
    let mut stubborn = shell_pod(
        "stubborn",
        "trap '' TERM; echo up; while true; do sleep 0.1; done",
        "Always",
    );
    stubborn["spec"]["terminationGracePeriodSeconds"] = json!(2);
    create_pod(&client, "t-delete", stubborn).await;
    for name in ["polite", "stubborn"] {
        wait_pod(&client, "t-delete", name, T, |p| phase(p) == "Running")
            .await
            .unwrap();
        wait_log(c, "t-delete", name, "up", T).await;
    }
    let pid = |name: &str| -> i32 {
        let d = c.pod_dir("t-delete", name).unwrap();
        std::fs::read_to_string(d.join("containers/main/pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (p1, p2) = (pid("polite"), pid("stubborn"));
    assert!(pid_alive(p1) && pid_alive(p2));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "t-delete");
    let t0 = Instant::now();
    pods.delete("polite", &DeleteParams::default())
        .await
        .unwrap();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    for name in ["polite", "stubborn"] {
        kiln_testcluster::poll(Duration::from_secs(20), || async {
            Ok(pods.get_opt(name).await?.is_none())
        })
        .await
        .unwrap();
    }
    let took = t0.elapsed();
    assert!(!pid_alive(p1), "polite pod's process survived deletion");
    assert!(!pid_alive(p2), "stubborn pod's process survived deletion");
    assert!(c
        .container_log("t-delete", "polite", "main")
        .unwrap()
        .contains("got-term"));
    // Stubborn needs the full 2 s grace before SIGKILL; both well under 5 + slack.
    assert!(
        took >= Duration::from_secs(2),
        "SIGKILL came before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "deletion took {took:?}");
}

#[tokio::test]
async fn killing_pod_processes_abruptly_is_seen_as_a_crash() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-kill").await;
    create_pod(
        &client,
        "t-kill",
        shell_pod("victim", "echo up; exec sleep 600", "Never"),
    )
    .await;
    wait_pod(&client, "t-kill", "victim", T, |p| phase(p) == "Running")
        .await
        .unwrap();
    wait_log(c, "t-kill", "victim", "up", T).await;
    assert_eq!(c.kill_pod_processes("t-kill", "victim").unwrap(), 1);
    let p = wait_pod(&client, "t-kill", "victim", T, |p| phase(p) == "Failed")
        .await
        .unwrap();
    let st = container_state(&p);
    assert_eq!(st["state"]["terminated"]["exitCode"], 137, "{st}");
    assert_eq!(st["state"]["terminated"]["signal"], 9, "{st}");
}

#[tokio::test]
async fn deleting_the_owner_garbage_collects_dependent_pods() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-gc").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t-gc");
    let owner: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}, "data": {"k": "v"}
    }))
    .unwrap();
    let owner = cms.create(&PostParams::default(), &owner).await.unwrap();
    let uid = owner.metadata.uid.clone().unwrap();
    for i in 0..2 {
        let mut p = shell_pod(&format!("dep-{i}"), "exec sleep 600", "Always");
        p["spec"]["terminationGracePeriodSeconds"] = json!(1);
        p["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
        }]);
        create_pod(&client, "t-gc", p).await;
    }
    for i in 0..2 {
        wait_pod(&client, "t-gc", &format!("dep-{i}"), T, |p| {
            phase(p) == "Running"
        })
        .await
        .unwrap();
    }
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "t-gc");
    kiln_testcluster::poll(Duration::from_secs(60), || async {
        Ok(pods.list(&Default::default()).await?.items.is_empty())
    })
    .await
    .expect("kube-controller-manager's garbage collector removed the dependent pods");
}

#[tokio::test]
async fn env_from_configmap_secret_and_downward_api() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-env").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t-env");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
            "data": {"COLOR": "blue", "file.txt": "from-a-configmap-volume"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "t-env");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
                "stringData": {"PASSWORD": "hunter2"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut p = shell_pod(
        "env",
        r#"echo "color=$COLOR pw=$SEC_PASSWORD ip=$MY_IP name=$MY_NAME ns=$MY_NS app=$MY_APP greeting=$GREETING"; cat "$KILN_MOUNT_ROOT/etc/cfg/file.txt"; echo; test -s "$KILN_MOUNT_ROOT/var/run/secrets/kubernetes.io/serviceaccount/token" && echo token-mounted"#,
        "Never",
    );
    p["metadata"]["labels"]["app"] = json!("envtest");
    p["spec"]["volumes"] = json!([{"name": "cfg", "configMap": {"name": "cfg"}}]);
    p["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "cfg", "mountPath": "/etc/cfg"}]);
    p["spec"]["containers"][0]["envFrom"] =
        json!([{"secretRef": {"name": "sec"}, "prefix": "SEC_"}]);
    p["spec"]["containers"][0]["env"] = json!([
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MY_APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "GREETING", "value": "hi-$(MY_NAME)"},
    ]);
    create_pod(&client, "t-env", p).await;
    let done = wait_pod(&client, "t-env", "env", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    let ip = done.status.unwrap().pod_ip.unwrap();
    let log = c.container_log("t-env", "env", "main").unwrap();
    assert_eq!(
        log,
        format!(
            "color=blue pw=hunter2 ip={ip} name=env ns=t-env app=envtest greeting=hi-env\nfrom-a-configmap-volume\ntoken-mounted\n"
        )
    );
}

#[tokio::test]
async fn two_pods_talk_tcp_over_their_pod_ips() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-net").await;
    let server = r#"exec python3 -c '
import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ["MY_IP"], 7070)); s.listen(8)
while True:
    c, a = s.accept(); c.sendall(("pong from %s to %s\n" % (os.environ["MY_IP"], a[0])).encode()); c.close()
'"#;
    let mut sp = shell_pod("server", server, "Always");
    sp["spec"]["containers"][0]["env"] =
        json!([{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]);
    sp["spec"]["containers"][0]["readinessProbe"] =
        json!({"tcpSocket": {"port": 7070}, "periodSeconds": 1});
    create_pod(&client, "t-net", sp).await;
    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let srv = wait_pod(&client, "t-net", "server", T, ready)
        .await
        .unwrap();
    let server_ip = srv.status.unwrap().pod_ip.unwrap();

    let client_script = r#"exec python3 -c '
import os, socket
s = socket.socket(); s.bind((os.environ["MY_IP"], 0)); s.connect((os.environ["SERVER_IP"], 7070))
print(s.recv(100).decode().strip())
'"#;
    let mut cp = shell_pod("client", client_script, "Never");
    cp["spec"]["containers"][0]["env"] = json!([
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SERVER_IP", "value": server_ip},
    ]);
    create_pod(&client, "t-net", cp).await;
    let done = wait_pod(&client, "t-net", "client", T, |p| {
        matches!(phase(p), "Succeeded" | "Failed")
    })
    .await
    .unwrap();
    let client_ip = done.status.unwrap().pod_ip.unwrap();
    assert_ne!(client_ip, server_ip);
    assert_eq!(
        c.container_log("t-net", "client", "main").unwrap(),
        format!("pong from {server_ip} to {client_ip}\n")
    );
}

#[tokio::test]
async fn pod_service_account_gets_403_then_200_after_a_role() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-rbac").await;
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "t-rbac");
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    // Both the pod's KUBECONFIG (kubectl) and the projected token volume
    // (curl with a bearer token) authenticate as system:serviceaccount:t-rbac:reader.
    let script = r#"
sa="$KILN_MOUNT_ROOT/var/run/secrets/kubernetes.io/serviceaccount"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
whoami=$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}')
echo "whoami=$whoami"
i=0
while [ $i -lt 300 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" "$server/api/v1/namespaces/t-rbac/configmaps")
  if kubectl get configmaps -o name >/dev/null 2>&1; then k=ok; else k=denied; fi
  echo "curl=$code kubectl=$k"
  if [ "$code" = 200 ] && [ "$k" = ok ]; then exit 0; fi
  i=$((i+1)); sleep 0.3
done
exit 1
"#;
    let mut p = shell_pod("rbac", script, "Never");
    p["spec"]["serviceAccountName"] = json!("reader");
    create_pod(&client, "t-rbac", p).await;
    let log = wait_log(c, "t-rbac", "rbac", "curl=403 kubectl=denied", T).await;
    assert!(
        log.contains("whoami=system:serviceaccount:t-rbac:reader"),
        "{log}"
    );

    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "cm-reader", "namespace": "t-rbac"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "cm-reader", "namespace": "t-rbac"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "t-rbac"}]
    });
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), "t-rbac");
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    let rbs: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), "t-rbac");
    rbs.create(
        &PostParams::default(),
        &serde_json::from_value(binding).unwrap(),
    )
    .await
    .unwrap();

    wait_pod(&client, "t-rbac", "rbac", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    let log = c.container_log("t-rbac", "rbac", "main").unwrap();
    assert!(log.trim_end().ends_with("curl=200 kubectl=ok"), "{log}");
}

#[tokio::test]
async fn mapped_images_run_the_local_binary() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-image").await;
    // No command: the mapped binary is the entrypoint, args are passed on.
    let mut p = shell_pod("entry", "", "Never");
    p["spec"]["containers"][0] = json!({
        "name": "main", "image": "example.com/kiln-echo:1.0", "args": ["via", "entrypoint"]
    });
    create_pod(&client, "t-image", p).await;
    // command[0] with the mapped binary's file name also runs the mapped binary.
    let mut p = shell_pod("cmd", "", "Never");
    p["spec"]["containers"][0] = json!({
        "name": "main", "image": "example.com/kiln-echo:1.0",
        "command": ["/usr/local/bin/echo", "via"], "args": ["command"]
    });
    create_pod(&client, "t-image", p).await;
    // An unmapped image without a command cannot run.
    let mut p = shell_pod("unmapped", "", "Never");
    p["spec"]["containers"][0] = json!({"name": "main", "image": "example.com/other:1.0"});
    create_pod(&client, "t-image", p).await;

    for (name, want) in [("entry", "via entrypoint\n"), ("cmd", "via command\n")] {
        wait_pod(&client, "t-image", name, T, |p| phase(p) == "Succeeded")
            .await
            .unwrap();
        assert_eq!(c.container_log("t-image", name, "main").unwrap(), want);
    }
    let p = wait_pod(&client, "t-image", "unmapped", T, |p| {
        container_state(p)["state"]["waiting"]["reason"] == "ImageNotMapped"
    })
    .await
    .unwrap();
    assert_eq!(phase(&p), "Pending");
}

#[tokio::test]
async fn init_containers_run_first_and_share_volumes() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-init").await;
    let mut p = shell_pod("init", r#"cat "$KILN_MOUNT_ROOT/work/greeting""#, "Never");
    p["spec"]["volumes"] = json!([{"name": "work", "emptyDir": {}}]);
    p["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "work", "mountPath": "/work"}]);
    p["spec"]["initContainers"] = json!([{
        "name": "prepare",
        "image": "busybox:test",
        "command": ["sh", "-c", "echo prepared-by-init > \"$KILN_MOUNT_ROOT/data/greeting\""],
        "volumeMounts": [{"name": "work", "mountPath": "/data"}],
    }]);
    create_pod(&client, "t-init", p).await;
    let done = wait_pod(&client, "t-init", "init", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    let init = &done.status.unwrap().init_container_statuses.unwrap()[0];
    let term = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(term.exit_code, 0);
    assert_eq!(
        c.container_log("t-init", "init", "main").unwrap(),
        "prepared-by-init\n"
    );
}

#[tokio::test]
async fn pods_that_do_not_fit_stay_pending() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-fit").await;
    let mut p = shell_pod("huge", "true", "Never");
    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "500", "memory": "1Gi"}});
    create_pod(&client, "t-fit", p).await;
    let mut p = shell_pod("elsewhere", "true", "Never");
    p["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "some-other-node"});
    create_pod(&client, "t-fit", p).await;
    let mut p = shell_pod("fits", "true", "Never");
    p["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "100m", "memory": "64Mi"}});
    create_pod(&client, "t-fit", p).await;
    wait_pod(&client, "t-fit", "fits", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    for name in ["huge", "elsewhere"] {
        let p = wait_pod(&client, "t-fit", name, T, |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "PodScheduled"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
        })
        .await
        .unwrap();
        assert_eq!(phase(&p), "Pending");
        assert!(p.spec.unwrap().node_name.is_none());
    }
}

#[tokio::test]
async fn missing_configmap_waits_then_runs_once_created() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-late").await;
    let mut p = shell_pod("late", r#"echo "value=$V""#, "Never");
    p["spec"]["containers"][0]["env"] = json!([
        {"name": "V", "valueFrom": {"configMapKeyRef": {"name": "late-cm", "key": "v"}}}
    ]);
    create_pod(&client, "t-late", p).await;
    wait_pod(&client, "t-late", "late", T, |p| {
        container_state(p)["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t-late");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late-cm"},
            "data": {"v": "arrived"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    wait_pod(&client, "t-late", "late", T, |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    assert_eq!(
        c.container_log("t-late", "late", "main").unwrap(),
        "value=arrived\n"
    );
}
