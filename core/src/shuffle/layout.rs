//! Where shuffle blocks live on an executor's disk, and the Flight ticket
//! that names one block.

use std::path::{Path, PathBuf};

/// Identifies one block: reduce partition `block` of map task `map` (attempt
/// `attempt`) of stage `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockId {
    /// Producing stage.
    pub stage: u32,
    /// Producing map partition.
    pub map: u32,
    /// Attempt of the map task.
    pub attempt: u32,
    /// Reduce partition.
    pub block: u32,
}

impl BlockId {
    /// Path of the block under an executor's shuffle directory.
    pub fn path(&self, shuffle_dir: &Path) -> PathBuf {
        map_dir(shuffle_dir, self.stage, self.map, self.attempt)
            .join(format!("block-{}.arrow", self.block))
    }

    /// The Flight ticket naming this block.
    pub fn ticket(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.stage, self.map, self.attempt, self.block
        )
    }

    /// Parses a ticket made by [`BlockId::ticket`]; `None` when malformed.
    pub fn from_ticket(t: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(t).ok()?;
        let mut it = s.split('/').map(|p| p.parse::<u32>().ok());
        let id = BlockId {
            stage: it.next()??,
            map: it.next()??,
            attempt: it.next()??,
            block: it.next()??,
        };
        if it.next().is_some() {
            return None;
        }
        Some(id)
    }
}

/// Directory holding one map task attempt's blocks.
pub fn map_dir(shuffle_dir: &Path, stage: u32, map: u32, attempt: u32) -> PathBuf {
    stage_dir(shuffle_dir, stage).join(format!("map-{map}-{attempt}"))
}

/// The folder of every map output of `stage`.
pub fn stage_dir(shuffle_dir: &Path, stage: u32) -> PathBuf {
    shuffle_dir.join(format!("stage-{stage}"))
}

/// The file beside an executor's shuffle folder that names its owner
/// (`<shuffle folder>.owner`: not inside, where only stage folders live).
pub fn owner_file(shuffle_dir: &Path) -> PathBuf {
    let mut name = shuffle_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "shuffle".into());
    name.push(".owner");
    shuffle_dir.with_file_name(name)
}

fn owner_text(executor_id: &str, address: &str) -> String {
    format!("{executor_id}\n{address}\n")
}

/// Marks `shuffle_dir` as the folder of the executor `executor_id` serving
/// at `address`, so that readers on the same file system can tell it is
/// (see [`host_local_dir`]).
pub fn write_owner(shuffle_dir: &Path, executor_id: &str, address: &str) -> std::io::Result<()> {
    std::fs::write(owner_file(shuffle_dir), owner_text(executor_id, address))
}

/// The shuffle folder `shuffle_dir` of executor `executor_id` (serving at
/// `address`), when this process sees it on its own file system: the same
/// host, or a shared volume (Spark's `spark.shuffle.readHostLocalDisk`).
/// `None` when the folder is unknown (empty), absent here, or another
/// executor's.
pub fn host_local_dir(shuffle_dir: &str, executor_id: &str, address: &str) -> Option<PathBuf> {
    if shuffle_dir.is_empty() {
        return None;
    }
    let dir = PathBuf::from(shuffle_dir);
    let owner = std::fs::read_to_string(owner_file(&dir)).ok()?;
    (owner == owner_text(executor_id, address)).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_host_local_only_with_its_owners_mark() {
        let work = tempfile::tempdir().expect("tempdir");
        let dir = work.path().join("shuffle");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let text = dir.to_str().expect("utf8");
        assert_eq!(host_local_dir(text, "1", "http://127.0.0.1:1"), None);
        write_owner(&dir, "1", "http://127.0.0.1:1").expect("mark");
        assert_eq!(owner_file(&dir), work.path().join("shuffle.owner"));
        assert_eq!(
            host_local_dir(text, "1", "http://127.0.0.1:1"),
            Some(dir.clone())
        );
        // Another executor, or the same id at another address (another
        // application's executor 1): read over Flight.
        assert_eq!(host_local_dir(text, "2", "http://127.0.0.1:1"), None);
        assert_eq!(host_local_dir(text, "1", "http://127.0.0.1:2"), None);
        assert_eq!(host_local_dir("", "1", "http://127.0.0.1:1"), None);
        // Nothing but stage folders inside the shuffle folder.
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0);
    }

    #[test]
    fn ticket_round_trip() {
        let b = BlockId {
            stage: 3,
            map: 1,
            attempt: 0,
            block: 7,
        };
        assert_eq!(BlockId::from_ticket(b.ticket().as_bytes()), Some(b));
        assert_eq!(BlockId::from_ticket(b"1/2/3"), None);
        assert_eq!(BlockId::from_ticket(b"1/2/3/x"), None);
        assert_eq!(BlockId::from_ticket(b"../../etc/passwd"), None);
    }
}
