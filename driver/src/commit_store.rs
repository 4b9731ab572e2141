//! The object store the output commit works through: the target's store,
//! with the operations the commit repeats safely retried on transient
//! errors.
//!
//! An S3 store retries 5xx answers and requests that never left, but not a
//! POST (a bulk delete) or a PUT whose connection broke after it was sent:
//! it cannot know whether the server acted. The commit's operations are
//! idempotent (deleting twice, copying or overwriting twice, reading and
//! listing), so here they are tried again after such an error, a few times
//! with backoff, instead of failing the commit and with it the job. Writes
//! that are not idempotent (create-if-absent, conditional updates,
//! multipart uploads) pass through unchanged.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use tracing::warn;

/// Attempts of one operation, the first included.
const ATTEMPTS: u32 = 5;
/// Wait before the second attempt; doubled for each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// `inner` with its idempotent operations retried on transient errors.
#[derive(Debug)]
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
}

impl RetryingStore {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(RetryingStore { inner })
    }
}

impl fmt::Display for RetryingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetryingStore({})", self.inner)
    }
}

/// Whether an error may pass on a second try: the store's own errors of
/// transport and server (`Generic`), not an answer about the object.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Generic { .. } | Error::JoinError { .. })
}

/// Runs `op` until it succeeds, fails for good, or runs out of attempts.
async fn retry<T, F, Fut>(what: &str, location: &Path, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if transient(&e) && attempt < ATTEMPTS => {
                warn!("{what} {location} failed (attempt {attempt} of {ATTEMPTS}), retrying: {e}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl ObjectStore for RetryingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        if !matches!(opts.mode, PutMode::Overwrite) {
            return self.inner.put_opts(location, payload, opts).await;
        }
        retry("writing", location, || {
            self.inner.put_opts(location, payload.clone(), opts.clone())
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        retry("reading", location, || {
            self.inner.get_opts(location, options.clone())
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let inner = Arc::clone(&self.inner);
        locations
            .then(move |location| {
                let inner = Arc::clone(&inner);
                async move {
                    let location = location?;
                    retry("deleting", &location, || {
                        let one =
                            futures::stream::once(futures::future::ready(Ok(location.clone())))
                                .boxed();
                        let mut deleted = inner.delete_stream(one);
                        async move { deleted.next().await.unwrap_or(Ok(Path::default())) }
                    })
                    .await
                    .map(|_| location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let at = prefix.cloned().unwrap_or_default();
        retry("listing", &at, || self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        if !matches!(options.mode, CopyMode::Overwrite) {
            return self.inner.copy_opts(from, to, options).await;
        }
        retry("copying", from, || {
            self.inner.copy_opts(from, to, options.clone())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    /// A store whose first `failures` deletes fail as a reset POST does.
    #[derive(Debug)]
    struct Flaky {
        inner: InMemory,
        failures: AtomicU32,
    }

    impl fmt::Display for Flaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Flaky")
        }
    }

    #[async_trait]
    impl ObjectStore for Flaky {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
            self.inner.get_opts(l, o).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return futures::stream::once(futures::future::ready(Err(Error::Generic {
                    store: "S3",
                    source: "error sending request".into(),
                })))
                .boxed();
            }
            self.inner.delete_stream(locations)
        }
        fn list(&self, p: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(p)
        }
        async fn list_with_delimiter(&self, p: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(p).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.inner.copy_opts(f, t, o).await
        }
    }

    #[tokio::test]
    async fn a_delete_broken_in_transit_is_retried_and_a_missing_object_is_not() {
        let flaky = Arc::new(Flaky {
            inner: InMemory::new(),
            failures: AtomicU32::new(2),
        });
        let store = RetryingStore::wrap(flaky.clone());
        let p = Path::from("out/_SUCCESS");
        store.put(&p, PutPayload::new()).await.unwrap();
        store
            .delete(&p)
            .await
            .expect("retried past two broken deletes");
        assert!(store.head(&p).await.is_err(), "deleted");
        // NotFound is an answer, not a transient error.
        let e = store.get(&p).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        flaky.failures.store(ATTEMPTS, Ordering::SeqCst);
        store.put(&p, PutPayload::new()).await.unwrap();
        let e = store.delete(&p).await.unwrap_err();
        assert!(transient(&e), "gives up after {ATTEMPTS} attempts: {e}");
    }
}
