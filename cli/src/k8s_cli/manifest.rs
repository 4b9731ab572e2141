//! A manifest file turned into the SparkApplication `kiln submit` applies:
//! the same file `kiln run` reads, with three changes so that it runs on a
//! cluster as it does on a laptop:
//!
//! - kubeflow's `sparkoperator.k8s.io/v1beta2` becomes `kiln.dev/v1alpha1`,
//!   and kubeflow-only fields Kiln has no use for (`type`, `mode`,
//!   `sparkVersion`, `mainClass`, ...) are dropped, each one reported;
//! - a `mainApplicationFile` on this machine (a path without a scheme, or
//!   `file://`) is read and its text put into `spec.sql`, so the cluster does
//!   not need the file; `local://` (a path in the image) and remote URLs
//!   (`s3://`) are left for the driver to read;
//! - fields the API server owns (`status`, `metadata.uid`, ...) are removed,
//!   so a manifest saved with `kubectl get -o yaml` applies.
//!
//! Everything else is checked by the API server against the CRD's schema.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::K8sError;

/// The API version Kiln serves.
pub const API_VERSION: &str = "kiln.dev/v1alpha1";
/// Kubeflow spark-operator's API version, accepted and rewritten.
pub const KUBEFLOW_API_VERSION: &str = "sparkoperator.k8s.io/v1beta2";
/// The kind.
pub const KIND: &str = "SparkApplication";
/// Largest SQL text inlined into the object (etcd keeps objects under
/// 1.5 MiB; the operator copies the SQL into a ConfigMap too).
pub const MAX_INLINE_SQL: usize = 512 * 1024;

/// Kubeflow `spec` fields with no meaning in Kiln (JVM, Python, Spark
/// versions, submission modes, batch schedulers, monitoring, UI ingress).
const KUBEFLOW_ONLY_SPEC: &[&str] = &[
    "type",
    "mode",
    "sparkVersion",
    "mainClass",
    "pythonVersion",
    "proxyUser",
    "deps",
    "hadoopConf",
    "hadoopConfigMap",
    "sparkConfigMap",
    "batchScheduler",
    "batchSchedulerOptions",
    "monitoring",
    "sparkUIOptions",
    "driverIngressOptions",
    "memoryOverheadFactor",
    "failureRetries",
    "retryInterval",
];

/// Kubeflow `driver`/`executor` fields with no meaning in Kiln.
const KUBEFLOW_ONLY_POD: &[&str] = &[
    "coreLimit",
    "coreRequest",
    "memoryOverhead",
    "javaOptions",
    "kubernetesMaster",
    "gpu",
    "deleteOnTermination",
];

/// Server-owned metadata fields removed before applying.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// A manifest ready to apply.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The object (`apiVersion: kiln.dev/v1alpha1`).
    pub object: Value,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if the manifest sets one.
    pub namespace: Option<String>,
    /// What was changed, one sentence each, for the user.
    pub notes: Vec<String>,
}

