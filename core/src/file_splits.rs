//! Scan partitions made of whole files where whole files balance them.
//!
//! DataFusion splits a scan's files into byte ranges of equal size, and a
//! Parquet row group belongs to the range holding its first page. With two
//! files of one row group each and two partitions, the split falls a few
//! bytes into the second file, so the first partition reads both row groups
//! and the second none (TPC-H's `customer`, `part`, `partsupp` as
//! `kiln gen tpch` writes them): one task does the stage's work. Spark packs
//! whole files into partitions when they fit (`maxSplitBytes`).
//!
//! [`WholeFileSplits`], after DataFusion's rules, deals the files of a scan
//! whole over the same number of partitions, largest first onto the least
//! loaded, when that is at least as even as the ranges it replaces (no
//! partition above the ideal share by more than an eighth). A scan that must
//! keep its files' order, or has fewer files than partitions, is left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// The physical optimizer rule of this module (see the module documentation).
#[derive(Debug, Default)]
pub struct WholeFileSplits;

impl PhysicalOptimizerRule for WholeFileSplits {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            if !config.output_ordering.is_empty() {
                return Ok(Transformed::no(node));
            }
            let Some(groups) = whole_files(&config.file_groups) else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "kiln_whole_file_splits"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `groups` re-dealt as whole files over as many groups, or `None` when
/// they already are whole files or whole files would not balance.
fn whole_files(groups: &[FileGroup]) -> Option<Vec<FileGroup>> {
    let n = groups.len();
    if n < 2
        || groups
            .iter()
            .flat_map(FileGroup::files)
            .all(|f| f.range.is_none())
    {
        return None;
    }
    // One entry per file, whole.
    let mut files: BTreeMap<String, PartitionedFile> = BTreeMap::new();
    for f in groups.iter().flat_map(FileGroup::files) {
        files
            .entry(f.object_meta.location.to_string())
            .or_insert_with(|| {
                let mut whole = f.clone();
                whole.range = None;
                whole
            });
    }
    if files.len() < n {
        return None;
    }
    let mut files: Vec<PartitionedFile> = files.into_values().collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let total: u64 = files.iter().map(|f| f.object_meta.size).sum();
    let mut dealt: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); n];
    for f in files {
        if let Some(least) = dealt.iter_mut().min_by_key(|(size, _)| *size) {
            least.0 += f.object_meta.size;
            least.1.push(f);
        }
    }
    let ideal = total.div_ceil(n as u64);
    let largest = dealt.iter().map(|(size, _)| *size).max().unwrap_or(0);
    if largest > ideal + ideal / 8 {
        return None;
    }
    Some(dealt.into_iter().map(|(_, f)| FileGroup::new(f)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::listing::FileRange;

    fn file(path: &str, size: u64, range: Option<(i64, i64)>) -> PartitionedFile {
        let mut f = PartitionedFile::new(path.to_string(), size);
        f.range = range.map(|(start, end)| FileRange { start, end });
        f
    }

    fn names(groups: &[FileGroup]) -> Vec<Vec<(String, bool)>> {
        groups
            .iter()
            .map(|g| {
                g.files()
                    .iter()
                    .map(|f| (f.object_meta.location.to_string(), f.range.is_some()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_split_a_few_bytes_into_a_file_becomes_one_file_per_partition() {
        // DataFusion's ranges for two files of 100 and 104 bytes.
        let groups = vec![
            FileGroup::new(vec![
                file("a", 100, Some((0, 100))),
                file("b", 104, Some((0, 2))),
            ]),
            FileGroup::new(vec![file("b", 104, Some((2, 104)))]),
        ];
        let dealt = whole_files(&groups).expect("re-dealt");
        assert_eq!(
            names(&dealt),
            vec![
                vec![("b".to_string(), false)],
                vec![("a".to_string(), false)]
            ]
        );
    }

    #[test]
    fn uneven_or_too_few_files_keep_their_ranges() {
        // One large file: whole files would leave a partition idle.
        let groups = vec![
            FileGroup::new(vec![file("a", 1000, Some((0, 500)))]),
            FileGroup::new(vec![file("a", 1000, Some((500, 1000)))]),
        ];
        assert!(whole_files(&groups).is_none());
        // A large and a small file: whole files would be far from even.
        let groups = vec![
            FileGroup::new(vec![file("a", 1000, Some((0, 550)))]),
            FileGroup::new(vec![
                file("a", 1000, Some((550, 1000))),
                file("b", 100, None),
            ]),
        ];
        assert!(whole_files(&groups).is_none());
        // Already whole files.
        let groups = vec![
            FileGroup::new(vec![file("a", 100, None)]),
            FileGroup::new(vec![file("b", 100, None)]),
        ];
        assert!(whole_files(&groups).is_none());
    }
}
