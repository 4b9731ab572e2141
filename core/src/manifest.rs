//! The `SparkApplication` manifest: the one description of a job, read by
//! `kiln run` on a laptop and (later) by the operator on Kubernetes.
//!
//! Field names follow kubeflow's `sparkoperator.k8s.io/v1beta2` where the
//! meaning is the same. Unknown fields are ignored so that a kubeflow manifest
//! with extra fields (`type`, `mode`, `sparkVersion`, ...) still loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{KilnError, Result};

/// The API version Kiln's CRD serves.
pub const API_VERSION: &str = "kiln.dev/v1alpha1";
/// The kind of a single batch application.
pub const KIND: &str = "SparkApplication";

/// A parsed and validated application manifest.
#[derive(Debug, Clone)]
pub struct Application {
    /// `metadata.name`.
    pub name: String,
    /// What the driver runs: SQL statements, a PySpark script, or a Spark
    /// Connect server (`spec.type`).
    pub job: Job,
    /// The job's SQL text (from `spec.sql` or the file `spec.mainApplicationFile`
    /// names); empty for Python and Connect applications.
    pub sql: String,
    /// Where the SQL came from, for error messages.
    pub sql_origin: String,
    /// Driver resources.
    pub driver: DriverSpec,
    /// Executor resources.
    pub executor: ExecutorSpec,
    /// Engine settings (`spec.conf`), values as strings.
    pub conf: BTreeMap<String, String>,
}

/// What an application's driver runs (`spec.type`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Job {
    /// The statements in `Application::sql` (`type: SQL`, the default).
    #[default]
    Sql,
    /// A PySpark script run against the driver's own Spark Connect endpoint
    /// (`type: Python`), with `spec.arguments`.
    Python {
        /// Where the script is.
        script: PythonScript,
        /// Its command-line arguments.
        arguments: Vec<String>,
    },
    /// A long-running Spark Connect server (`type: Connect`).
    Connect,
}

/// Where a PySpark script comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PythonScript {
    /// A file on this machine or in the image (`local://`, `file://` or a
    /// path, relative to the manifest).
    File(PathBuf),
    /// The script's text (`spec.python`, as `kiln submit` inlines a local file).
    Inline(String),
    /// An object-store URL (`s3://bucket/key.py`), read by the driver.
    Remote(String),
}

/// Resources of the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverSpec {
    /// CPU cores.
    pub cores: u32,
    /// Memory in bytes, if set.
    pub memory_bytes: Option<u64>,
}

/// Resources of the executors.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorSpec {
    /// Number of executors.
    pub instances: u32,
    /// Task slots (CPU cores) per executor.
    pub cores: u32,
    /// Memory pool per executor in bytes, if set.
    pub memory_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<RawMetadata>,
    spec: Option<RawSpec>,
}

#[derive(Deserialize)]
struct RawMetadata {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    #[serde(rename = "type")]
    type_: Option<String>,
    sql: Option<String>,
    python: Option<String>,
    main_application_file: Option<String>,
    arguments: Option<Vec<serde_yaml::Value>>,
    driver: Option<RawPod>,
    executor: Option<RawPod>,
    conf: Option<BTreeMap<String, serde_yaml::Value>>,
    spark_conf: Option<BTreeMap<String, serde_yaml::Value>>,
}

#[derive(Deserialize)]
struct RawPod {
    cores: Option<serde_yaml::Value>,
    memory: Option<serde_yaml::Value>,
    instances: Option<serde_yaml::Value>,
}

impl Application {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| KilnError::Manifest {
            path: path.display().to_string(),
            message: format!("cannot read the file: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &path.display().to_string(), &base)
    }

