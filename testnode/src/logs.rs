//! The kubelet's `/containerLogs/{ns}/{pod}/{container}` endpoint over TLS, so
//! the API server's `pods/log` (and so `kubectl logs`) works. Supports
//! `follow`, `previous` and `tailLines`; anything else is ignored.
//!
//! HTTP/1.1 is hand-rolled: one GET per connection, the body ends when the
//! connection closes. That is all the API server's proxy needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tracing::{debug, info, warn};

use crate::config::NodeConfig;
use crate::kubelet::Registry;

pub async fn serve(cfg: Arc<NodeConfig>, registry: Registry) -> anyhow::Result<JoinHandle<()>> {
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        info!("no TLS cert/key: kubelet log endpoint disabled");
        return Ok(tokio::spawn(async {}));
    };
    if cfg.kubelet_port == 0 {
        return Ok(tokio::spawn(async {}));
    }
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind((crate::node::NODE_IP, cfg.kubelet_port))
        .await
        .with_context(|| format!("binding kubelet port {}", cfg.kubelet_port))?;
    info!(port = cfg.kubelet_port, "kubelet log endpoint listening");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let registry = registry.clone();
            tokio::spawn(async move {
                match acceptor.accept(sock).await {
                    Ok(tls) => {
                        if let Err(e) = handle(tls, registry).await {
                            debug!("log request failed: {e:#}");
                        }
                    }
                    Err(e) => debug!("TLS accept failed: {e}"),
                }
            });
        }
    }))
}

async fn respond<W: AsyncWrite + Unpin>(w: &mut W, code: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        if code == 200 { "OK" } else { "Error" },
        body.len()
    );
    w.write_all(head.as_bytes()).await?;
    w.write_all(body.as_bytes()).await?;
    w.shutdown().await
}

fn query_param<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// The newest run number among the `<n>.log` files of one container's log folder.
pub fn newest_run(dir: &Path) -> Option<u32> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse().ok())
        })
        .max()
}

async fn handle<S>(stream: S, registry: Registry) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).await?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let target = first.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut w = reader;
    let ["containerLogs", ns, pod, container] = parts.as_slice() else {
        return Ok(respond(&mut w, 404, "not found\n").await?);
    };
    let dir: Option<PathBuf> = registry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(ns.to_string(), pod.to_string()))
        .cloned();
    let Some(dir) = dir else {
        return Ok(respond(
            &mut w,
            404,
            &format!("pod {ns}/{pod} is not on this node\n"),
        )
        .await?);
    };
    let log_dir = dir.join("logs").join(container);
    let Some(newest) = newest_run(&log_dir) else {
        let msg = format!("container {container:?} in pod {ns}/{pod} has not started\n");
        return Ok(respond(&mut w, 400, &msg).await?);
    };
    let previous = query_param(query, "previous") == Some("true");
    let follow = query_param(query, "follow") == Some("true");
    let tail: Option<usize> = query_param(query, "tailLines").and_then(|v| v.parse().ok());
    let run = if previous {
        match newest.checked_sub(1) {
            Some(r) => r,
            None => {
                let msg = format!("previous terminated container {container:?} not found\n");
                return Ok(respond(&mut w, 400, &msg).await?);
            }
        }
    } else {
        newest
    };
    let file = log_dir.join(format!("{run}.log"));
    let done = log_dir.join(format!("{run}.done"));
    let data = tokio::fs::read(&file).await.unwrap_or_default();
    let start = match tail {
        Some(n) => {
            let text = &data[..];
            let mut count = 0;
            let mut pos = text.len();
            // Skip a trailing newline so it does not count as a line.
            let mut i = text.len().saturating_sub(1);
            while i > 0 {
                if text[i - 1] == b'\n' {
                    count += 1;
                    if count == n {
                        pos = i;
                        break;
                    }
                }
                i -= 1;
            }
            if count < n {
                0
            } else {
                pos
            }
        }
        None => 0,
    };
    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        .await?;
    w.write_all(&data[start..]).await?;
    if follow && !previous {
        let mut f = tokio::fs::File::open(&file).await?;
        let mut pos = data.len() as u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            use tokio::io::AsyncSeekExt;
            f.seek(std::io::SeekFrom::Start(pos)).await?;
            let n = f.read(&mut buf).await?;
            if n > 0 {
                pos += n as u64;
                w.write_all(&buf[..n]).await?;
                w.flush().await?;
                continue;
            }
            // Stop when this run ended (and all its output was sent) or a
            // newer run started.
            if done.exists() || newest_run(&log_dir).is_some_and(|r| r > run) {
                let n = f.read(&mut buf).await?;
                if n > 0 {
                    pos += n as u64;
                    w.write_all(&buf[..n]).await?;
                    continue;
                }
                break;
            }
            if !dir.exists() {
                warn!("pod folder vanished while following logs");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    w.shutdown().await?;
    Ok(())
}
