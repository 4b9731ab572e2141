//! Names and labels of the objects the operator creates for an application.
//! Names are deterministic (application name, run number, executor id), so a
//! create repeated after an operator restart or on a stale read hits
//! `AlreadyExists` instead of making a duplicate.

use std::collections::BTreeMap;

/// Label: the application an object belongs to (its name, shortened to fit).
pub const LABEL_APP: &str = "kiln.dev/app";
/// Label: `driver` or `executor`.
pub const LABEL_ROLE: &str = "kiln.dev/role";
/// Label: the run (execution attempt) a pod belongs to.
pub const LABEL_RUN: &str = "kiln.dev/run";
/// Label: an executor pod's executor id.
pub const LABEL_EXECUTOR_ID: &str = "kiln.dev/executor-id";
/// Label: the ScheduledSparkApplication that created an application.
pub const LABEL_SCHEDULED: &str = "kiln.dev/scheduled-app";
/// Standard label naming the manager of an object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGER: &str = "kiln-operator";
/// Annotation on the job ConfigMap: the fingerprint of the spec the current
/// run started from ([`super::resources::spec_fingerprint`]), so the
/// controller can tell a change of the job from a change of `suspend` or
/// `timeToLiveSeconds` alone.
pub const ANNOTATION_SPEC_FINGERPRINT: &str = "kiln.dev/spec-fingerprint";
/// Annotation on a SparkApplication: how long its driver pod may take to
/// start (`300`, `90s`, `5m`, `1h`; `0` for no limit), overriding the
/// operator's `--submission-timeout`.
pub const ANNOTATION_SUBMISSION_TIMEOUT: &str = "kiln.dev/submission-timeout";
/// Role label value of driver pods.
pub const ROLE_DRIVER: &str = "driver";
/// Role label value of executor pods.
pub const ROLE_EXECUTOR: &str = "executor";
/// Spark's label of a pod's role (`driver`/`executor`), which kubeflow's
/// operator and Airflow's SparkKubernetesOperator select on.
pub const LABEL_SPARK_ROLE: &str = "spark-role";
/// Spark's label of the application id (the run's id, `<app>-<run>`).
pub const LABEL_SPARK_APP_SELECTOR: &str = "spark-app-selector";
/// Spark's label of the application name.
pub const LABEL_SPARK_APP_NAME: &str = "spark-app-name";
/// Spark's label of an executor pod's executor id.
pub const LABEL_SPARK_EXEC_ID: &str = "spark-exec-id";
/// Kubeflow spark-operator's label of the SparkApplication's name.
pub const LABEL_KUBEFLOW_APP_NAME: &str = "sparkoperator.k8s.io/app-name";
/// Kubeflow spark-operator's label of pods it launched.
pub const LABEL_KUBEFLOW_LAUNCHED: &str = "sparkoperator.k8s.io/launched-by-spark-operator";
/// The driver pod's container (Spark's and kubeflow's name; Airflow reads
/// its log).
pub const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
/// An executor pod's container.
pub const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

/// The container of pods of `role`.
pub fn container(role: &str) -> &'static str {
    if role == ROLE_DRIVER {
        DRIVER_CONTAINER
    } else {
        EXECUTOR_CONTAINER
    }
}

/// Longest DNS label (pod host names, Service names, label values).
const MAX_LABEL: usize = 63;

/// `base` + `suffix` as a DNS label: when too long, `base` is cut and a hash
/// of the whole base keeps different long names apart.
pub fn dns_label(base: &str, suffix: &str) -> String {
    let full = format!("{base}{suffix}");
    if full.len() <= MAX_LABEL {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(base.as_bytes()) as u32);
    let keep = MAX_LABEL.saturating_sub(suffix.len() + hash.len() + 1);
    let cut: String = base.chars().take(keep).collect();
    let cut = cut.trim_end_matches(['-', '.']);
    format!("{cut}-{hash}{suffix}")
}

/// 64-bit FNV-1a: a stable hash (the same across Rust versions, unlike
/// `DefaultHasher`), for names and fingerprints, not for security.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The value of [`LABEL_APP`] for application `app`.
pub fn app_label(app: &str) -> String {
    dns_label(app, "")
}

/// Selector of every pod (or other object) of application `app`.
pub fn app_selector(app: &str) -> String {
    format!("{LABEL_APP}={}", app_label(app))
}

/// Labels every object of `app` carries.
pub fn base_labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP.to_string(), app_label(app)),
        (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
    ])
}

/// The driver's ServiceAccount, Role and RoleBinding.
pub fn driver_account(app: &str) -> String {
    dns_label(app, "-driver")
}

/// The Secret with the driver-executor secret.
pub fn secret(app: &str) -> String {
    dns_label(app, "-secret")
}

/// The ConfigMap with the job.
pub fn config_map(app: &str) -> String {
    dns_label(app, "-job")
}

/// The driver's Service (UI and gRPC ports). Service names must start with
/// a letter.
pub fn service(app: &str) -> String {
    let name = dns_label(app, "-ui-svc");
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        dns_label(&format!("s{app}"), "-ui-svc")
    }
}

/// The driver pod: `<app>-driver`, as kubeflow names it, for every run (the
/// pods of a run are gone before the next run's are made; the run is the
/// pod's `kiln.dev/run` label).
pub fn driver_pod(app: &str) -> String {
    dns_label(app, "-driver")
}

/// Executor pod `id` of run `run`.
pub fn executor_pod(app: &str, run: i32, id: u32) -> String {
    dns_label(app, &format!("-{run}-exec-{id}"))
}

/// The id a run presents to its executors.
pub fn application_id(app: &str, run: i32) -> String {
    format!("{app}-{run}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_long_ones_cut_and_hashed() {
        assert_eq!(driver_pod("q1"), "q1-driver");
        assert_eq!(executor_pod("q1", 1, 3), "q1-1-exec-3");
        let long = "a".repeat(100);
        let other = format!("{}b", "a".repeat(99));
        let a = executor_pod(&long, 1, 12);
        let b = executor_pod(&other, 1, 12);
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert!(a.ends_with("-1-exec-12"));
        assert_ne!(a, b, "distinct long names stay distinct");
        assert_eq!(a, executor_pod(&long, 1, 12), "deterministic");
    }

    #[test]
    fn service_names_start_with_a_letter() {
        assert_eq!(service("q1"), "q1-ui-svc");
        assert_eq!(service("1q"), "s1q-ui-svc");
    }
}