    /// Parses manifest text; `origin` names it in errors and `base_dir`
    /// resolves a relative `mainApplicationFile`.
    pub fn parse(text: &str, origin: &str, base_dir: &Path) -> Result<Self> {
        let err = |message: String| KilnError::Manifest {
            path: origin.to_string(),
            message,
        };
        let raw: RawManifest = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            let msg = e.to_string();
            // serde_yaml appends its own location; keep one.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            err(format!("not a valid manifest{at}: {msg}"))
        })?;
        match raw.api_version.as_deref() {
            None => return Err(err("missing field `apiVersion`".into())),
            Some(API_VERSION) | Some("sparkoperator.k8s.io/v1beta2") => {}
            Some(other) => {
                return Err(err(format!(
                    "field `apiVersion`: expected `{API_VERSION}`, found `{other}`"
                )))
            }
        }
        match raw.kind.as_deref() {
            None => return Err(err("missing field `kind`".into())),
            Some(KIND) => {}
            Some(other) => {
                return Err(err(format!(
                    "field `kind`: expected `{KIND}`, found `{other}`"
                )))
            }
        }
        let name = raw
            .metadata
            .and_then(|m| m.name)
            .ok_or_else(|| err("missing field `metadata.name`".into()))?;
        if !is_dns_label(&name) {
            return Err(err(format!(
                "field `metadata.name`: `{name}` must be lower-case letters, digits and '-', at most 63 characters"
            )));
        }
        let spec = raw.spec.ok_or_else(|| err("missing field `spec`".into()))?;
        let (job, sql, sql_origin) = job_of(&spec, origin, base_dir).map_err(err)?;
        let driver = spec.driver.unwrap_or(RawPod {
            cores: None,
            memory: None,
            instances: None,
        });
        let executor = spec.executor.unwrap_or(RawPod {
            cores: None,
            memory: None,
            instances: None,
        });
        let driver = DriverSpec {
            cores: positive_int(driver.cores.as_ref(), "spec.driver.cores", 1).map_err(err)?,
            memory_bytes: optional_memory(driver.memory.as_ref(), "spec.driver.memory")
                .map_err(err)?,
        };
        let executor = ExecutorSpec {
            instances: positive_int(executor.instances.as_ref(), "spec.executor.instances", 1)
                .map_err(err)?,
            cores: positive_int(executor.cores.as_ref(), "spec.executor.cores", 1).map_err(err)?,
            memory_bytes: optional_memory(executor.memory.as_ref(), "spec.executor.memory")
                .map_err(err)?,
        };
        let mut conf = BTreeMap::new();
        for (field, map) in [("sparkConf", spec.spark_conf), ("conf", spec.conf)] {
            for (k, v) in map.unwrap_or_default() {
                let v = scalar_to_string(&v).ok_or_else(|| {
                    err(format!(
                        "field `spec.{field}.{k}`: value must be a string, number or boolean"
                    ))
                })?;
                conf.insert(k, v);
            }
        }
        Ok(Application {
            name,
            job,
            sql,
            sql_origin,
            driver,
            executor,
            conf,
        })
    }

    /// Total task slots over all executors (Spark's default parallelism).
    pub fn total_cores(&self) -> usize {
        (self.executor.instances as usize) * (self.executor.cores as usize)
    }
}

