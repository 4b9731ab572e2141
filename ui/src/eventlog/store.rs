//! Where event logs live: a local folder or an `s3://bucket/prefix`, behind
//! one small interface (list, read, write whole, append, rename, delete).
//! Local files are appended to in place; on S3, where objects cannot grow,
//! an append rewrites the object (the writer keeps S3 parts small).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

/// An error of the event-log folder.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// The folder's location is not one Kiln can use.
    #[error("event log folder `{0}`: {1}")]
    BadLocation(String, String),
    /// Reading or writing failed.
    #[error("event log folder: {0}")]
    Io(String),
}

/// A folder of event logs.
#[derive(Debug, Clone)]
pub enum LogFolder {
    /// A folder on this machine.
    Local(PathBuf),
    /// A prefix in an object store.
    Object {
        /// The store (one bucket).
        store: Arc<dyn ObjectStore>,
        /// The prefix inside it ("" for the bucket's root).
        prefix: String,
        /// `s3://bucket/prefix`, for messages.
        url: String,
    },
}

impl LogFolder {
    /// The folder at `location`: a path (or `file:` URL) or `s3://bucket/prefix`,
    /// S3 configured from `conf` and the environment.
    pub fn open(location: &str, conf: &BTreeMap<String, String>) -> Result<Self, LogStoreError> {
        if let Some(rest) = location
            .strip_prefix("s3://")
            .or_else(|| location.strip_prefix("s3a://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LogStoreError::BadLocation(
                    location.into(),
                    "no bucket".into(),
                ));
            }
            let store = kiln_core::objectstore::s3_store(bucket, conf)
                .map_err(|e| LogStoreError::BadLocation(location.into(), e.to_string()))?;
            return Ok(LogFolder::Object {
                store: Arc::new(store),
                prefix: prefix.trim_matches('/').to_string(),
                url: location.trim_end_matches('/').to_string(),
            });
        }
        if location.contains("://") && !location.starts_with("file:") {
            return Err(LogStoreError::BadLocation(
                location.into(),
                "use a local folder or s3://bucket/prefix".into(),
            ));
        }
        let path = location
            .strip_prefix("file://")
            .or_else(|| location.strip_prefix("file:"));
        Ok(LogFolder::Local(PathBuf::from(path.unwrap_or(location))))
    }

    /// A description for messages.
    pub fn display(&self) -> String {
        match self {
            LogFolder::Local(p) => p.display().to_string(),
            LogFolder::Object { url, .. } => url.clone(),
        }
    }

    fn object_path(prefix: &str, name: &str) -> ObjPath {
        if prefix.is_empty() {
            ObjPath::from(name)
        } else {
            ObjPath::from(format!("{prefix}/{name}"))
        }
    }

    /// Checks the folder can be used (a local one is created).
    pub async fn check(&self) -> Result<(), LogStoreError> {
        match self {
            LogFolder::Local(p) => tokio::fs::create_dir_all(p)
                .await
                .map_err(|e| LogStoreError::BadLocation(p.display().to_string(), e.to_string())),
            LogFolder::Object { store, prefix, url } => {
                let p = (!prefix.is_empty()).then(|| ObjPath::from(prefix.as_str()));
                store
                    .list_with_delimiter(p.as_ref())
                    .await
                    .map(|_| ())
                    .map_err(|e| LogStoreError::BadLocation(url.clone(), e.to_string()))
            }
        }
    }

    /// Names of the entries right below `sub` ("" for the folder itself).
    pub async fn list(&self, sub: &str) -> Result<Vec<String>, LogStoreError> {
        match self {
            LogFolder::Local(p) => {
                let dir = p.join(sub);
                let mut out = vec![];
                let mut rd = match tokio::fs::read_dir(&dir).await {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(LogStoreError::Io(format!("{}: {e}", dir.display()))),
                };
                while let Some(entry) = rd
                    .next_entry()
                    .await
                    .map_err(|e| LogStoreError::Io(e.to_string()))?
                {
                    out.push(entry.file_name().to_string_lossy().into_owned());
                }
                out.sort();
                Ok(out)
            }
            LogFolder::Object { store, prefix, .. } => {
                let base = match (prefix.is_empty(), sub.is_empty()) {
                    (true, true) => None,
                    (true, false) => Some(ObjPath::from(sub)),
                    (false, true) => Some(ObjPath::from(prefix.as_str())),
                    (false, false) => Some(Self::object_path(prefix, sub)),
                };
                let listing = store
                    .list_with_delimiter(base.as_ref())
                    .await
                    .map_err(|e| LogStoreError::Io(e.to_string()))?;
                let mut out: Vec<String> = listing
                    .common_prefixes
                    .iter()
                    .chain(listing.objects.iter().map(|o| &o.location))
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect();
                out.sort();
                Ok(out)
            }
        }
    }

    /// The bytes of `name` (a path below the folder).
    pub async fn read(&self, name: &str) -> Result<Vec<u8>, LogStoreError> {
        match self {
            LogFolder::Local(p) => tokio::fs::read(p.join(name))
                .await
                .map_err(|e| LogStoreError::Io(format!("{}: {e}", p.join(name).display()))),
            LogFolder::Object { store, prefix, .. } => {
                let r = store
                    .get(&Self::object_path(prefix, name))
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{name}: {e}")))?;
                let b = r
                    .bytes()
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{name}: {e}")))?;
                Ok(b.to_vec())
            }
        }
    }

    /// Writes `name` whole (parents created).
    pub async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), LogStoreError> {
        match self {
            LogFolder::Local(p) => {
                let path = p.join(name);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| LogStoreError::Io(format!("{}: {e}", parent.display())))?;
                }
                tokio::fs::write(&path, bytes)
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{}: {e}", path.display())))
            }
            LogFolder::Object { store, prefix, .. } => store
                .put(&Self::object_path(prefix, name), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| LogStoreError::Io(format!("{name}: {e}"))),
        }
    }

    /// Appends `bytes` to the local file `name`; on an object store, writes
    /// `whole` (the object's full new content) instead.
    pub async fn append(
        &self,
        name: &str,
        bytes: &[u8],
        whole: &[u8],
    ) -> Result<(), LogStoreError> {
        match self {
            LogFolder::Local(p) => {
                let path = p.join(name);
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{}: {e}", path.display())))?;
                f.write_all(bytes)
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{}: {e}", path.display())))?;
                f.flush()
                    .await
                    .map_err(|e| LogStoreError::Io(format!("{}: {e}", path.display())))
            }
            LogFolder::Object { .. } => self.write(name, whole.to_vec()).await,
        }
    }

    /// Renames `from` to `to`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), LogStoreError> {
        match self {
            LogFolder::Local(p) => tokio::fs::rename(p.join(from), p.join(to))
                .await
                .map_err(|e| LogStoreError::Io(format!("rename {from} to {to}: {e}"))),
            LogFolder::Object { store, prefix, .. } => store
                .rename(
                    &Self::object_path(prefix, from),
                    &Self::object_path(prefix, to),
                )
                .await
                .map_err(|e| LogStoreError::Io(format!("rename {from} to {to}: {e}"))),
        }
    }

    /// Every file below `sub`, as paths relative to the folder.
    pub async fn list_recursive(&self, sub: &str) -> Result<Vec<String>, LogStoreError> {
        match self {
            LogFolder::Local(_) => {
                let mut out = vec![];
                let mut todo = vec![sub.to_string()];
                while let Some(dir) = todo.pop() {
                    for name in self.list(&dir).await? {
                        let rel = format!("{dir}/{name}");
                        let LogFolder::Local(p) = self else { break };
                        if p.join(&rel).is_dir() {
                            todo.push(rel);
                        } else {
                            out.push(rel);
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
            LogFolder::Object { store, prefix, .. } => {
                let base = Self::object_path(prefix, sub);
                let objs: Vec<_> = store
                    .list(Some(&base))
                    .try_collect()
                    .await
                    .map_err(|e| LogStoreError::Io(e.to_string()))?;
                let strip = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                let mut out: Vec<String> = objs
                    .iter()
                    .map(|o| {
                        let s = o.location.to_string();
                        s.strip_prefix(&strip).unwrap_or(&s).to_string()
                    })
                    .collect();
                out.sort();
                Ok(out)
            }
        }
    }
}
