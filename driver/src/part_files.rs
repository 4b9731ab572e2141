//! Names of committed data files, as Spark names them:
//! `part-<task, 5 digits>-<write uuid>-c<file, 3 digits><suffix>`, e.g.
//! `part-00003-6f1c...-c000.zstd.parquet` (inside Hive partition folders
//! Spark 4 puts a `.` before the file number: `p=1/part-00003-6f1c....c000.zstd.parquet`),
//! so scripts that look for `part-*` files find them. The task number is
//! the write task's partition; the file number counts a task's files
//! within one partition folder.

use std::collections::BTreeMap;

use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::sink::DataSink;

/// The suffix of a write's data files when the sink alone decides it: a
/// Parquet sink's `.<codec>.parquet` (`.parquet` when uncompressed), as
/// Spark writes; `None` keeps the extension the sink gave the file.
pub fn suffix_of(sink: &dyn DataSink) -> Option<String> {
    let parquet = sink.downcast_ref::<ParquetSink>()?;
    let codec = parquet
        .parquet_options()
        .global
        .compression
        .as_deref()
        .map(|c| c.split('(').next().unwrap_or(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "uncompressed");
    Some(match codec {
        Some(c) => format!(".{c}.parquet"),
        None => ".parquet".to_string(),
    })
}

/// The write task (partition) of an attempt folder `_task-<stage>-<partition>-<attempt>`.
pub fn task_of(attempt_dir: &str) -> u32 {
    attempt_dir
        .rsplit('-')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Names the files of one commit, counting each task's files per folder.
#[derive(Debug)]
pub struct PartNames<'a> {
    uuid: &'a str,
    suffix: Option<&'a str>,
    seen: BTreeMap<(u32, String), u32>,
}

impl<'a> PartNames<'a> {
    /// Names for the write `uuid`, with `suffix` (see [`suffix_of`]).
    pub fn new(uuid: &'a str, suffix: Option<&'a str>) -> Self {
        PartNames {
            uuid,
            suffix,
            seen: BTreeMap::new(),
        }
    }

    /// The committed path of `rel` (`[partition folders/]<file>`), a file
    /// task `task` wrote.
    pub fn name(&mut self, task: u32, rel: &str) -> String {
        let (folder, file) = match rel.rsplit_once('/') {
            Some((folder, file)) => (format!("{folder}/"), file),
            None => (String::new(), rel),
        };
        let n = self.seen.entry((task, folder.clone())).or_insert(0);
        let seq = *n;
        *n += 1;
        let suffix = match self.suffix {
            Some(s) => s.to_string(),
            None => file
                .split_once('.')
                .map(|(_, ext)| format!(".{ext}"))
                .unwrap_or_default(),
        };
        let sep = if folder.is_empty() { '-' } else { '.' };
        format!("{folder}part-{task:05}-{}{sep}c{seq:03}{suffix}", self.uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_sparks_part_names() {
        let mut names = PartNames::new("u", Some(".snappy.parquet"));
        assert_eq!(
            names.name(3, "x_0.parquet"),
            "part-00003-u-c000.snappy.parquet"
        );
        assert_eq!(
            names.name(3, "x_1.parquet"),
            "part-00003-u-c001.snappy.parquet"
        );
        assert_eq!(
            names.name(3, "p=1/x_0.parquet"),
            "p=1/part-00003-u.c000.snappy.parquet"
        );
        let mut csv = PartNames::new("u", None);
        assert_eq!(
            csv.name(12, "a/b/x_0.csv.gz"),
            "a/b/part-00012-u.c000.csv.gz"
        );
    }

    #[test]
    fn the_task_is_the_attempt_folders_partition() {
        assert_eq!(task_of("_task-7-12-0"), 12);
        assert_eq!(task_of("_task-7-3-2"), 3);
    }
}