/// The job of a spec: its kind, and for SQL the text and where it came from.
fn job_of(
    spec: &RawSpec,
    origin: &str,
    base_dir: &Path,
) -> std::result::Result<(Job, String, String), String> {
    let kind = spec.type_.as_deref().unwrap_or("SQL");
    let file = spec.main_application_file.as_deref();
    match kind {
        "SQL" | "Sql" | "sql" => {
            if spec.python.is_some() {
                return Err("field `spec.python` needs `spec.type: Python`".into());
            }
            let (sql, sql_origin) = match (&spec.sql, file) {
                (Some(_), Some(_)) => {
                    return Err(
                        "fields `spec.sql` and `spec.mainApplicationFile` are both set; use one"
                            .into(),
                    )
                }
                (Some(sql), None) => (sql.clone(), format!("{origin} (spec.sql)")),
                (None, Some(file)) => {
                    let p = local_file(file, base_dir);
                    let sql = std::fs::read_to_string(&p).map_err(|e| {
                        format!(
                            "field `spec.mainApplicationFile`: cannot read {}: {e}",
                            p.display()
                        )
                    })?;
                    (sql, p.display().to_string())
                }
                (None, None) => return Err(
                    "missing field `spec.sql` or `spec.mainApplicationFile`: the job has no SQL"
                        .into(),
                ),
            };
            if sql.trim().is_empty() {
                return Err(format!("the job's SQL ({sql_origin}) is empty"));
            }
            Ok((Job::Sql, sql, sql_origin))
        }
        "Python" => {
            if spec.sql.is_some() {
                return Err("field `spec.sql` cannot be used with `spec.type: Python` (the script is `spec.mainApplicationFile` or `spec.python`)".into());
            }
            let script = match (&spec.python, file) {
                (Some(_), Some(_)) => {
                    return Err(
                        "fields `spec.python` and `spec.mainApplicationFile` are both set; use one"
                            .into(),
                    )
                }
                (Some(text), None) if text.trim().is_empty() => {
                    return Err("field `spec.python`: the script is empty".into())
                }
                (Some(text), None) => PythonScript::Inline(text.clone()),
                (None, Some(f)) if f.starts_with("s3://") => PythonScript::Remote(f.to_string()),
                (None, Some(f)) if f.contains("://") && !f.starts_with("local://") && !f.starts_with("file://") => {
                    return Err(format!(
                        "field `spec.mainApplicationFile`: `{f}`: only local://, file://, s3:// or a path are supported"
                    ))
                }
                (None, Some(f)) => PythonScript::File(local_file(f, base_dir)),
                (None, None) => {
                    return Err("missing field `spec.mainApplicationFile` (or `spec.python`): a Python application needs its script".into())
                }
            };
            let arguments = spec
                .arguments
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| {
                    scalar_to_string(v).ok_or_else(|| {
                        format!("field `spec.arguments[{i}]`: must be a string, number or boolean")
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok((
                Job::Python { script, arguments },
                String::new(),
                format!("{origin} (Python)"),
            ))
        }
        "Connect" => {
            if spec.sql.is_some() || spec.python.is_some() || file.is_some() {
                return Err("a `spec.type: Connect` application serves Spark Connect clients: it takes no `spec.sql`, `spec.python` or `spec.mainApplicationFile`".into());
            }
            Ok((Job::Connect, String::new(), format!("{origin} (Connect)")))
        }
        other => Err(format!(
            "field `spec.type`: `{other}` is not supported by Kiln (use SQL, Python or Connect)"
        )),
    }
}

/// The path a `mainApplicationFile` names: `local://` (in the image) and
/// `file://` prefixes dropped, relative paths taken from `base_dir`.
fn local_file(file: &str, base_dir: &Path) -> PathBuf {
    let local = file.strip_prefix("local://").unwrap_or(file);
    let local = local.strip_prefix("file://").unwrap_or(local);
    let p = PathBuf::from(local);
    if p.is_relative() {
        base_dir.join(p)
    } else {
        p
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn scalar_to_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn positive_int(
    v: Option<&serde_yaml::Value>,
    field: &str,
    default: u32,
) -> std::result::Result<u32, String> {
    let Some(v) = v else { return Ok(default) };
    let n = match v {
        serde_yaml::Value::Number(n) => n.as_i64(),
        serde_yaml::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=4096).contains(&n) => Ok(n as u32),
        Some(n) => Err(format!(
            "field `{field}`: must be between 1 and 4096, found {n}"
        )),
        None => Err(format!(
            "field `{field}`: expected a whole number, found {}",
            scalar_to_string(v).unwrap_or_else(|| "a non-scalar value".into())
        )),
    }
}

fn optional_memory(
    v: Option<&serde_yaml::Value>,
    field: &str,
) -> std::result::Result<Option<u64>, String> {
    let Some(v) = v else { return Ok(None) };
    let s = scalar_to_string(v).unwrap_or_default();
    parse_memory(&s)
        .map(Some)
        .map_err(|m| format!("field `{field}`: {m}"))
}

/// Memory sizes are read by [`kiln_values::memory`] (Spark's and
/// Kubernetes' units), re-exported for the crates that read manifests.
pub use kiln_values::memory::parse_memory;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Application> {
        Application::parse(text, "app.yaml", Path::new("."))
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let app = parse(
            "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec:\n  sql: SELECT 1\n",
        )
        .unwrap();
        assert_eq!(app.executor.instances, 1);
        assert_eq!(app.executor.cores, 1);
        assert_eq!(app.sql, "SELECT 1");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.sql"), "{e}");
        let e = parse("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec:\n  sql: x\n  executor: {instances: -2}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.executor.instances"), "{e}");
        let e = parse("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec:\n  sql: x\n  executor: {memory: lots}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.executor.memory"), "{e}");
        let e = parse("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nspec:\n  sql: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata.name"), "{e}");
    }

    #[test]
    fn python_and_connect_jobs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("job.py"), "print(1)\n").unwrap();
        let head =
            "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata: {name: a}\nspec:\n";
        let app = Application::parse(
            &format!("{head}  type: Python\n  mainApplicationFile: job.py\n  arguments: [x, 2]\n"),
            "app.yaml",
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            app.job,
            Job::Python {
                script: PythonScript::File(dir.path().join("job.py")),
                arguments: vec!["x".into(), "2".into()],
            }
        );
        assert!(app.sql.is_empty());
        let app = parse(&format!("{head}  type: Python\n  python: print(2)\n")).unwrap();
        assert!(
            matches!(app.job, Job::Python { script: PythonScript::Inline(t), .. } if t == "print(2)")
        );
        let app = parse(&format!(
            "{head}  type: Python\n  mainApplicationFile: s3://b/k.py\n"
        ))
        .unwrap();
        assert!(
            matches!(app.job, Job::Python { script: PythonScript::Remote(u), .. } if u == "s3://b/k.py")
        );
        let app = parse(&format!("{head}  type: Connect\n")).unwrap();
        assert_eq!(app.job, Job::Connect);
        for (spec, want) in [
            ("  type: Python\n", "needs its script"),
            (
                "  type: Python\n  sql: SELECT 1\n",
                "cannot be used with `spec.type: Python`",
            ),
            ("  type: Connect\n  sql: SELECT 1\n", "takes no"),
            (
                "  type: Scala\n  sql: SELECT 1\n",
                "`Scala` is not supported",
            ),
            (
                "  sql: SELECT 1\n  python: print(1)\n",
                "needs `spec.type: Python`",
            ),
            (
                "  type: Python\n  mainApplicationFile: hdfs://x/y.py\n",
                "only local://",
            ),
        ] {
            let e = parse(&format!("{head}{spec}")).unwrap_err().to_string();
            assert!(e.contains(want), "{spec:?}: {e}");
        }
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let e = parse("apiVersion: [\n").unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
    }
}
