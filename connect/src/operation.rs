//! One ExecutePlan operation (Spark's execute holder): the task running it,
//! the responses it produced that the client has not released yet (the
//! replay buffer a reattaching client reads again from), and the response
//! stream attached to it.
//!
//! The task producing responses and the stream sending them are decoupled:
//! a stream ends early after `senderMaxStreamDuration` or
//! `senderMaxStreamSize` (the client reattaches), or when the client goes
//! away (the operation is then detached until it reattaches or the
//! detached timeout cancels it). The buffer is bounded: the producer waits
//! while the unreleased responses exceed the limit, which holds the job
//! back too (its rows stream through a small channel).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::info;

use crate::error::ConnectError;
use crate::proto::execute_plan_response::ResponseType;
use crate::proto::ExecutePlanResponse;

/// When an attached stream ends so the client reattaches (Spark's
/// `spark.connect.execute.reattachable.senderMaxStream*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamLimits {
    /// End the stream after this long (`None`: never).
    pub max_duration: Option<Duration>,
    /// End the stream after sending this many bytes (`None`: never).
    pub max_bytes: Option<u64>,
}

/// The stream of responses an RPC answers with.
pub type ResponseStream = ReceiverStream<Result<ExecutePlanResponse, Status>>;

/// How an operation ended.
#[derive(Debug, Clone)]
enum End {
    /// Its last response (`ResultComplete`) is in the buffer.
    Complete,
    /// It failed (or was cancelled) with this error, sent after the
    /// buffered responses.
    Failed(Status),
}

struct Buffered {
    id: String,
    bytes: usize,
    response: ExecutePlanResponse,
}

#[derive(Default)]
struct Buffer {
    /// Responses not yet released, in order.
    responses: VecDeque<Buffered>,
    /// Index of `responses[0]` among all responses of the operation.
    first: u64,
    /// Bytes of the buffered responses.
    bytes: usize,
    /// The last response released (id and index): a client reattaches
    /// after the last response it returned, which it may have released.
    last_released: Option<(String, u64)>,
    end: Option<End>,
}

impl Buffer {
    fn index_of(&self, id: &str) -> Option<u64> {
        if let Some((last, i)) = &self.last_released {
            if last == id {
                return Some(*i);
            }
        }
        self.responses
            .iter()
            .position(|b| b.id == id)
            .map(|p| self.first + p as u64)
    }

    /// Drops the responses up to and including index `last`.
    fn release_through(&mut self, last: u64) {
        while self.first <= last {
            let Some(b) = self.responses.pop_front() else {
                break;
            };
            self.bytes -= b.bytes;
            self.last_released = Some((b.id, self.first));
            self.first += 1;
        }
    }
}

/// What the sender does next.
enum Next {
    Send(Box<ExecutePlanResponse>, usize, bool),
    Fail(Box<Status>),
    Done,
    Wait,
}

