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

#[cfg(test)]
mod tests {
    use super::*;

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
