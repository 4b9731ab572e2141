//! The logs a finished run archived next to its event log, read back from
//! the history server once the pods are gone: `kiln logs` asks
//! `<status.historyURL>logs/<name>/raw` (or the same path below
//! `--history-url`, e.g. a `kubectl port-forward` to the history Service).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_operator::SparkApplication;

/// The URL of archived log `name` (`driver.log`, `executor-<id>.log`) of
/// `app`'s current run: below `base` (a history server's root) when given,
/// else below the run's `status.historyURL`; `None` without either.
pub fn log_url(app: &SparkApplication, base: Option<&str>, name: &str) -> Option<String> {
    let st = app.status.as_ref()?;
    let run_root = match base {
        Some(b) => format!(
            "{}/history/{}/",
            b.trim_end_matches('/'),
            st.spark_application_id.as_deref()?
        ),
        None => st.history_url.clone()?,
    };
    Some(format!("{}logs/{name}/raw", with_slash(&run_root)))
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_string()
    } else {
        format!("{u}/")
    }
}

/// `GET url` (plain HTTP, as in-cluster Services and port-forwards serve):
/// the body, or why not.
pub async fn get(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.get(uri))
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: serde_json::Value) -> SparkApplication {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "q", "namespace": "team"},
            "spec": {"sql": "SELECT 1"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn the_archive_is_found_from_the_status_or_a_given_base() {
        let a = app(serde_json::json!({
            "sparkApplicationId": "q-2",
            "historyURL": "http://h.kiln-system.svc:18080/kh/history/q-2/",
        }));
        assert_eq!(
            log_url(&a, None, "driver.log").as_deref(),
            Some("http://h.kiln-system.svc:18080/kh/history/q-2/logs/driver.log/raw")
        );
        assert_eq!(
            log_url(&a, Some("http://127.0.0.1:18080/kh/"), "executor-1.log").as_deref(),
            Some("http://127.0.0.1:18080/kh/history/q-2/logs/executor-1.log/raw")
        );
        let none = app(serde_json::json!({"sparkApplicationId": "q-2"}));
        assert_eq!(log_url(&none, None, "driver.log"), None);
    }

    #[tokio::test]
    async fn a_refused_connection_says_where() {
        let err = get("http://127.0.0.1:1/x").await.unwrap_err();
        assert!(err.starts_with("http://127.0.0.1:1/x: "), "{err}");
    }
}