/// Reads the manifest at `path`.
pub fn load(path: &Path) -> Result<Prepared, K8sError> {
    let text = std::fs::read_to_string(path).map_err(|e| K8sError::Manifest {
        path: path.display().to_string(),
        message: format!("cannot read the file: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    prepare(&text, &path.display().to_string(), &base)
}

/// Prepares manifest text; `origin` names it in errors and `base_dir`
/// resolves a relative `mainApplicationFile` (as `kiln run` does).
pub fn prepare(text: &str, origin: &str, base_dir: &Path) -> Result<Prepared, K8sError> {
    let err = |message: String| K8sError::Manifest {
        path: origin.to_string(),
        message,
    };
    // serde_yaml's message carries the line and column.
    let mut object: Value =
        serde_yaml::from_str(text).map_err(|e| err(format!("not a valid manifest: {e}")))?;
    let Some(root) = object.as_object_mut() else {
        return Err(err("not a manifest: expected a YAML mapping".into()));
    };
    let mut notes = Vec::new();

    let kubeflow = match root.get("apiVersion").and_then(Value::as_str) {
        None => return Err(err("missing field `apiVersion`".into())),
        Some(API_VERSION) => false,
        Some(KUBEFLOW_API_VERSION) => true,
        Some(other) => {
            return Err(err(format!(
                "field `apiVersion`: expected `{API_VERSION}` (or kubeflow's `{KUBEFLOW_API_VERSION}`), found `{other}`"
            )))
        }
    };
    match root.get("kind").and_then(Value::as_str) {
        None => return Err(err("missing field `kind`".into())),
        Some(KIND) => {}
        Some(other) => {
            return Err(err(format!(
                "field `kind`: expected `{KIND}`, found `{other}`"
            )))
        }
    }
    if kubeflow {
        root.insert("apiVersion".into(), API_VERSION.into());
        notes.push(format!(
            "apiVersion {KUBEFLOW_API_VERSION} rewritten to {API_VERSION}"
        ));
    }
    root.remove("status");

    let metadata = root
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| err("missing field `metadata`".into()))?;
    for f in SERVER_METADATA {
        metadata.remove(*f);
    }
    let name = match metadata.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            return Err(err(
                "missing field `metadata.name` (kiln submit follows the application by name)"
                    .into(),
            ))
        }
    };
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_string);

    let spec = root
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| err("missing field `spec`".into()))?;
    if kubeflow {
        let mut dropped = Vec::new();
        // Kubeflow's `type: Python` is Kiln's too; its other types (Scala,
        // Java, R) have no meaning here.
        let python = spec.get("type").and_then(Value::as_str) == Some("Python");
        let kept_type = if python { spec.remove("type") } else { None };
        drop_fields(spec, KUBEFLOW_ONLY_SPEC, "spec", &mut dropped);
        if let Some(t) = kept_type {
            spec.insert("type".into(), t);
        }
        for pod in ["driver", "executor"] {
            if let Some(p) = spec.get_mut(pod).and_then(Value::as_object_mut) {
                drop_fields(p, KUBEFLOW_ONLY_POD, &format!("spec.{pod}"), &mut dropped);
            }
        }
        if !dropped.is_empty() {
            notes.push(format!(
                "kubeflow-only fields dropped: {}",
                dropped.join(", ")
            ));
        }
    }
    inline_sql(spec, base_dir, &mut notes).map_err(err)?;
    Ok(Prepared {
        object,
        name,
        namespace,
        notes,
    })
}

fn drop_fields(map: &mut Map<String, Value>, fields: &[&str], at: &str, out: &mut Vec<String>) {
    for f in fields {
        if map.remove(*f).is_some() {
            out.push(format!("{at}.{f}"));
        }
    }
}

/// The file a `mainApplicationFile` names on this machine, if it is local:
/// no scheme, or `file://`. `local://` means a path inside the image.
fn local_path(file: &str, base_dir: &Path) -> Option<PathBuf> {
    let path = match file.strip_prefix("file://") {
        Some(p) => p,
        None if file.contains("://") => return None,
        None => file,
    };
    let p = PathBuf::from(path);
    Some(if p.is_relative() { base_dir.join(p) } else { p })
}

