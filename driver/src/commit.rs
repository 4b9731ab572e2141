//! The output commit protocol of `INSERT INTO` and `COPY ... TO`.
//!
//! A write job's sink is pointed at a staging folder beside the target,
//! `.kiln-staging/<target>/<application>-<job>/`, so nothing appears in the
//! target while the job runs, and no other target's staging can share its
//! name (`out` and `out-daily` stage in different folders). The job's write
//! tasks each write into their attempt's own folder below it
//! (`kiln_core::write`). When the job succeeds the driver checks that every
//! successful attempt that reported rows left files, then commits those
//! attempts' folders: it removes the old `_SUCCESS`, renames every staged
//! file into the target (file names are unique per write), and only then,
//! in overwrite mode, deletes what the target held before (all of it, or
//! with `spark.sql.sources.partitionOverwriteMode=dynamic` only the
//! partitions the job wrote), and writes an empty `_SUCCESS` last. A commit
//! that fails halfway therefore leaves old and new files side by side
//! without `_SUCCESS`, never a target with neither. When the job fails the
//! staging folder is deleted and the target is untouched.
//!
//! Each staging folder holds a lease (`_lease`): on a local file system a
//! file the driver keeps locked, elsewhere an object it rewrites every
//! [`LEASE_REFRESH`]. A write sweeps only abandoned staging of its own
//! target: a lease no process holds (the driver was killed) or one not
//! renewed for [`LEASE_TTL`]. A concurrent job writing the same target keeps
//! its staging.
//!
//! Like Spark's file output committer, the commit itself is a sequence of
//! renames (atomic per file on a local file system, copy-and-delete on S3),
//! not one atomic step.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::FileSinkConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use kiln_core::config::{PartitionOverwriteMode, WriteMode};
use kiln_core::write::{file_sink, writes_one_file};
use kiln_core::{KilnError, Result};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use tracing::{info, warn};

/// Hidden folder beside a target that holds the staging of its writes;
/// listings of the parent skip it.
const STAGING_DIR: &str = ".kiln-staging";
/// The lease file of a staging folder.
const LEASE: &str = "_lease";
/// How often a driver renews the lease of its staging on an object store.
pub const LEASE_REFRESH: Duration = Duration::from_secs(30);
/// A staging folder whose lease is older than this is abandoned.
pub const LEASE_TTL: Duration = Duration::from_secs(600);

/// How a write's output is committed.
#[derive(Debug, Clone, Copy)]
pub struct CommitSettings {
    /// What a `COPY` does with a target that holds data.
    pub copy_mode: WriteMode,
    /// Which partitions an overwrite replaces.
    pub partition_mode: PartitionOverwriteMode,
    /// `kiln.test.failCommitAfterFiles`: fail the commit after moving this
    /// many files (testing only).
    pub fail_after_files: Option<u64>,
}

/// A successful task attempt of a write stage: its folder below the staging
/// folder and the rows it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteAttempt {
    /// `_task-<stage>-<partition>-<attempt>`.
    pub dir: String,
    /// Rows the attempt wrote.
    pub rows: u64,
}

/// Keeps a staging folder from being swept while its write runs.
#[derive(Debug)]
enum Lease {
    /// A locked file; the kernel releases the lock when the driver dies.
    Local(#[allow(dead_code)] std::fs::File),
    /// An object renewed by a background task.
    Remote(tokio::task::JoinHandle<()>),
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Lease::Remote(renewer) = self {
            renewer.abort();
        }
    }
}

/// A write whose sink was redirected to a staging folder, to be committed
/// into (or aborted from) its target.
#[derive(Debug)]
pub struct StagedWrite {
    store: Arc<dyn ObjectStore>,
    /// The target folder (or file) as the user wrote it.
    target_url: String,
    target: Path,
    staging: Path,
    staging_url: String,
    local_staging_dir: Option<std::path::PathBuf>,
    single_file: bool,
    overwrite: bool,
    partition_columns: usize,
    settings: CommitSettings,
    /// For Parquet into a folder, without partition columns: the schema of
    /// the empty file an empty result is committed as (as Spark writes one),
    /// so that readers of the target still find its columns.
    empty_file: Option<SchemaRef>,
    /// The uuid in the names of this write's data files (Spark's job uuid).
    uuid: String,
    /// The data files' suffix, when the sink decides it (`part_files::suffix_of`).
    suffix: Option<String>,
    /// For an overwrite: the fingerprint of what the target held when the
    /// write started (`None`: nothing), to detect a concurrent overwrite.
    version_at_start: Option<TargetVersion>,
    _lease: Lease,
}

