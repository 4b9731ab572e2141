//! PySpark scripts run against a Spark Connect endpoint of the driver's own:
//! where the script comes from (a file, inline text, an `s3://` object),
//! which Python runs it (Spark's `spark.pyspark.*` settings and
//! `PYSPARK_*` variables), and running it with `SPARK_REMOTE` set, its
//! output forwarded and the last line of its stderr kept (a traceback's
//! last line is the exception) for the error message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kiln_core::manifest::PythonScript;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::CliError;

/// Spark's settings and variables naming the driver's Python, in Spark's
/// order of precedence (the first one set wins).
const PYTHON_SETTINGS: [&str; 2] = ["spark.pyspark.driver.python", "spark.pyspark.python"];
const PYTHON_ENV: [&str; 2] = ["PYSPARK_DRIVER_PYTHON", "PYSPARK_PYTHON"];

/// The Python interpreter for a script: `spark.pyspark.driver.python`, then
/// `spark.pyspark.python` from `conf`, then `$PYSPARK_DRIVER_PYTHON`,
/// `$PYSPARK_PYTHON`, else `python3` on `PATH`.
pub fn interpreter(conf: &BTreeMap<String, String>) -> PathBuf {
    PYTHON_SETTINGS
        .iter()
        .find_map(|k| conf.get(*k).filter(|v| !v.trim().is_empty()).cloned())
        .or_else(|| {
            PYTHON_ENV
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        })
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// A local file holding the script: the file itself, or `dir/<name>` written
/// from inline text or downloaded from object storage.
pub async fn materialize(
    script: &PythonScript,
    dir: &Path,
    conf: &BTreeMap<String, String>,
) -> Result<PathBuf, CliError> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, CliError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    };
    match script {
        PythonScript::File(p) => {
            if p.is_file() {
                Ok(p.clone())
            } else {
                Err(CliError::Input(format!(
                    "spec.mainApplicationFile: {}: no such Python script",
                    p.display()
                )))
            }
        }
        PythonScript::Inline(text) => write("main.py", text.as_bytes()),
        PythonScript::Remote(url) => {
            let bytes = fetch(url, conf).await?;
            let name = url.rsplit('/').next().filter(|n| !n.is_empty());
            write(name.unwrap_or("main.py"), &bytes)
        }
    }
}

/// The bytes of an `s3://bucket/key` object, with the application's S3 settings.
async fn fetch(url: &str, conf: &BTreeMap<String, String>) -> Result<Vec<u8>, CliError> {
    use object_store::ObjectStoreExt;
    let bad = |m: String| CliError::Failed(format!("spec.mainApplicationFile {url}: {m}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("only s3:// URLs are read".into()))?;
    let (bucket, key) = rest
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| bad("expected s3://bucket/path/to/script.py".into()))?;
    let runtime = datafusion::execution::runtime_env::RuntimeEnv::default();
    kiln_core::objectstore::register_s3(&runtime, bucket, conf).map_err(|e| bad(e.to_string()))?;
    let store_url =
        datafusion::execution::object_store::ObjectStoreUrl::parse(format!("s3://{bucket}"))
            .map_err(|e| bad(e.to_string()))?;
    let store = runtime
        .object_store(&store_url)
        .map_err(|e| bad(e.to_string()))?;
    let got = store
        .get(&object_store::path::Path::from(key))
        .await
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    let bytes = got
        .bytes()
        .await
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    Ok(bytes.to_vec())
}

/// How a script ended.
#[derive(Debug)]
pub struct ScriptExit {
    /// Its exit code (1 when killed by a signal).
    pub code: u8,
    /// The last non-empty line it wrote to stderr (a traceback's exception).
    pub last_error_line: Option<String>,
}

/// Runs `python script args...` with `SPARK_REMOTE=sc://127.0.0.1:<port>`,
/// its stdout and stderr forwarded to ours.
pub async fn run(
    python: &Path,
    script: &Path,
    args: &[String],
    port: u16,
) -> Result<ScriptExit, CliError> {
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .env("SPARK_REMOTE", format!("sc://127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            CliError::Input(format!(
                "cannot run {} {}: {e} (set spark.pyspark.python or PYSPARK_PYTHON to a Python with pyspark-client)",
                python.display(),
                script.display()
            ))
        })?;
    let mut last = None;
    if let Some(err) = child.stderr.take() {
        let mut lines = BufReader::new(err).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
            if !line.trim().is_empty() {
                last = Some(line.trim().to_string());
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| CliError::Failed(format!("waiting for {}: {e}", script.display())))?;
    Ok(ScriptExit {
        code: status.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(1),
        last_error_line: last,
    })
}

/// The error of a script that exited non-zero: its name, exit code and the
/// last line of its stderr.
pub fn failure(script: &Path, exit: &ScriptExit) -> String {
    let name = script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| script.display().to_string());
    match &exit.last_error_line {
        Some(line) => format!(
            "the Python script {name} failed (exit code {}): {line}",
            exit.code
        ),
        None => format!("the Python script {name} failed (exit code {})", exit.code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_interpreter_before_the_environment() {
        let mut conf = BTreeMap::new();
        conf.insert(
            "spark.pyspark.python".to_string(),
            "/opt/py/bin/python".to_string(),
        );
        assert_eq!(interpreter(&conf), PathBuf::from("/opt/py/bin/python"));
        conf.insert(
            "spark.pyspark.driver.python".to_string(),
            "/opt/driver/bin/python".to_string(),
        );
        assert_eq!(interpreter(&conf), PathBuf::from("/opt/driver/bin/python"));
    }

    #[tokio::test]
    async fn a_failing_script_reports_its_last_stderr_line() {
        let dir = tempfile::tempdir().unwrap();
        let script = materialize(
            &PythonScript::Inline(
                "import sys\nprint('out', sys.argv[1:])\nraise ValueError('boom')\n".into(),
            ),
            dir.path(),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
        let exit = run(Path::new("python3"), &script, &["a".into()], 1)
            .await
            .unwrap();
        assert_eq!(exit.code, 1);
        assert_eq!(exit.last_error_line.as_deref(), Some("ValueError: boom"));
        assert_eq!(
            failure(&script, &exit),
            "the Python script main.py failed (exit code 1): ValueError: boom"
        );
        let missing = materialize(
            &PythonScript::File(dir.path().join("nope.py")),
            dir.path(),
            &BTreeMap::new(),
        )
        .await
        .unwrap_err();
        assert!(
            missing.to_string().contains("no such Python script"),
            "{missing}"
        );
    }
}