/// One operation of a session.
pub struct Operation {
    /// The operation id (the client's, or one Kiln made).
    pub id: String,
    /// Tags the client gave it (`spark.addTag`).
    pub tags: Vec<String>,
    /// Whether the client may reattach (it then releases what it read).
    pub reattachable: bool,
    buffer: Mutex<Buffer>,
    buffer_limit: usize,
    /// Bumped on every change of the buffer.
    version: watch::Sender<u64>,
    cancel: watch::Sender<bool>,
    /// Cancelled because the server is stopping.
    stopping: AtomicBool,
    /// Which attached stream is the live one.
    attached: AtomicU64,
    /// Since when no stream is attached (`None`: one is).
    detached_since: Mutex<Option<Instant>>,
    /// A non-reattachable operation's last response went out.
    delivered: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Operation {
    /// A new operation whose buffer holds at most `buffer_limit` bytes of
    /// unreleased responses (one response always fits).
    pub fn new(id: String, tags: Vec<String>, reattachable: bool, buffer_limit: usize) -> Self {
        Operation {
            id,
            tags,
            reattachable,
            buffer: Mutex::new(Buffer::default()),
            buffer_limit,
            version: watch::channel(0).0,
            cancel: watch::channel(false).0,
            stopping: AtomicBool::new(false),
            attached: AtomicU64::new(0),
            detached_since: Mutex::new(Some(Instant::now())),
            delivered: AtomicBool::new(false),
        }
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Asks the operation to stop; its job's tasks are cancelled.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Stops the operation because the server is stopping.
    pub fn cancel_for_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.cancel();
    }

    /// Whether the operation was stopped because the server is stopping.
    pub fn is_stopped_by_shutdown(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once the operation was asked to stop.
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Whether the operation was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Adds a response, waiting while the buffer is full; an error once the
    /// operation is cancelled.
    pub async fn push(&self, response: ExecutePlanResponse) -> Result<(), ConnectError> {
        let bytes = response.encoded_len();
        let mut rx = self.version.subscribe();
        let mut cancel = self.cancel.subscribe();
        loop {
            rx.borrow_and_update();
            if *cancel.borrow_and_update() {
                return Err(ConnectError::cancelled());
            }
            {
                let mut b = lock(&self.buffer);
                if b.responses.is_empty() || b.bytes + bytes <= self.buffer_limit {
                    b.bytes += bytes;
                    b.responses.push_back(Buffered {
                        id: response.response_id.clone(),
                        bytes,
                        response,
                    });
                    drop(b);
                    self.bump();
                    return Ok(());
                }
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = cancel.changed() => {}
            }
        }
    }

    /// Records how the operation ended: after its `ResultComplete` (`None`)
    /// or with an error.
    pub fn finish(&self, error: Option<Status>) {
        lock(&self.buffer).end = Some(match error {
            None => End::Complete,
            Some(s) => End::Failed(s),
        });
        self.bump();
    }

    /// Whether the operation has ended.
    pub fn is_finished(&self) -> bool {
        lock(&self.buffer).end.is_some()
    }

    /// Drops the buffered responses up to and including `response_id` (the
    /// client read them).
    pub fn release_until(&self, response_id: &str) {
        let mut b = lock(&self.buffer);
        if let Some(i) = b.index_of(response_id) {
            b.release_through(i);
        }
        drop(b);
        self.bump();
    }

    /// Whether the operation is over for its client: every response it
    /// produced was delivered and released, or it has been detached longer
    /// than `detached_timeout`. Such an operation is dropped (and stopped).
    pub fn is_abandoned(&self, detached_timeout: Duration) -> bool {
        if self.delivered.load(Ordering::Relaxed) {
            return true;
        }
        lock(&self.detached_since).is_some_and(|t| t.elapsed() > detached_timeout)
    }

    /// Attaches a response stream that starts after `last_response_id`
    /// (from the first buffered response when `None`) and ends as `limits`
    /// say. A stream attached before is told to end.
    pub fn attach(
        self: &Arc<Self>,
        last_response_id: Option<&str>,
        limits: StreamLimits,
    ) -> Result<ResponseStream, ConnectError> {
        let cursor = {
            let b = lock(&self.buffer);
            match last_response_id {
                Some(id) => b.index_of(id).map(|i| i + 1).ok_or_else(|| {
                    ConnectError::handle(
                        "INVALID_CURSOR.POSITION_NOT_AVAILABLE",
                        format!(
                            "The cursor position id {id} is not available: it was released \
                             or never existed (operation {}).",
                            self.id
                        ),
                    )
                })?,
                None if b.last_released.is_some() => {
                    return Err(ConnectError::handle(
                        "INVALID_CURSOR.POSITION_NOT_AVAILABLE",
                        format!(
                            "Operation {} released responses: a reattach must name the last \
                             response it read.",
                            self.id
                        ),
                    ))
                }
                None => b.first,
            }
        };
        let generation = self.attached.fetch_add(1, Ordering::SeqCst) + 1;
        *lock(&self.detached_since) = None;
        self.bump();
        let (tx, rx) = mpsc::channel(2);
        let op = self.clone();
        tokio::spawn(async move { op.send(generation, cursor, limits, tx).await });
        Ok(ReceiverStream::new(rx))
    }

    fn next(&self, cursor: u64) -> Next {
        let b = lock(&self.buffer);
        if cursor < b.first {
            return Next::Fail(Box::new(
                ConnectError::handle(
                    "INVALID_CURSOR.POSITION_NOT_AVAILABLE",
                    format!("Response {cursor} of operation {} was released.", self.id),
                )
                .to_status(),
            ));
        }
        if let Some(r) = b.responses.get((cursor - b.first) as usize) {
            let last = matches!(
                r.response.response_type,
                Some(ResponseType::ResultComplete(_))
            );
            return Next::Send(Box::new(r.response.clone()), r.bytes, last);
        }
        match &b.end {
            Some(End::Failed(s)) => Next::Fail(Box::new(s.clone())),
            Some(End::Complete) => Next::Done,
            None => Next::Wait,
        }
    }

    /// The live stream went away or ended early: the operation waits for a
    /// reattach (a non-reattachable one is cancelled: nobody can read it).
    fn detach(&self, generation: u64, client_gone: bool) {
        if self.attached.load(Ordering::SeqCst) != generation {
            return;
        }
        *lock(&self.detached_since) = Some(Instant::now());
        if client_gone && !self.reattachable && !self.delivered.load(Ordering::Relaxed) {
            info!(operation = %self.id, "client disconnected; operation cancelled");
            self.cancel();
        }
    }

    /// Sends responses from index `cursor` on to `tx` until the result is
    /// complete, the limits say stop, the client goes away or a newer
    /// stream is attached.
    async fn send(
        self: Arc<Self>,
        generation: u64,
        mut cursor: u64,
        limits: StreamLimits,
        tx: mpsc::Sender<Result<ExecutePlanResponse, Status>>,
    ) {
        let deadline = limits
            .max_duration
            .filter(|_| self.reattachable)
            .map(|d| tokio::time::Instant::now() + d);
        let mut sent: u64 = 0;
        let mut rx = self.version.subscribe();
        loop {
            if self.attached.load(Ordering::SeqCst) != generation {
                return;
            }
            rx.borrow_and_update();
            match self.next(cursor) {
                Next::Send(response, bytes, last) => {
                    if tx.send(Ok(*response)).await.is_err() {
                        return self.detach(generation, true);
                    }
                    if !self.reattachable {
                        let mut b = lock(&self.buffer);
                        b.release_through(cursor);
                    }
                    cursor += 1;
                    sent += bytes as u64;
                    if last {
                        if !self.reattachable {
                            self.delivered.store(true, Ordering::Relaxed);
                        }
                        self.bump();
                        // Kept until released, or reaped once detached too long.
                        return self.detach(generation, false);
                    }
                    self.bump();
                    let too_long = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                    let too_big = self.reattachable && limits.max_bytes.is_some_and(|m| sent >= m);
                    if too_long || too_big {
                        return self.detach(generation, false);
                    }
                }
                Next::Fail(status) => {
                    let _ = tx.send(Err(*status)).await;
                    if !self.reattachable {
                        self.delivered.store(true, Ordering::Relaxed);
                    }
                    return self.detach(generation, false);
                }
                Next::Done => return self.detach(generation, false),
                Next::Wait => {
                    let expired = async {
                        match deadline {
                            Some(d) => tokio::time::sleep_until(d).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = rx.changed() => {}
                        _ = tx.closed() => return self.detach(generation, true),
                        _ = expired => return self.detach(generation, false),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn response(id: &str) -> ExecutePlanResponse {
        ExecutePlanResponse {
            response_id: id.into(),
            ..Default::default()
        }
    }

    fn complete(id: &str) -> ExecutePlanResponse {
        ExecutePlanResponse {
            response_id: id.into(),
            response_type: Some(ResponseType::ResultComplete(Default::default())),
            ..Default::default()
        }
    }

    async fn ids(stream: ResponseStream) -> Vec<String> {
        stream
            .map(|r| {
                r.map(|r| r.response_id)
                    .unwrap_or_else(|s| s.message().into())
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_reattach_resumes_after_the_last_response_read() {
        let op = Arc::new(Operation::new("op".into(), vec![], true, 1 << 20));
        for id in ["a", "b", "c"] {
            op.push(response(id)).await.unwrap();
        }
        op.push(complete("d")).await.unwrap();
        op.finish(None);
        let limits = StreamLimits {
            max_duration: None,
            max_bytes: Some(1),
        };
        // Each stream ends after one response: the client reattaches.
        assert_eq!(ids(op.attach(None, limits).unwrap()).await, ["a"]);
        op.release_until("a");
        assert_eq!(ids(op.attach(Some("a"), limits).unwrap()).await, ["b"]);
        // Not released: reading `b` again is possible.
        assert_eq!(ids(op.attach(Some("a"), limits).unwrap()).await, ["b"]);
        op.release_until("b");
        let rest = op.attach(Some("b"), StreamLimits::default()).unwrap();
        assert_eq!(ids(rest).await, ["c", "d"]);
        // A released position cannot be read again.
        assert!(op.attach(Some("nope"), limits).is_err());
    }

    #[tokio::test]
    async fn the_producer_waits_while_the_buffer_is_full() {
        let op = Arc::new(Operation::new("op".into(), vec![], true, 1));
        op.push(response("a")).await.unwrap();
        let pushing = {
            let op = op.clone();
            tokio::spawn(async move { op.push(response("b")).await })
        };
        tokio::task::yield_now().await;
        assert!(!pushing.is_finished(), "a full buffer holds the producer");
        op.release_until("a");
        pushing.await.unwrap().unwrap();
        op.cancel();
        assert!(op.push(response("c")).await.is_err());
    }

    #[tokio::test]
    async fn a_non_reattachable_operation_is_cancelled_when_its_client_leaves() {
        let op = Arc::new(Operation::new("op".into(), vec![], false, 1 << 20));
        op.push(response("a")).await.unwrap();
        let mut stream = op.attach(None, StreamLimits::default()).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap().response_id, "a");
        drop(stream);
        tokio::time::timeout(Duration::from_secs(5), op.cancelled())
            .await
            .expect("cancelled");
        // The sent response was released as it went out.
        assert!(op.attach(Some("a"), StreamLimits::default()).is_ok());
        assert!(lock(&op.buffer).responses.is_empty());
    }

    #[tokio::test]
    async fn an_error_follows_the_buffered_responses() {
        let op = Arc::new(Operation::new("op".into(), vec![], true, 1 << 20));
        op.push(response("a")).await.unwrap();
        op.finish(Some(Status::internal("boom")));
        assert_eq!(
            ids(op.attach(None, StreamLimits::default()).unwrap()).await,
            ["a", "boom"]
        );
    }
}