/// Replaces a local `mainApplicationFile` with `sql` (or, for a Python
/// application, `python`) holding its text.
fn inline_sql(
    spec: &mut Map<String, Value>,
    base_dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let field = match spec.get("type").and_then(Value::as_str) {
        Some("Python") => "python",
        _ => "sql",
    };
    if spec.contains_key(field) {
        // Both set: the API server refuses it and names the rule.
        return Ok(());
    }
    let Some(file) = spec.get("mainApplicationFile").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(path) = local_path(file, base_dir) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "field `spec.mainApplicationFile`: cannot read {}: {e} (for a file inside the image write local://{})",
            path.display(),
            file.trim_start_matches("file://")
        )
    })?;
    if text.trim().is_empty() {
        let what = if field == "sql" {
            "SQL"
        } else {
            "Python script"
        };
        return Err(format!("the job's {what} ({}) is empty", path.display()));
    }
    if text.len() > MAX_INLINE_SQL {
        return Err(format!(
            "{} is {} bytes, too big to inline (at most {MAX_INLINE_SQL}): put it in the image (local://...) or in object storage (s3://...)",
            path.display(),
            text.len()
        ));
    }
    notes.push(format!(
        "{} inlined into spec.{field} ({} bytes): the cluster does not need the file",
        path.display(),
        text.len()
    ));
    spec.remove("mainApplicationFile");
    spec.insert(field.into(), Value::String(text));
    Ok(())
}

