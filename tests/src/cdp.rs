//! A headless Chromium driven over the Chrome DevTools Protocol, for the
//! browser test of the web UI: starts Debian's chromium (from
//! `scripts/setup-chromium.sh`), attaches to its page over a WebSocket and
//! sends protocol commands, keeping the events it receives (console
//! messages, exceptions, network responses, Server-Sent Events).
//!
//! The WebSocket is the protocol's minimum (RFC 6455 text frames, masked
//! from the client, no extensions) over loopback: a WebSocket crate would
//! add `rand` features to the workspace's build and rebuild DataFusion.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// A problem talking to Chromium.
#[derive(Debug)]
pub enum CdpError {
    /// Chromium did not start or announce its DevTools port.
    Start(String),
    /// The WebSocket or HTTP connection failed.
    Io(std::io::Error),
    /// Chromium answered something that is not the protocol.
    Protocol(String),
    /// A command returned an error.
    Command {
        /// The method called.
        method: String,
        /// Chromium's error object.
        error: Value,
    },
}

impl std::fmt::Display for CdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CdpError::Start(m) => write!(f, "chromium did not start: {m}"),
            CdpError::Io(e) => write!(f, "DevTools connection: {e}"),
            CdpError::Protocol(m) => write!(f, "DevTools protocol: {m}"),
            CdpError::Command { method, error } => write!(f, "{method} failed: {error}"),
        }
    }
}

impl std::error::Error for CdpError {}

impl From<std::io::Error> for CdpError {
    fn from(e: std::io::Error) -> Self {
        CdpError::Io(e)
    }
}

/// The chromium wrapper `scripts/setup-chromium.sh` installs (pinned,
/// cached outside the clone; installed on first use).
pub fn chromium_bin() -> PathBuf {
    PathBuf::from(crate::setup_script("scripts/setup-chromium.sh", &[]))
}

/// A headless Chromium process, killed when dropped.
pub struct Browser {
    child: Child,
    port: u16,
}

