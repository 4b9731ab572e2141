//! Readiness probes: tcpSocket, httpGet and exec, each run once per period.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn probe_port(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Runs a readiness probe once (tcpSocket, httpGet or exec).
pub(super) async fn run_probe(p: &Probe, c: &Container, pod_ip: &str) -> bool {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    let fut = async {
        if let Some(t) = &p.tcp_socket {
            let host = t.host.clone().unwrap_or_else(|| pod_ip.to_string());
            let Some(port) = probe_port(&t.port, c) else {
                return false;
            };
            return tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .is_ok();
        }
        if let Some(h) = &p.http_get {
            let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
            let Some(port) = probe_port(&h.port, c) else {
                return false;
            };
            let Ok(mut s) = tokio::net::TcpStream::connect((host.as_str(), port)).await else {
                return false;
            };
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_err() {
                return false;
            }
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]);
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return (200..400).contains(&code);
        }
        if let Some(e) = &p.exec {
            let cmd = e.command.clone().unwrap_or_default();
            let Some((prog, args)) = cmd.split_first() else {
                return false;
            };
            return tokio::process::Command::new(prog)
                .args(args)
                .env("POD_IP", pod_ip)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .map(|s| s.success())
                .unwrap_or(false);
        }
        true
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(false)
}
