//! Paths inside a pod's volumes, as `kiln driver` and `kiln history` read
//! them in a pod or on Kiln's process-based test node.

use std::path::PathBuf;

/// A path from a pod volume: under `$KILN_MOUNT_ROOT` when set (Kiln's
/// process-based test node), as it is otherwise.
pub fn mounted(path: &std::path::Path) -> PathBuf {
    match std::env::var_os("KILN_MOUNT_ROOT") {
        Some(root) if path.is_absolute() && !path.starts_with(&root) => {
            PathBuf::from(root).join(path.strip_prefix("/").unwrap_or(path))
        }
        _ => path.to_path_buf(),
    }
}
