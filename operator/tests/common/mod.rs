//! Helpers shared by the operator's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

// Not every test binary that includes this module calls them.
#[allow(unused_imports)]
pub use kiln_testcluster::{run, stdout};
