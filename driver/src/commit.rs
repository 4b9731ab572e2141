//! The output commit protocol of `INSERT INTO` and `COPY ... TO`.
//!
//! A write job's sink is pointed at a staging folder beside the target
//! (`.kiln-staging-<target>-<application>-<job>`), so nothing appears in the
//! target while the job runs. The job's write tasks each write into their
//! attempt's own folder below it (`kiln_core::write`). When the job
//! succeeds the driver commits the folders of the attempts that succeeded:
//! in overwrite mode it first deletes what the target holds (all of it, or
//! with `spark.sql.sources.partitionOverwriteMode=dynamic` only the
//! partitions the job wrote), then renames every staged file into the
//! target and writes an empty `_SUCCESS`. When the job fails the staging
//! folder is deleted and the target is untouched. A driver killed mid-job
//! leaves only the hidden staging folder, which the next write to the same
//! target removes.
//!
//! Like Spark's file output committer, the commit itself is a sequence of
//! renames (atomic per file on a local file system, copy-and-delete on S3),
//! not one atomic step.

use std::collections::BTreeSet;
use std::sync::Arc;

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
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tracing::{info, warn};

/// Prefix of staging folders; hidden, so listings of the parent skip them.
const STAGING_PREFIX: &str = ".kiln-staging-";