/// A Python application made from a script on this machine (`kiln submit
/// job.py args...`): named after the file, the script inline, its
/// arguments, `executors` executors.
pub fn from_script(
    path: &Path,
    name: Option<&str>,
    arguments: &[String],
    executors: u32,
) -> Result<Prepared, K8sError> {
    let origin = path.display().to_string();
    let err = |message: String| K8sError::Manifest {
        path: origin.clone(),
        message,
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let n: String = stem
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let n = n.trim_matches('-').chars().take(50).collect::<String>();
            if n.is_empty() {
                return Err(err(
                    "cannot name the application after the file: pass --name".into(),
                ));
            }
            n
        }
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut spec = Map::new();
    spec.insert("type".into(), "Python".into());
    spec.insert("mainApplicationFile".into(), Value::String(file));
    if !arguments.is_empty() {
        spec.insert("arguments".into(), serde_json::json!(arguments));
    }
    spec.insert(
        "executor".into(),
        serde_json::json!({"instances": executors.max(1)}),
    );
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut notes = Vec::new();
    inline_sql(&mut spec, &base, &mut notes).map_err(err)?;
    Ok(Prepared {
        object: serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name},
            "spec": spec,
        }),
        name,
        namespace: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(text: &str, dir: &Path) -> Result<Prepared, String> {
        prepare(text, "app.yaml", dir).map_err(|e| e.to_string())
    }

    #[test]
    fn kiln_manifest_is_kept_and_server_fields_removed() {
        let p = prep(
            "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: q1\n  namespace: team\n  uid: abc\n  resourceVersion: \"7\"\nspec:\n  sql: SELECT 1\n  executor: {instances: 2}\nstatus:\n  applicationState: {state: COMPLETED}\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.name, "q1");
        assert_eq!(p.namespace.as_deref(), Some("team"));
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert_eq!(p.object["spec"]["executor"]["instances"], 2);
        assert!(p.object.get("status").is_none());
        assert!(p.object["metadata"].get("uid").is_none());
        assert!(p.object["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn kubeflow_manifest_is_rewritten_and_its_extra_fields_dropped() {
        let p = prep(
            "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {name: pi}\nspec:\n  type: Scala\n  mode: cluster\n  sparkVersion: 3.5.0\n  sql: SELECT 1\n  sparkConf: {spark.sql.shuffle.partitions: \"4\"}\n  driver: {cores: 1, coreLimit: 1200m, memory: 512m}\n  executor: {instances: 1, javaOptions: -Dx=y}\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.object["apiVersion"], API_VERSION);
        let spec = &p.object["spec"];
        for gone in ["type", "mode", "sparkVersion"] {
            assert!(spec.get(gone).is_none(), "{gone} kept");
        }
        assert!(spec["driver"].get("coreLimit").is_none());
        assert!(spec["executor"].get("javaOptions").is_none());
        assert_eq!(spec["driver"]["memory"], "512m");
        assert_eq!(spec["sparkConf"]["spark.sql.shuffle.partitions"], "4");
        let notes = p.notes.join("\n");
        assert!(notes.contains("rewritten to kiln.dev/v1alpha1"), "{notes}");
        assert!(
            notes.contains("spec.type, spec.mode, spec.sparkVersion, spec.driver.coreLimit, spec.executor.javaOptions"),
            "{notes}"
        );
    }

    #[test]
    fn local_sql_file_is_inlined_relative_to_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("job.sql"), "SELECT 42 AS answer;\n").unwrap();
        let text = "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: q}\nspec:\n  mainApplicationFile: job.sql\n";
        let p = prep(text, dir.path()).unwrap();
        assert_eq!(p.object["spec"]["sql"], "SELECT 42 AS answer;\n");
        assert!(p.object["spec"].get("mainApplicationFile").is_none());
        assert!(
            p.notes[0].contains("inlined into spec.sql"),
            "{:?}",
            p.notes
        );

        let abs = dir.path().join("job.sql");
        let text = format!("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {{name: q}}\nspec:\n  mainApplicationFile: file://{}\n", abs.display());
        let p = prep(&text, Path::new("/nonexistent")).unwrap();
        assert_eq!(p.object["spec"]["sql"], "SELECT 42 AS answer;\n");
    }

    #[test]
    fn python_scripts_are_inlined_and_kubeflow_python_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("etl.py"), "print('hi')\n").unwrap();
        let text = "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {name: py}\nspec:\n  type: Python\n  pythonVersion: \"3\"\n  mode: cluster\n  mainApplicationFile: etl.py\n  arguments: [a]\n";
        let p = prep(text, dir.path()).unwrap();
        let spec = &p.object["spec"];
        assert_eq!(spec["type"], "Python");
        assert_eq!(spec["python"], "print('hi')\n");
        assert!(spec.get("mainApplicationFile").is_none());
        assert!(spec.get("pythonVersion").is_none());
        assert_eq!(spec["arguments"][0], "a");
        let p = from_script(&dir.path().join("etl.py"), None, &["x".into()], 2).unwrap();
        assert_eq!(p.name, "etl");
        assert_eq!(p.object["spec"]["type"], "Python");
        assert_eq!(p.object["spec"]["python"], "print('hi')\n");
        assert_eq!(p.object["spec"]["arguments"][0], "x");
        assert_eq!(p.object["spec"]["executor"]["instances"], 2);
        let e = from_script(&dir.path().join("missing.py"), None, &[], 1).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn image_and_remote_files_are_left_to_the_driver() {
        for file in ["local:///opt/jobs/q.sql", "s3://bucket/q.sql"] {
            let text = format!("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {{name: q}}\nspec:\n  mainApplicationFile: {file}\n");
            let p = prep(&text, Path::new(".")).unwrap();
            assert_eq!(p.object["spec"]["mainApplicationFile"], file);
            assert!(p.object["spec"].get("sql").is_none());
        }
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("kind: SparkApplication\nmetadata: {name: a}\nspec: {sql: x}\n", "missing field `apiVersion`"),
            ("apiVersion: v1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {sql: x}\n", "expected `kiln.dev/v1alpha1`"),
            ("apiVersion: kiln.dev/v1alpha1\nkind: Pod\nmetadata: {name: a}\nspec: {sql: x}\n", "expected `SparkApplication`, found `Pod`"),
            ("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nspec: {sql: x}\n", "missing field `metadata`"),
            ("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {labels: {}}\nspec: {sql: x}\n", "missing field `metadata.name`"),
            ("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\n", "missing field `spec`"),
            ("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {mainApplicationFile: missing.sql}\n", "cannot read"),
            ("- a\n- b\n", "expected a YAML mapping"),
            ("apiVersion: [\n", "not a valid manifest: "),
        ];
        for (text, want) in cases {
            let e = prep(text, dir.path()).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with("app.yaml: "), "{e}");
        }
        std::fs::write(dir.path().join("blank.sql"), "  \n").unwrap();
        let e = prep("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {mainApplicationFile: blank.sql}\n", dir.path()).unwrap_err();
        assert!(e.contains("is empty"), "{e}");
    }
}