/// A fingerprint of what a target holds.
type TargetVersion = u64;

fn err(what: &str, e: impl std::fmt::Display) -> KilnError {
    KilnError::JobFailed(format!("output commit: {what}: {e}"))
}

/// Redirects the sink of `plan` (a `COPY` or `INSERT` plan) to a staging
/// folder. Returns the plan unchanged and `None` for any other plan.
/// `insert_overwrite`: an `INSERT OVERWRITE` planned as an append.
pub async fn stage(
    plan: Arc<dyn ExecutionPlan>,
    ctx: &SessionContext,
    tag: &str,
    settings: CommitSettings,
    is_copy: bool,
    insert_overwrite: bool,
) -> Result<(Arc<dyn ExecutionPlan>, Option<StagedWrite>)> {
    // Borrow from a second handle so `plan` itself can still be returned.
    let root = Arc::clone(&plan);
    let Some(exec) = root.downcast_ref::<DataSinkExec>() else {
        return Ok((plan, None));
    };
    let sink = exec.sink();
    let Some((config, rebuild)) = file_sink(sink) else {
        return Ok((plan, None));
    };
    let config = config.clone();
    // Tasks write below the staging folder whatever happens, so a file
    // sink that cannot be staged is an error, never an unstaged write.
    let Some(target_url) = config.table_paths.first().cloned() else {
        return Err(KilnError::JobFailed("output without a location".into()));
    };
    let single_file = writes_one_file(&config);
    let url_text = target_url.as_str().trim_end_matches('/').to_string();
    let Some((parent, name)) = url_text.rsplit_once('/') else {
        return Err(KilnError::JobFailed(format!(
            "output location {url_text} has no parent folder"
        )));
    };
    let target_staging = format!("{parent}/{STAGING_DIR}/{name}/");
    let staging_dir = format!("{target_staging}{tag}/");
    let staging_url = if single_file {
        format!("{staging_dir}{name}")
    } else {
        staging_dir.clone()
    };
    let staging_table =
        ListingTableUrl::parse(&staging_url).map_err(|e| err("staging location", e))?;
    let staging_dir_url =
        ListingTableUrl::parse(&staging_dir).map_err(|e| err("staging location", e))?;
    let store = crate::commit_store::RetryingStore::wrap(
        ctx.runtime_env()
            .object_store(&target_url)
            .map_err(|e| err("object store of the target", e))?,
    );
    let overwrite = if is_copy {
        match settings.copy_mode {
            WriteMode::Overwrite => true,
            WriteMode::Append => false,
            WriteMode::ErrorIfExists => {
                if has_data(&store, target_url.prefix(), single_file).await? {
                    return Err(KilnError::JobFailed(format!(
                        "output {} already exists (kiln.write.mode = errorifexists)",
                        target_url.as_str()
                    )));
                }
                true
            }
        }
    } else {
        insert_overwrite || matches!(config.insert_op, InsertOp::Overwrite | InsertOp::Replace)
    };
    let local_staging_dir = (target_url.scheme() == "file")
        .then(|| std::path::PathBuf::from(format!("/{}", staging_dir_url.prefix())));
    let staging = staging_dir_url.prefix().clone();
    let version_at_start = if overwrite {
        fingerprint(&target_objects(&store, target_url.prefix(), single_file).await?)
    } else {
        None
    };
    let lease = take_lease(&store, &staging, local_staging_dir.as_deref()).await?;
    let staged = StagedWrite {
        store,
        target_url: target_url.as_str().to_string(),
        target: target_url.prefix().clone(),
        staging,
        staging_url: staging_dir.clone(),
        local_staging_dir,
        single_file,
        overwrite,
        partition_columns: config.table_partition_cols.len(),
        settings,
        empty_file: (!single_file
            && config.table_partition_cols.is_empty()
            && config.file_extension == "parquet")
            .then(|| config.output_schema.clone()),
        uuid: uuid::Uuid::new_v4().to_string(),
        suffix: crate::part_files::suffix_of(sink),
        version_at_start,
        _lease: lease,
    };
    staged.remove_abandoned_staging(&target_staging).await;
    let new_config = FileSinkConfig {
        original_url: staging_url.clone(),
        table_paths: vec![staging_table],
        ..config
    };
    let new_sink = rebuild(new_config);
    let new_plan = Arc::new(DataSinkExec::new(
        exec.input().clone(),
        new_sink,
        exec.sort_order().clone(),
    ));
    Ok((new_plan, Some(staged)))
}