/// A write whose sink was redirected to a staging folder, to be committed
/// into (or aborted from) its target.
#[derive(Debug)]
pub struct StagedWrite {
    store: Arc<dyn ObjectStore>,
    /// The target folder (or file) as the user wrote it.
    target_url: String,
    target: Path,
    staging: Path,
    local_staging_dir: Option<std::path::PathBuf>,
    single_file: bool,
    overwrite: bool,
    partition_columns: usize,
    partition_mode: PartitionOverwriteMode,
    /// For Parquet into a folder, without partition columns: the schema of
    /// the empty file an empty result is committed as (as Spark writes one),
    /// so that readers of the target still find its columns.
    empty_file: Option<SchemaRef>,
    /// Names the empty file apart from other writes' files.
    tag: String,
}

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
    copy_mode: WriteMode,
    partition_mode: PartitionOverwriteMode,
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
    let staging_dir = format!("{parent}/{STAGING_PREFIX}{name}-{tag}/");
    let staging_url = if single_file {
        format!("{staging_dir}{name}")
    } else {
        staging_dir.clone()
    };
    let staging_table =
        ListingTableUrl::parse(&staging_url).map_err(|e| err("staging location", e))?;
    let staging_dir_url =
        ListingTableUrl::parse(&staging_dir).map_err(|e| err("staging location", e))?;
    let store = ctx
        .runtime_env()
        .object_store(&target_url)
        .map_err(|e| err("object store of the target", e))?;
    let overwrite = if is_copy {
        match copy_mode {
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
    let staged = StagedWrite {
        store,
        target_url: target_url.as_str().to_string(),
        target: target_url.prefix().clone(),
        staging: staging_dir_url.prefix().clone(),
        local_staging_dir: (target_url.scheme() == "file")
            .then(|| std::path::PathBuf::from(format!("/{}", staging_dir_url.prefix()))),
        single_file,
        overwrite,
        partition_columns: config.table_partition_cols.len(),
        partition_mode,
        empty_file: (!single_file
            && config.table_partition_cols.is_empty()
            && config.file_extension == "parquet")
            .then(|| config.output_schema.clone()),
        tag: tag.to_string(),
    };
    staged.remove_stale_staging(parent, name).await;
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
    /// the staging folder, `attempts`) into the target, after clearing it in
    /// overwrite mode, and marks it with `_SUCCESS`. Files of other attempts
    /// (failed, lost, or superseded by a recomputation) are left behind and
    /// deleted with the staging folder.
    pub async fn commit(self, attempts: &[String]) -> Result<()> {
        let listed: Vec<Path> = self
            .store
            .list(Some(&self.staging))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| err("listing staged files", e))?;
        // (staged file, path below its attempt folder) of the committed attempts.
        let staged: Vec<(Path, String)> = listed
            .into_iter()
            .filter_map(|p| {
                let rel = relative(&p, &self.staging)?;
                let (dir, rest) = rel.split_once('/')?;
                let rest = rest.to_string();
                attempts.iter().any(|a| a == dir).then_some((p, rest))
            })
            .collect();
        if self.single_file {
            if let Some((file, _)) = staged.first() {
                self.store
                    .rename(file, &self.target)
                    .await
                    .map_err(|e| err(&format!("moving into {}", self.target_url), e))?;
            }
            self.cleanup().await;
            return Ok(());
        }
        if self.overwrite {
            let written: BTreeSet<String> = staged
                .iter()
                .filter_map(|(_, rel)| partition_of(rel, self.partition_columns))
                .collect();
            let dynamic = self.partition_mode == PartitionOverwriteMode::Dynamic
                && self.partition_columns > 0;
            let existing: Vec<Path> = self
                .store
                .list(Some(&self.target))
                .map_ok(|m| m.location)
                .try_collect()
                .await
                .map_err(|e| err(&format!("listing {}", self.target_url), e))?;
            for old in existing {
                let Some(rel) = relative(&old, &self.target) else {
                    continue;
                };
                let replaced = !dynamic
                    || rel == "_SUCCESS"
                    || partition_of(rel, self.partition_columns)
                        .is_some_and(|p| written.contains(&p));
                if replaced {
                    self.store
                        .delete(&old)
                        .await
                        .map_err(|e| err(&format!("deleting old output {old}"), e))?;
                }
            }
        }
        for (file, rel) in &staged {
            let dest = Path::from(format!("{}/{rel}", self.target.as_ref()));
            self.store
                .rename(file, &dest)
                .await
                .map_err(|e| err(&format!("moving {rel} into {}", self.target_url), e))?;
        }
        if staged.is_empty() {
            if let Some(schema) = &self.empty_file {
                let dest = Path::from(format!(
                    "{}/part-00000-{}.parquet",
                    self.target.as_ref(),
                    self.tag
                ));
                self.store
                    .put(&dest, PutPayload::from(empty_parquet(schema)?))
                    .await
                    .map_err(|e| err("writing the empty result file", e))?;
            }
        }
        let marker = Path::from(format!("{}/_SUCCESS", self.target.as_ref()));
        self.store
            .put(&marker, PutPayload::new())
            .await
            .map_err(|e| err("writing _SUCCESS", e))?;
        info!(target = %self.target_url, files = staged.len(), "output committed");
        self.cleanup().await;
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
            return;
        }
        delete_all(&self.store, &self.staging).await;
    }

    /// Staging folders of earlier writes to the same target that never
    /// finished (their driver was killed).
    async fn remove_stale_staging(&self, parent_url: &str, name: &str) {
        let stale_prefix = format!("{STAGING_PREFIX}{name}-");
        if let Some(dir) = &self.local_staging_dir {
            let Some(parent) = dir.parent() else { return };
            let Ok(mut entries) = tokio::fs::read_dir(parent).await else {
                return;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                let file_name = e.file_name().to_string_lossy().to_string();
                if file_name.starts_with(&stale_prefix) {
                    info!(path = %e.path().display(), "removing staging left by an unfinished write");
                    let _ = tokio::fs::remove_dir_all(e.path()).await;
                }
            }
            return;
        }
        let Ok(parent) = ListingTableUrl::parse(format!("{parent_url}/")) else {
            return;
        };
        let Ok(listing) = self.store.list_with_delimiter(Some(parent.prefix())).await else {
            return;
        };
        for dir in listing.common_prefixes {
            if dir.filename().is_some_and(|f| f.starts_with(&stale_prefix)) {
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
}