impl Browser {
    /// Starts headless Chromium with its profile in `profile` and a
    /// `width` x `height` window.
    pub fn start(profile: &Path, width: u32, height: u32) -> Result<Browser, CdpError> {
        let mut child = Command::new(chromium_bin())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CdpError::Start(e.to_string()))?;
        let err = child.stderr.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Some(err) = err else { return };
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| CdpError::Start("no `DevTools listening on` line".into()));
        let url = match url {
            Ok(u) => u,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let port = url
            .strip_prefix("ws://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| CdpError::Start(format!("unexpected DevTools URL {url}")))?;
        Ok(Browser { child, port })
    }

    /// Attaches to the browser's first page (the `about:blank` it opened).
    pub fn page(&self) -> Result<Page, CdpError> {
        let addr = format!("127.0.0.1:{}", self.port);
        let list: Value = serde_json::from_str(&http_get(&addr, "/json/list")?)
            .map_err(|e| CdpError::Protocol(format!("/json/list: {e}")))?;
        let ws = list
            .as_array()
            .and_then(|a| a.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .ok_or_else(|| CdpError::Protocol(format!("no page target in {list}")))?;
        Page::connect(ws)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(addr: &str, path: &str) -> Result<String, CdpError> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    // Chromium keeps the connection open: read the head, then its length.
    let mut reader = BufReader::new(s);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(CdpError::Protocol(format!("GET {path}: no HTTP head")));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let length =
        length.ok_or_else(|| CdpError::Protocol(format!("GET {path}: no Content-Length")))?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// One page of the browser, attached over the DevTools protocol.
pub struct Page {
    stream: TcpStream,
    next_id: u64,
    /// Every event received so far (`{"method": ..., "params": ...}`).
    pub events: Vec<Value>,
}

impl Page {
    fn connect(ws_url: &str) -> Result<Page, CdpError> {
        let rest = ws_url
            .strip_prefix("ws://")
            .ok_or_else(|| CdpError::Protocol(format!("not a ws:// URL: {ws_url}")))?;
        let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut stream = TcpStream::connect(addr)?;
        // The key only has to be 16 bytes in base64; loopback needs no nonce.
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: a2lsbi1icm93c2VyLXRlc3Q=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(CdpError::Protocol(format!(
                "WebSocket upgrade refused: {head}"
            )));
        }
        let mut page = Page {
            stream,
            next_id: 0,
            events: vec![],
        };
        for domain in ["Page", "Runtime", "Log", "Network"] {
            page.call(&format!("{domain}.enable"), json!({}))?;
        }
        Ok(page)
    }

    fn send(&mut self, text: &str) -> Result<(), CdpError> {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8]; // FIN, text
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x6b, 0x69, 0x6c, 0x6e];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// The next whole message, or `None` when none arrived before `until`.
    fn receive(&mut self, until: Instant) -> Result<Option<Value>, CdpError> {
        let mut message = Vec::new();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() && message.is_empty() {
                return Ok(None);
            }
            // Once a message has begun, the rest of it follows at once.
            let wait = if message.is_empty() {
                left.max(Duration::from_millis(1))
            } else {
                Duration::from_secs(30)
            };
            self.stream.set_read_timeout(Some(wait))?;
            let mut head = [0u8; 2];
            match self.stream.read_exact(&mut head) {
                Ok(()) => {}
                Err(e)
                    if message.is_empty()
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
            self.stream
                .set_read_timeout(Some(Duration::from_secs(30)))?;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b)?;
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b)?;
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload)?;
            match head[0] & 0x0f {
                0x0 | 0x1 => message.extend_from_slice(&payload),
                0x8 => return Err(CdpError::Protocol("Chromium closed the WebSocket".into())),
                _ => continue, // ping, pong: nothing to answer on loopback
            }
            if head[0] & 0x80 != 0 {
                return serde_json::from_slice(&message)
                    .map(Some)
                    .map_err(|e| CdpError::Protocol(format!("not JSON: {e}")));
            }
        }
    }

    /// Calls a protocol method and returns its result; events that arrive
    /// meanwhile are kept in [`Page::events`].
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"id": id, "method": method, "params": params}).to_string())?;
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let Some(msg) = self.receive(until)? else {
                return Err(CdpError::Protocol(format!("no answer to {method}")));
            };
            if msg["id"] == id {
                if !msg["error"].is_null() {
                    return Err(CdpError::Command {
                        method: method.to_string(),
                        error: msg["error"].clone(),
                    });
                }
                return Ok(msg["result"].clone());
            }
            if msg.get("method").is_some() {
                self.events.push(msg);
            }
        }
    }

    /// Keeps the events that arrive during `d`.
    pub fn pump(&mut self, d: Duration) -> Result<(), CdpError> {
        let until = Instant::now() + d;
        while let Some(msg) = self.receive(until)? {
            if msg.get("method").is_some() {
                self.events.push(msg);
            }
        }
        Ok(())
    }

    /// Loads `url` and waits for its `load` event; returns the document's
    /// HTTP status.
    pub fn navigate(&mut self, url: &str) -> Result<u16, CdpError> {
        let from = self.events.len();
        let r = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(e) = r["errorText"].as_str() {
            return Err(CdpError::Protocol(format!("navigate {url}: {e}")));
        }
        let until = Instant::now() + Duration::from_secs(120);
        while !self.events[from..]
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired")
        {
            if Instant::now() > until {
                return Err(CdpError::Protocol(format!("{url} never loaded")));
            }
            self.pump(Duration::from_millis(100))?;
        }
        let status = self.events[from..]
            .iter()
            .find(|e| {
                e["method"] == "Network.responseReceived" && e["params"]["type"] == "Document"
            })
            .and_then(|e| e["params"]["response"]["status"].as_u64())
            .unwrap_or(0);
        Ok(status as u16)
    }

    /// Evaluates a JavaScript expression in the page; its value as JSON.
    pub fn eval(&mut self, expression: &str) -> Result<Value, CdpError> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if !r["exceptionDetails"].is_null() {
            return Err(CdpError::Protocol(format!(
                "{expression}: {}",
                r["exceptionDetails"]
            )));
        }
        Ok(r["result"]["value"].clone())
    }

    /// A PNG of the whole page (up to `max_height` pixels tall), `width`
    /// pixels wide, written to `path`.
    pub fn screenshot(&mut self, path: &Path, width: u32, max_height: u32) -> Result<(), CdpError> {
        let h = self
            .eval("Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")?
            .as_u64()
            .unwrap_or(800)
            .min(max_height as u64);
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": h, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        self.call("Emulation.clearDeviceMetricsOverride", json!({}))?;
        let data = shot?["data"].as_str().unwrap_or_default().to_string();
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| CdpError::Protocol(format!("screenshot: {e}")))?;
        std::fs::write(path, png)?;
        Ok(())
    }

    /// The console errors, uncaught exceptions, failed loads and HTTP
    /// error responses among the events since index `from`.
    pub fn errors_since(&self, from: usize) -> Vec<String> {
        let mut out = vec![];
        for e in &self.events[from.min(self.events.len())..] {
            let p = &e["params"];
            match e["method"].as_str().unwrap_or_default() {
                "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                    out.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                "Runtime.exceptionThrown" => {
                    out.push(format!("exception: {}", p["exceptionDetails"]))
                }
                "Log.entryAdded" if p["entry"]["level"] == "error" => {
                    out.push(format!("log: {} {}", p["entry"]["text"], p["entry"]["url"]))
                }
                "Network.responseReceived"
                    if p["response"]["status"].as_u64().unwrap_or(0) >= 400 =>
                {
                    out.push(format!(
                        "HTTP {} for {}",
                        p["response"]["status"], p["response"]["url"]
                    ))
                }
                // A live page's event stream is cancelled when the page is left.
                "Network.loadingFailed" if p["canceled"] != true => {
                    out.push(format!("load failed: {}", p))
                }
                _ => {}
            }
        }
        out
    }
}