/// What a target holds: the file itself, or every object below the folder.
async fn target_objects(
    store: &Arc<dyn ObjectStore>,
    target: &Path,
    single_file: bool,
) -> Result<Vec<ObjectMeta>> {
    if single_file {
        return match store.head(target).await {
            Ok(m) => Ok(vec![m]),
            Err(object_store::Error::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(err(&format!("reading {target}"), e)),
        };
    }
    store
        .list(Some(target))
        .try_collect()
        .await
        .map_err(|e| err(&format!("listing {target}"), e))
}

/// A fingerprint of `objects` (names, sizes, modification times, entity
/// tags), `None` when there are none. A commit renames new files in and
/// removes others, so any commit changes it.
fn fingerprint(objects: &[ObjectMeta]) -> Option<TargetVersion> {
    use std::hash::{Hash, Hasher};
    if objects.is_empty() {
        return None;
    }
    let mut seen: Vec<(&str, u64, i64, Option<&str>)> = objects
        .iter()
        .map(|m| {
            (
                m.location.as_ref(),
                m.size,
                m.last_modified.timestamp_micros(),
                m.e_tag.as_deref(),
            )
        })
        .collect();
    seen.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seen.hash(&mut hasher);
    Some(hasher.finish())
}

/// Serializes commits into one local folder across processes: a lock on
/// the target's parent folder, held while the commit checks and moves.
/// Waits off the async workers: another process may hold the lock for the
/// length of its commit.
async fn lock_parent(dir: Option<&std::path::Path>) -> Result<Option<std::fs::File>> {
    // staging is <parent>/.kiln-staging/<target>/<tag>
    let Some(parent) = dir.and_then(|d| d.parent()?.parent()?.parent()) else {
        return Ok(None);
    };
    let parent = parent.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let folder = std::fs::File::open(&parent)
            .map_err(|e| err(&format!("opening {}", parent.display()), e))?;
        folder
            .lock()
            .map_err(|e| err(&format!("locking {}", parent.display()), e))?;
        Ok(Some(folder))
    })
    .await
    .map_err(|e| err("locking the target's folder", e))?
}

/// Creates the staging folder's lease and holds it.
async fn take_lease(
    store: &Arc<dyn ObjectStore>,
    staging: &Path,
    local_dir: Option<&std::path::Path>,
) -> Result<Lease> {
    if let Some(dir) = local_dir {
        std::fs::create_dir_all(dir).map_err(|e| err(&format!("creating {}", dir.display()), e))?;
        let path = dir.join(LEASE);
        let file = std::fs::File::create(&path)
            .map_err(|e| err(&format!("creating {}", path.display()), e))?;
        file.try_lock()
            .map_err(|e| err(&format!("locking {}", path.display()), e))?;
        return Ok(Lease::Local(file));
    }
    let lease = Path::from(format!("{}/{LEASE}", staging.as_ref()));
    store
        .put(&lease, PutPayload::new())
        .await
        .map_err(|e| err("writing the staging lease", e))?;
    let store = Arc::clone(store);
    Ok(Lease::Remote(tokio::spawn(async move {
        loop {
            tokio::time::sleep(LEASE_REFRESH).await;
            if let Err(e) = store.put(&lease, PutPayload::new()).await {
                warn!(%lease, error = %e, "could not renew the staging lease");
            }
        }
    })))
}

