//! Tiny TCP proxies on loopback that fault tests put between Kiln and a
//! peer:
//!
//! - [`BlackHole`]: accepts connections, reads and discards whatever comes,
//!   and never answers (a peer behind a broken network path, or a process
//!   whose kernel still accepts connections but that never runs);
//! - [`Relay`]: forwards connections to a server (an executor) until it is
//!   cut, then black-holes it: nothing passes either way any more, open
//!   connections stay open, new ones are accepted and held;
//! - [`FlakyHttp`]: forwards HTTP/1.1 requests to a server (the S3-protocol
//!   test server) one request per connection, but answers some with `503
//!   Slow Down` and resets the connection of others without forwarding
//!   them, as a busy S3 endpoint does.
//!
//! Both run on the tokio runtime they are started from and stop when
//! dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A listener on loopback that accepts and never answers.
#[derive(Debug)]
pub struct BlackHole {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl BlackHole {
    /// Starts listening on a free loopback port.
    pub async fn start() -> std::io::Result<BlackHole> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                // Hold the connection open, reading (so the peer's writes
                // never block on a full window) and never writing.
                tokio::spawn(hold(conn));
            }
        });
        Ok(BlackHole {
            addr,
            accepted,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`: the address to hand out as a peer's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads `conn` until it closes, never writing: a peer that never answers.
async fn hold(mut conn: TcpStream) {
    let mut sink = vec![0u8; 64 * 1024];
    while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// A relay on loopback in front of one server that can be cut.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying a free loopback port to `upstream` (which may come
    /// up later: connections wait up to 30 s for it).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let cut = flag.clone();
                tokio::spawn(async move {
                    if cut.load(Ordering::SeqCst) {
                        return hold(conn).await;
                    }
                    let start = Instant::now();
                    let server = loop {
                        match TcpStream::connect(upstream).await {
                            Ok(s) => break s,
                            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                                tokio::time::sleep(Duration::from_millis(50)).await
                            }
                            Err(_) => return,
                        }
                    };
                    let _ = conn.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (from_client, to_client) = conn.into_split();
                    let (from_server, to_server) = server.into_split();
                    let up = tokio::spawn(pump(from_client, to_server, cut.clone()));
                    pump(from_server, to_client, cut).await;
                    let _ = up.await;
                });
            }
        });
        Ok(Relay { addr, cut, task })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// From now on nothing passes, in either direction.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either closes; once `cut`, reads and drops.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    cut: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// What [`FlakyHttp`] did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Forwarded to the server, its reply passed back.
    Forward,
    /// Answered `503 Slow Down` without forwarding.
    SlowDown,
    /// The connection was reset (RST) without forwarding.
    Reset,
}

/// Counters of a [`FlakyHttp`] proxy.
#[derive(Debug, Default)]
pub struct FlakyCounts {
    /// Requests forwarded.
    pub forwarded: AtomicUsize,
    /// Requests answered with 503.
    pub slow_downs: AtomicUsize,
    /// Connections reset.
    pub resets: AtomicUsize,
}

/// An HTTP proxy that fails some requests the way S3 does under load.
#[derive(Debug)]
pub struct FlakyHttp {
    addr: SocketAddr,
    counts: Arc<FlakyCounts>,
    task: JoinHandle<()>,
}

impl FlakyHttp {
    /// Starts a proxy to `upstream` (`127.0.0.1:PORT`) on a free loopback
    /// port; request `n` (counting from 0 across connections), whose head
    /// (request line and headers) is `head`, meets `fate(n, head)`.
    pub async fn start(
        upstream: SocketAddr,
        fate: impl Fn(usize, &str) -> Fate + Send + Sync + 'static,
    ) -> std::io::Result<FlakyHttp> {
        let fate = Arc::new(fate);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(FlakyCounts::default());
        let c = counts.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (c, next, fate) = (c.clone(), next.clone(), fate.clone());
                tokio::spawn(async move {
                    let _ = serve_one(conn, upstream, &c, |head| {
                        fate(next.fetch_add(1, Ordering::SeqCst), head)
                    })
                    .await;
                });
            }
        });
        Ok(FlakyHttp { addr, counts, task })
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the proxy did so far.
    pub fn counts(&self) -> &FlakyCounts {
        &self.counts
    }
}

impl Drop for FlakyHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request from `conn`, then forwards it, answers 503, or resets.
async fn serve_one(
    mut conn: TcpStream,
    upstream: SocketAddr,
    counts: &FlakyCounts,
    fate: impl FnOnce(&str) -> Fate,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut conn).await? else {
        return Ok(());
    };
    match fate(&String::from_utf8_lossy(&head)) {
        Fate::SlowDown => {
            counts.slow_downs.fetch_add(1, Ordering::SeqCst);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message></Error>";
            let reply = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).await?;
            conn.shutdown().await
        }
        Fate::Reset => {
            counts.resets.fetch_add(1, Ordering::SeqCst);
            // Closing with a zero linger time sends RST instead of FIN.
            conn.set_zero_linger()?;
            drop(conn);
            Ok(())
        }
        Fate::Forward => {
            counts.forwarded.fetch_add(1, Ordering::SeqCst);
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&with_connection_close(&head)).await?;
            server.write_all(&body).await?;
            // The reply, with `Connection: close` so the client does not
            // reuse a connection this proxy is about to close.
            let mut reply = Vec::new();
            server.read_to_end(&mut reply).await?;
            let split = find(&reply, b"\r\n\r\n").map_or(reply.len(), |i| i + 4);
            let (reply_head, rest) = reply.split_at(split);
            conn.write_all(&with_connection_close(reply_head)).await?;
            conn.write_all(rest).await?;
            conn.shutdown().await
        }
    }
}

/// The head (through the blank line) and body (by `Content-Length`) of one
/// request; `None` when the client closed first.
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = buf[..head_end].to_vec();
    let length = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

/// An HTTP head with its `Connection`/`Keep-Alive` headers replaced by
/// `Connection: close`.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
