//! The tables a session has marked as cached (`CACHE TABLE`,
//! `spark.catalog.cacheTable`), so that `spark.catalog.isCached` answers as
//! Spark does. Kiln's executors keep no cached partitions yet: a marked table
//! is recomputed when it is read. One set per session, a session-config
//! extension that [`crate::config::spark_session`] gives every session.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;

/// Names of the tables marked as cached, in a normal form (see [`key`]).
#[derive(Debug, Default)]
pub struct CachedTables {
    names: Mutex<BTreeSet<String>>,
}

impl CachedTables {
    /// The set of `ctx`'s session, if it has one.
    pub fn of(ctx: &SessionContext) -> Option<Arc<CachedTables>> {
        ctx.state().config().get_extension::<CachedTables>()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeSet<String>) -> T) -> T {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut names)
    }

    /// Marks `name` as cached.
    pub fn mark(&self, name: &str) {
        self.with(|n| n.insert(key(name)));
    }

    /// Unmarks `name`.
    pub fn unmark(&self, name: &str) {
        self.with(|n| n.remove(&key(name)));
    }

    /// Unmarks every table (`clearCache`).
    pub fn clear(&self) {
        self.with(|n| n.clear());
    }

    /// Whether `name` is marked.
    pub fn contains(&self, name: &str) -> bool {
        self.with(|n| n.contains(&key(name)))
    }
}

/// Marks (`cached`) or unmarks `name` in `ctx`'s session.
pub fn mark(ctx: &SessionContext, name: &str, cached: bool) {
    if let Some(c) = CachedTables::of(ctx) {
        if cached {
            c.mark(name);
        } else {
            c.unmark(name);
        }
    }
}

/// Unmarks every table of `ctx`'s session (`clearCache`).
pub fn clear(ctx: &SessionContext) {
    if let Some(c) = CachedTables::of(ctx) {
        c.clear();
    }
}

/// Whether `name` is marked in `ctx`'s session (`isCached`).
pub fn is_marked(ctx: &SessionContext, name: &str) -> bool {
    CachedTables::of(ctx).is_some_and(|c| c.contains(name))
}

/// A table name without case and without the default catalog and database
/// (`spark_catalog.default.Sales` and `sales` are one table).
fn key(name: &str) -> String {
    let lower = name.trim().replace('`', "").to_ascii_lowercase();
    let short = lower.strip_prefix("spark_catalog.").unwrap_or(&lower);
    short.strip_prefix("default.").unwrap_or(short).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_table_whatever_their_case_and_prefix() {
        let t = CachedTables::default();
        t.mark("spark_catalog.default.Sales");
        assert!(t.contains("sales") && t.contains("default.`sales`"));
        t.unmark("SALES");
        assert!(!t.contains("sales"));
        t.mark("a");
        t.mark("global_temp.b");
        t.clear();
        assert!(!t.contains("a") && !t.contains("global_temp.b"));
    }
}