/// Whether a local staging folder is abandoned: its lease is not locked by
/// a live process, or it has no lease and is older than [`LEASE_TTL`]
/// (a write that died between creating the folder and its lease).
fn local_staging_abandoned(dir: &std::path::Path) -> bool {
    match std::fs::File::open(dir.join(LEASE)) {
        Ok(file) => file.try_lock().is_ok(),
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > LEASE_TTL),
    }
}

/// Whether a staging folder on an object store is abandoned: its lease (or,
/// without one, its newest object) was last written over [`LEASE_TTL`] ago.
async fn remote_staging_abandoned(store: &Arc<dyn ObjectStore>, dir: &Path) -> bool {
    let now = chrono::Utc::now();
    let too_old =
        |t: chrono::DateTime<chrono::Utc>| (now - t).to_std().is_ok_and(|age| age > LEASE_TTL);
    let lease = Path::from(format!("{}/{LEASE}", dir.as_ref()));
    if let Ok(meta) = store.head(&lease).await {
        return too_old(meta.last_modified);
    }
    let newest = store
        .list(Some(dir))
        .try_fold(
            None,
            |newest: Option<chrono::DateTime<chrono::Utc>>, m| async move {
                Ok(Some(
                    newest.map_or(m.last_modified, |n| n.max(m.last_modified)),
                ))
            },
        )
        .await;
    match newest {
        Ok(Some(t)) => too_old(t),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// A Parquet file with `schema` and no rows.
fn empty_parquet(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let writer = ArrowWriter::try_new(&mut buf, schema.clone(), None)
        .map_err(|e| err("the empty result file", e))?;
    writer
        .close()
        .map_err(|e| err("the empty result file", e))?;
    Ok(buf)
}

async fn has_data(store: &Arc<dyn ObjectStore>, prefix: &Path, single_file: bool) -> Result<bool> {
    if single_file {
        return Ok(store.head(prefix).await.is_ok());
    }
    let first = store
        .list(Some(prefix))
        .try_next()
        .await
        .map_err(|e| err("listing the target", e))?;
    Ok(first.is_some())
}

/// `rel` without its leading `count` path segments' worth of partition
/// folders, i.e. the partition folder a file belongs to.
fn partition_of(rel: &str, count: usize) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    (count > 0 && parts.len() > count).then(|| parts[..count].join("/"))
}

fn relative<'a>(location: &'a Path, prefix: &Path) -> Option<&'a str> {
    let loc = location.as_ref();
    let pre = prefix.as_ref();
    if pre.is_empty() {
        return Some(loc);
    }
    loc.strip_prefix(pre)?.strip_prefix('/')
}

impl StagedWrite {
    /// Moves the files of the successful task attempts (their folders below
    /// the staging folder) into the target and marks it with `_SUCCESS`; in
    /// overwrite mode the old files are deleted after the new ones are in.
    /// Files of other attempts (failed, lost, or superseded by a
    /// recomputation) are left behind and deleted with the staging folder.
    pub async fn commit(self, attempts: &[WriteAttempt]) -> Result<()> {
        let result = self.commit_files(attempts).await;
        if result.is_err() {
            warn!(target = %self.target_url, "output commit failed; staged output discarded");
        }
        self.cleanup().await;
        result
    }

