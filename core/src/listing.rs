//! Folders of data files read as Spark reads them: files and folders whose
//! names start with `_` or `.` (`_SUCCESS`, `.part.crc`) are not data.
//!
//! DataFusion lists every file of a table's folder, so the `_SUCCESS`
//! marker of a partitioned output looked like a file outside any
//! partition and `CREATE TABLE` over Kiln's (or Spark's) own output failed
//! with "mixed partition values". [`SparkListingFactory`] gives each local
//! folder location the glob `[!_.]*`, which DataFusion applies to the file
//! name below the partition folders.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::datasource::listing_table_factory::ListingTableFactory;
use datafusion::error::Result;
use datafusion::logical_expr::CreateExternalTable;

/// DataFusion's listing-table factory, with Spark's hidden files left out.
#[derive(Debug, Default)]
pub struct SparkListingFactory {
    inner: ListingTableFactory,
}

#[async_trait]
impl TableProviderFactory for SparkListingFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut cmd = cmd.clone();
        for location in &mut cmd.locations {
            if let Some(globbed) = data_files_of(location) {
                *location = globbed;
            }
        }
        self.inner.create(state, &cmd).await
    }
}

/// `location` with the data-file glob, for a local folder without a glob
/// of its own (DataFusion takes globs in file-system paths only).
fn data_files_of(location: &str) -> Option<String> {
    let path = location.strip_prefix("file://").unwrap_or(location);
    if !path.starts_with('/') || path.contains(['*', '?', '[', '{']) {
        return None;
    }
    if path.ends_with('/') {
        Some(format!("{path}[!_.]*"))
    } else if std::path::Path::new(path).is_dir() {
        Some(format!("{path}/[!_.]*"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_get_the_glob_files_and_urls_do_not() {
        assert_eq!(data_files_of("/data/t/").as_deref(), Some("/data/t/[!_.]*"));
        assert_eq!(
            data_files_of("file:///data/t/").as_deref(),
            Some("/data/t/[!_.]*")
        );
        assert_eq!(data_files_of("/data/t/x.parquet"), None);
        assert_eq!(data_files_of("/data/t/*.csv"), None);
        assert_eq!(data_files_of("s3://b/t/"), None);
        let dir = std::env::temp_dir();
        let d = dir.display().to_string();
        let d = d.trim_end_matches('/');
        assert_eq!(data_files_of(d), Some(format!("{d}/[!_.]*")));
    }
}
