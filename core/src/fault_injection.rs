//! Fault-injection settings (`kiln.test.*`) for Kiln's own fault tests:
//! delays that widen the window a fault aims at, and deliberate failures at
//! chosen points (a write attempt, a commit halfway, a damaged shuffle
//! block). The recovery they exercise is the real one.
//!
//! Only builds with the cargo feature `fault-injection` accept them: the
//! workspace's tests turn it on (a dev-dependency of `kiln-tests`), so the
//! `kiln` binary built with the tests has them; `cargo build --release -p
//! kiln-cli` (the image, the benchmark) does not, and there a `kiln.test.*`
//! key is refused with an error and every hook below is off.

use std::collections::BTreeMap;
use std::time::Duration;

use kiln_values::duration::parse_duration;

use crate::error::{KilnError, Result};
pub use crate::settings::{
    TEST_CORRUPT_BLOCK, TEST_FAIL_COMMIT_AFTER_FILES, TEST_FAIL_FIRST_WRITE_ATTEMPT,
    TEST_KEYS as KEYS, TEST_STAGE_DELAY, TEST_TASK_DELAY,
};
use crate::shuffle::block::CorruptBlock;

/// Whether this build accepts `kiln.test.*` settings.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

/// The hooks an application's settings turn on; all off by default, and
/// always off in a build without the `fault-injection` feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestHooks {
    /// [`TEST_TASK_DELAY`].
    pub task_delay: Option<Duration>,
    /// [`TEST_STAGE_DELAY`].
    pub stage_delay: Option<Duration>,
    /// [`TEST_CORRUPT_BLOCK`].
    pub corrupt_block: Option<CorruptBlock>,
    /// [`TEST_FAIL_FIRST_WRITE_ATTEMPT`].
    pub fail_first_write: bool,
    /// [`TEST_FAIL_COMMIT_AFTER_FILES`].
    pub fail_commit_after_files: Option<u64>,
}

impl TestHooks {
    /// The hooks set in `raw`; a `kiln.test.*` key is an error when this
    /// build has no hooks, or when it names none of them.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self> {
        let bad = |key: &str, message: String| KilnError::Config {
            key: key.to_string(),
            message,
        };
        for k in raw.keys().filter(|k| k.starts_with("kiln.test.")) {
            if !ENABLED {
                return Err(bad(
                    k,
                    "a fault-injection setting for Kiln's tests; this build has none \
                     (cargo feature fault-injection)"
                        .into(),
                ));
            }
            if !KEYS.contains(&k.as_str()) {
                return Err(bad(
                    k,
                    format!("unknown setting (known: {})", KEYS.join(", ")),
                ));
            }
        }
        if !ENABLED {
            return Ok(TestHooks::default());
        }
        let duration = |key: &str| -> Result<Option<Duration>> {
            raw.get(key)
                .map(|v| parse_duration(v).map_err(|m| bad(key, m)))
                .transpose()
        };
        let fail_first_write = match raw
            .get(TEST_FAIL_FIRST_WRITE_ATTEMPT)
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(other) => {
                return Err(bad(
                    TEST_FAIL_FIRST_WRITE_ATTEMPT,
                    format!("expected true or false, found `{other}`"),
                ))
            }
        };
        let fail_commit_after_files = raw
            .get(TEST_FAIL_COMMIT_AFTER_FILES)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    bad(
                        TEST_FAIL_COMMIT_AFTER_FILES,
                        format!("expected a whole number, found `{v}`"),
                    )
                })
            })
            .transpose()?;
        let corrupt_block = raw
            .get(TEST_CORRUPT_BLOCK)
            .map(|v| CorruptBlock::parse(v).map_err(|m| bad(TEST_CORRUPT_BLOCK, m)))
            .transpose()?;
        Ok(TestHooks {
            task_delay: duration(TEST_TASK_DELAY)?,
            stage_delay: duration(TEST_STAGE_DELAY)?,
            corrupt_block,
            fail_first_write,
            fail_commit_after_files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::settings::from_pairs as conf;

    #[test]
    fn hooks_are_off_unless_set() {
        assert_eq!(TestHooks::parse(&conf(&[])).unwrap(), TestHooks::default());
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn with_the_feature_hooks_parse_and_bad_values_name_the_key() {
        let h = TestHooks::parse(&conf(&[
            (TEST_TASK_DELAY, "400ms"),
            (TEST_FAIL_FIRST_WRITE_ATTEMPT, "true"),
            (TEST_CORRUPT_BLOCK, "1/0/2:truncate"),
        ]))
        .unwrap();
        assert_eq!(h.task_delay, Some(Duration::from_millis(400)));
        assert!(h.fail_first_write);
        assert!(h.corrupt_block.is_some_and(|c| c.truncate));
        let e = TestHooks::parse(&conf(&[(TEST_FAIL_FIRST_WRITE_ATTEMPT, "yes")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(TEST_FAIL_FIRST_WRITE_ATTEMPT), "{e}");
        let e = TestHooks::parse(&conf(&[("kiln.test.taskDelai", "1s")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("kiln.test.taskDelai"), "{e}");
    }

    #[cfg(not(feature = "fault-injection"))]
    #[test]
    fn without_the_feature_every_hook_is_refused() {
        for key in KEYS {
            let e = TestHooks::parse(&conf(&[(key, "1")]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains("fault-injection"), "{e}");
        }
    }
}