    async fn commit_files(&self, attempts: &[WriteAttempt]) -> Result<()> {
        let _commit_lock = lock_parent(self.local_staging_dir.as_deref()).await?;
        // What the target holds now, listed before anything moves in: the
        // files an overwrite replaces.
        let old: Vec<ObjectMeta> = if self.overwrite {
            target_objects(&self.store, &self.target, self.single_file).await?
        } else {
            Vec::new()
        };
        // Two overwrites of one target that ran at the same time: the first
        // to commit wins, the other fails rather than silently replacing it.
        if self.overwrite && fingerprint(&old) != self.version_at_start {
            return Err(KilnError::JobFailed(format!(
                "output commit: {} was overwritten by another job while this one ran; \
                 this job's output was discarded and the other job's output kept",
                self.target_url
            )));
        }
        let listed: Vec<Path> = self
            .store
            .list(Some(&self.staging))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| err("listing staged files", e))?;
        // (staged file, its path in the target) of the committed attempts:
        // below its attempt folder, renamed as Spark names part files.
        let mut names = crate::part_files::PartNames::new(&self.uuid, self.suffix.as_deref());
        let mut staged: Vec<(Path, String)> = Vec::new();
        let mut with_files: BTreeSet<&str> = BTreeSet::new();
        for p in &listed {
            let Some((dir, rest)) = relative(p, &self.staging).and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            if let Some(a) = attempts.iter().find(|a| a.dir == dir) {
                with_files.insert(a.dir.as_str());
                let task = crate::part_files::task_of(&a.dir);
                staged.push((p.clone(), names.name(task, rest)));
            }
        }
        // A task that wrote rows but whose files are not here wrote them
        // somewhere the driver cannot see (a path local to another node):
        // committing without them would lose those rows silently.
        if let Some(lost) = attempts
            .iter()
            .find(|a| a.rows > 0 && !with_files.contains(a.dir.as_str()))
        {
            return Err(KilnError::JobFailed(format!(
                "output commit: task attempt {} reported {} rows but none of its files are in \
                 the staging folder {}; the output path must be storage that the driver and \
                 every executor share (one machine, S3, or one shared volume)",
                lost.dir, lost.rows, self.staging_url
            )));
        }
        if self.single_file {
            if let Some((file, _)) = staged.first() {
                self.store
                    .rename(file, &self.target)
                    .await
                    .map_err(|e| err(&format!("moving into {}", self.target_url), e))?;
            }
            return Ok(());
        }
        let marker = Path::from(format!("{}/_SUCCESS", self.target.as_ref()));
        match self.store.delete(&marker).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(err("removing the old _SUCCESS", e)),
        }
        let mut new_names: BTreeSet<&str> = BTreeSet::new();
        for (moved, (file, rel)) in staged.iter().enumerate() {
            if self.settings.fail_after_files == Some(moved as u64) {
                return Err(err(
                    &format!("moving {rel} into {}", self.target_url),
                    "injected failure (kiln.test.failCommitAfterFiles)",
                ));
            }
            let dest = Path::from(format!("{}/{rel}", self.target.as_ref()));
            self.store
                .rename(file, &dest)
                .await
                .map_err(|e| err(&format!("moving {rel} into {}", self.target_url), e))?;
            new_names.insert(rel.as_str());
        }
        if self.overwrite {
            let written: BTreeSet<String> = staged
                .iter()
                .filter_map(|(_, rel)| partition_of(rel, self.partition_columns))
                .collect();
            let dynamic = self.settings.partition_mode == PartitionOverwriteMode::Dynamic
                && self.partition_columns > 0;
            for old in old.iter().map(|m| &m.location) {
                let Some(rel) = relative(old, &self.target) else {
                    continue;
                };
                // A new file of the same name has already replaced it.
                if rel == "_SUCCESS" || new_names.contains(rel) {
                    continue;
                }
                let replaced = !dynamic
                    || partition_of(rel, self.partition_columns)
                        .is_some_and(|p| written.contains(&p));
                if replaced {
                    self.store
                        .delete(old)
                        .await
                        .map_err(|e| err(&format!("deleting old output {old}"), e))?;
                }
            }
        }
        if staged.is_empty() {
            if let Some(schema) = &self.empty_file {
                let dest = Path::from(format!(
                    "{}/{}",
                    self.target.as_ref(),
                    // Written uncompressed: no codec in its name.
                    crate::part_files::PartNames::new(&self.uuid, None).name(0, "empty.parquet")
                ));
                self.store
                    .put(&dest, PutPayload::from(empty_parquet(schema)?))
                    .await
                    .map_err(|e| err("writing the empty result file", e))?;
            }
        }
        self.store
            .put(&marker, PutPayload::new())
            .await
            .map_err(|e| err("writing _SUCCESS", e))?;
        info!(target = %self.target_url, files = staged.len(), "output committed");
        Ok(())
    }

    /// Drops the staged files; the target stays as it was.
    pub async fn abort(self) {
        warn!(target = %self.target_url, "write failed; staged output discarded");
        self.cleanup().await;
    }

    async fn cleanup(&self) {
        if let Some(dir) = &self.local_staging_dir {
            let _ = tokio::fs::remove_dir_all(dir).await;
            // `.kiln-staging/<target>/` and `.kiln-staging/`, when no other
            // write still stages there (removing a folder that is not empty fails).
            if let Some(target_dir) = dir.parent() {
                if tokio::fs::remove_dir(target_dir).await.is_ok() {
                    if let Some(top) = target_dir.parent() {
                        let _ = tokio::fs::remove_dir(top).await;
                    }
                }
            }
            return;
        }
        delete_all(&self.store, &self.staging).await;
    }

    /// Removes the abandoned staging folders of this target (below
    /// `target_staging_url`, `.kiln-staging/<target>/`): those of writes
    /// whose driver was killed. Live writes to the same target keep theirs.
    async fn remove_abandoned_staging(&self, target_staging_url: &str) {
        if let Some(dir) = &self.local_staging_dir {
            let Some(parent) = dir.parent() else { return };
            let Ok(mut entries) = tokio::fs::read_dir(parent).await else {
                return;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                let path = e.path();
                if path != *dir && path.is_dir() && local_staging_abandoned(&path) {
                    info!(path = %path.display(), "removing staging left by an unfinished write");
                    let _ = tokio::fs::remove_dir_all(&path).await;
                }
            }
            return;
        }
        let Ok(parent) = ListingTableUrl::parse(target_staging_url) else {
            return;
        };
        let Ok(listing) = self.store.list_with_delimiter(Some(parent.prefix())).await else {
            return;
        };
        for dir in listing.common_prefixes {
            if dir != self.staging && remote_staging_abandoned(&self.store, &dir).await {
                info!(path = %dir, "removing staging left by an unfinished write");
                delete_all(&self.store, &dir).await;
            }
        }
    }
}

async fn delete_all(store: &Arc<dyn ObjectStore>, prefix: &Path) {
    let files: Vec<Path> = match store
        .list(Some(prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
    {
        Ok(f) => f,
        Err(_) => return,
    };
    for f in files {
        let _ = store.delete(&f).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_folder_of_a_file() {
        assert_eq!(
            partition_of("year=2024/m=1/a.parquet", 2).as_deref(),
            Some("year=2024/m=1")
        );
        assert_eq!(partition_of("a.parquet", 1), None);
        assert_eq!(partition_of("a.parquet", 0), None);
    }

    #[test]
    fn paths_relative_to_a_prefix() {
        let p = Path::from("tmp/out/x=1/f.parquet");
        assert_eq!(relative(&p, &Path::from("tmp/out")), Some("x=1/f.parquet"));
        assert_eq!(relative(&p, &Path::from("tmp/other")), None);
        assert_eq!(relative(&p, &Path::from("tmp/ou")), None);
    }

    async fn staged_in_memory(store: Arc<dyn ObjectStore>) -> StagedWrite {
        let version = fingerprint(
            &target_objects(&store, &Path::from("out"), false)
                .await
                .expect("listing"),
        );
        StagedWrite {
            store,
            target_url: "memory:///out/".into(),
            target: Path::from("out"),
            staging: Path::from(".kiln-staging/out/app-1"),
            staging_url: "memory:///.kiln-staging/out/app-1/".into(),
            local_staging_dir: None,
            single_file: false,
            overwrite: true,
            partition_columns: 0,
            settings: CommitSettings {
                copy_mode: WriteMode::Overwrite,
                partition_mode: PartitionOverwriteMode::Static,
                fail_after_files: None,
            },
            empty_file: None,
            uuid: "u".into(),
            suffix: None,
            version_at_start: version,
            _lease: Lease::Remote(tokio::spawn(async {})),
        }
    }

    fn attempt(dir: &str, rows: u64) -> WriteAttempt {
        WriteAttempt {
            dir: dir.into(),
            rows,
        }
    }

    async fn put(store: &Arc<dyn ObjectStore>, path: &str) {
        store
            .put(&Path::from(path), PutPayload::from_static(b"x"))
            .await
            .expect("put");
    }

    async fn files(store: &Arc<dyn ObjectStore>) -> Vec<String> {
        let mut all: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list");
        all.sort();
        all
    }

    #[tokio::test]
    async fn an_attempt_that_reported_rows_but_left_no_files_fails_the_commit() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        put(&store, "out/old.parquet").await;
        put(&store, ".kiln-staging/out/app-1/_task-2-0-0/a.parquet").await;
        let attempts = [attempt("_task-2-0-0", 5), attempt("_task-2-1-0", 3)];
        let e = staged_in_memory(Arc::clone(&store))
            .await
            .commit(&attempts)
            .await
            .expect_err("a commit missing a task's files succeeded");
        assert!(e.to_string().contains("_task-2-1-0 reported 3 rows"), "{e}");
        assert_eq!(files(&store).await, vec!["out/old.parquet"]);
    }

    #[tokio::test]
    async fn an_overwrite_moves_the_new_files_in_before_deleting_the_old() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        put(&store, "out/old.parquet").await;
        put(&store, ".kiln-staging/out/app-1/_task-2-0-0/a.parquet").await;
        put(&store, ".kiln-staging/out/app-1/_task-2-1-0/b.parquet").await;
        let attempts = [attempt("_task-2-0-0", 5), attempt("_task-2-1-0", 0)];
        let mut halfway = staged_in_memory(Arc::clone(&store)).await;
        halfway.settings.fail_after_files = Some(1);
        halfway
            .commit(&attempts)
            .await
            .expect_err("injected failure");
        // One new file in, the old one kept, no _SUCCESS, staging gone.
        assert_eq!(
            files(&store).await,
            vec!["out/old.parquet", "out/part-00000-u-c000.parquet"]
        );
        put(&store, ".kiln-staging/out/app-1/_task-2-0-0/a.parquet").await;
        put(&store, ".kiln-staging/out/app-1/_task-2-1-0/b.parquet").await;
        let done = staged_in_memory(Arc::clone(&store)).await;
        done.commit(&attempts).await.expect("commit");
        assert_eq!(
            files(&store).await,
            vec![
                "out/_SUCCESS",
                "out/part-00000-u-c000.parquet",
                "out/part-00001-u-c000.parquet"
            ]
        );
    }

    #[tokio::test]
    async fn an_overwrite_fails_when_another_job_committed_into_the_target_meanwhile() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        put(&store, "out/old.parquet").await;
        let late = staged_in_memory(Arc::clone(&store)).await;
        // Another job's commit lands first.
        put(&store, "out/other.parquet").await;
        store
            .delete(&Path::from("out/old.parquet"))
            .await
            .expect("delete");
        put(&store, ".kiln-staging/out/app-1/_task-2-0-0/a.parquet").await;
        let attempts = [attempt("_task-2-0-0", 1)];
        let e = late
            .commit(&attempts)
            .await
            .expect_err("both overwrites won");
        assert!(e.to_string().contains("overwritten by another job"), "{e}");
        assert_eq!(files(&store).await, vec!["out/other.parquet"]);
    }

    #[tokio::test]
    async fn remote_staging_is_abandoned_only_without_a_recent_lease_or_files() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        put(&store, ".kiln-staging/out/live/_lease").await;
        put(&store, ".kiln-staging/out/young/_task-2-0-0/a.parquet").await;
        let dir = |d: &str| Path::from(format!(".kiln-staging/out/{d}"));
        assert!(!remote_staging_abandoned(&store, &dir("live")).await);
        assert!(!remote_staging_abandoned(&store, &dir("young")).await);
        assert!(remote_staging_abandoned(&store, &dir("gone")).await);
    }
}
