//! Where each function name of a Kiln session comes from: Kiln's own
//! (`functions/src/`), datafusion-spark's, or DataFusion's generic
//! built-ins, and as which kind of function (scalar, aggregate, ...).
//!
//! [`with_spark_sql`] registers DataFusion's built-ins, then
//! datafusion-spark's, then Kiln's own, then Spark's aliases, and a later
//! registration of a name wins. [`Catalog`] reads what the built registry
//! finally holds under each name and attributes that function to the
//! provider whose list has it, so it cannot drift from the registration.
//!
//! Spark also lists operators and special forms (`<=>`, `CASE`, `CAST`,
//! `IN`) that are parser syntax, not registry functions, and forms Kiln
//! rewrites before planning (`int(x)`, `explode`). This module
//! claims nothing about them: [`SYNTAX_PROBES`] holds one SQL expression
//! per name, which `tests/tests/suite/spark_functions.rs` plans through Kiln's
//! SQL path to decide whether the name works.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, WindowUDF};

use crate::with_spark_sql;

/// Who implements a registered function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Kiln's own (`functions/src/`), written or chosen for Spark's
    /// semantics.
    Kiln,
    /// The datafusion-spark crate, which aims at Spark's semantics.
    DataFusionSpark,
    /// DataFusion's generic built-ins, which may differ from Spark's (null
    /// and error handling, types, argument forms).
    DataFusion,
    /// None of the three: registered on the state by someone else.
    Other,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Kiln => "Kiln",
            Provider::DataFusionSpark => "datafusion-spark",
            Provider::DataFusion => "DataFusion",
            Provider::Other => "other",
        })
    }
}

/// Which registry of a session a function is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A scalar function.
    Scalar,
    /// A function taking lambdas (`array_transform(a, x -> x + 1)`).
    HigherOrder,
    /// An aggregate function (also usable as a window function).
    Aggregate,
    /// A window-only function (`rank`, `lag`).
    Window,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Scalar => "scalar",
            Kind::HigherOrder => "higher-order",
            Kind::Aggregate => "aggregate",
            Kind::Window => "window",
        })
    }
}

/// One function a name resolves to in one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Registration {
    /// The registry.
    pub kind: Kind,
    /// Who implements the function registered there.
    pub provider: Provider,
}

/// The names of a session's function registries (names and aliases), each
/// with the functions it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    entries: BTreeMap<String, Vec<Registration>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// The catalog of the registry every Kiln session has:
    /// `with_spark_sql(SessionStateBuilder::new().with_default_features())`.
    pub fn new() -> Self {
        Self::of_state(&with_spark_sql(SessionStateBuilder::new().with_default_features()).build())
    }

    /// The catalog of `state`'s registries; a function none of the
    /// providers' lists has is [`Provider::Other`].
    pub fn of_state(state: &SessionState) -> Self {
        let lists = Lists::new();
        let mut entries: BTreeMap<String, Vec<Registration>> = BTreeMap::new();
        let mut add = |kind, names: Vec<(&String, Provider)>| {
            for (name, provider) in names {
                entries
                    .entry(name.clone())
                    .or_default()
                    .push(Registration { kind, provider });
            }
        };
        add(
            Kind::Scalar,
            attribute(state.scalar_functions(), &lists.scalar),
        );
        add(
            Kind::HigherOrder,
            attribute(state.higher_order_functions(), &lists.higher_order),
        );
        add(
            Kind::Aggregate,
            attribute(state.aggregate_functions(), &lists.aggregate),
        );
        add(
            Kind::Window,
            attribute(state.window_functions(), &lists.window),
        );
        Self { entries }
    }

    /// What `name` (any case) resolves to, in the order the SQL planner
    /// tries the registries for a call without `OVER`: scalar, higher-order,
    /// aggregate, window. Empty if no registry has the name.
    pub fn lookup(&self, name: &str) -> &[Registration] {
        self.entries
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Every registered name (functions and aliases), sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// What to plan after `SELECT` to check that a Spark operator or special
/// form works, by Spark's name for it; [`syntax_probe`] looks one up.
/// Names a registry has need no probe (the registry decides); a probe for
/// a name Kiln cannot plan just leaves the name missing.
pub const SYNTAX_PROBES: &[(&str, &str)] = &[
    ("!", "!true"),
    ("!=", "1 != 2"),
    ("%", "7 % 3"),
    ("&", "6 & 3"),
    ("*", "2 * 3"),
    ("+", "1 + 2"),
    ("-", "3 - 1"),
    ("/", "7 / 2"),
    ("<", "1 < 2"),
    ("<<", "1 << 2"),
    ("<=", "1 <= 2"),
    ("<=>", "1 <=> NULL"),
    ("<>", "1 <> 2"),
    ("=", "1 = 1"),
    ("==", "1 == 1"),
    (">", "2 > 1"),
    (">=", "2 >= 1"),
    (">>", "8 >> 1"),
    (">>>", "-8 >>> 1"),
    ("^", "6 ^ 3"),
    ("|", "6 | 3"),
    ("||", "'a' || 'b'"),
    ("~", "~5"),
    ("and", "true AND false"),
    ("between", "2 BETWEEN 1 AND 3"),
    ("bigint", "bigint('1')"),
    ("binary", "binary('a')"),
    ("boolean", "boolean('true')"),
    ("case", "CASE WHEN 1 = 1 THEN 'a' ELSE 'b' END"),
    ("cast", "CAST('1' AS INT)"),
    ("collate", "'a' COLLATE UTF8_BINARY"),
    ("current_user", "current_user"),
    ("date", "date('2024-01-02')"),
    ("decimal", "decimal('1.5')"),
    ("div", "7 DIV 2"),
    ("double", "double('1.5')"),
    ("explode", "explode(array(1, 2))"),
    ("extract", "extract(YEAR FROM DATE '2024-01-02')"),
    ("float", "float('1.5')"),
    (
        "grouping_id",
        "grouping_id() FROM VALUES (1) AS t(a) GROUP BY CUBE(a)",
    ),
    ("in", "1 IN (1, 2)"),
    ("int", "int('1')"),
    ("isnotnull", "isnotnull(1)"),
    ("isnull", "isnull(NULL)"),
    ("not", "NOT true"),
    ("or", "true OR false"),
    ("regexp", "'abc' REGEXP 'b'"),
    ("rlike", "'abc' RLIKE 'b'"),
    ("smallint", "smallint('1')"),
    ("string", "string(1)"),
    ("timestamp", "timestamp('2024-01-02 03:04:05')"),
    ("tinyint", "tinyint('1')"),
    ("when", "CASE WHEN 1 = 1 THEN 'a' END"),
];

/// The [`SYNTAX_PROBES`] entry for `name`.
pub fn syntax_probe(name: &str) -> Option<&'static str> {
    SYNTAX_PROBES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, probe)| *probe)
}

/// What each provider registers, of one kind, in the order a later
/// registration wins: Kiln's own, then datafusion-spark's, then
/// DataFusion's.
struct ByProvider<F> {
    lists: [(Provider, Vec<Arc<F>>); 3],
}

impl<F> ByProvider<F> {
    fn new(kiln: Vec<Arc<F>>, spark: Vec<Arc<F>>, datafusion: Vec<Arc<F>>) -> Self {
        Self {
            lists: [
                (Provider::Kiln, kiln),
                (Provider::DataFusionSpark, spark),
                (Provider::DataFusion, datafusion),
            ],
        }
    }
}

/// The providers' lists of every kind.
struct Lists {
    scalar: ByProvider<ScalarUDF>,
    higher_order: ByProvider<HigherOrderUDF>,
    aggregate: ByProvider<AggregateUDF>,
    window: ByProvider<WindowUDF>,
}

impl Lists {
    fn new() -> Self {
        let own = crate::own_functions();
        Self {
            scalar: ByProvider::new(
                own.scalar,
                datafusion_spark::all_default_scalar_functions(),
                SessionStateDefaults::default_scalar_functions(),
            ),
            higher_order: ByProvider::new(
                own.higher_order,
                vec![],
                SessionStateDefaults::default_higher_order_functions(),
            ),
            aggregate: ByProvider::new(
                own.aggregate,
                datafusion_spark::all_default_aggregate_functions(),
                SessionStateDefaults::default_aggregate_functions(),
            ),
            window: ByProvider::new(
                vec![],
                datafusion_spark::all_default_window_functions(),
                SessionStateDefaults::default_window_functions(),
            ),
        }
    }
}

/// The parts of DataFusion's function types attribution needs.
trait Function: PartialEq {
    fn name(&self) -> &str;
    fn aliases(&self) -> &[String];
}

macro_rules! function {
    ($($t:ty),*) => {$(
        impl Function for $t {
            fn name(&self) -> &str {
                <$t>::name(self)
            }
            fn aliases(&self) -> &[String] {
                <$t>::aliases(self)
            }
        }
    )*};
}

function!(ScalarUDF, HigherOrderUDF, AggregateUDF, WindowUDF);

/// Each name of `registry` with the provider of the function it holds.
fn attribute<'a, F: Function>(
    registry: &'a HashMap<String, Arc<F>>,
    lists: &ByProvider<F>,
) -> Vec<(&'a String, Provider)> {
    registry
        .iter()
        .map(|(name, f)| (name, provider_of(f.as_ref(), lists)))
        .collect()
}

/// The provider whose list has `f`. Functions compare by implementation
/// and configuration (DataFusion's `PartialEq`), so a fresh list matches
/// the registered instances; the first list wins, as the latest
/// registration does (Kiln registers DataFusion's `avg` again: Kiln's).
/// A function renamed with `with_aliases` (`aliases.rs`) compares equal
/// to nothing; it is the latest registered function of its name, given
/// more names, so it goes to the first list with that name and fewer
/// aliases.
fn provider_of<F: Function>(f: &F, lists: &ByProvider<F>) -> Provider {
    let equal = lists
        .lists
        .iter()
        .find(|(_, list)| list.iter().any(|c| c.as_ref() == f));
    let renamed = || {
        lists.lists.iter().find(|(_, list)| {
            list.iter().any(|c| {
                c.name() == f.name()
                    && f.aliases().len() > c.aliases().len()
                    && c.aliases().iter().all(|a| f.aliases().contains(a))
            })
        })
    };
    equal
        .or_else(renamed)
        .map_or(Provider::Other, |(provider, _)| *provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_name_has_a_provider() {
        let catalog = Catalog::new();
        let unattributed: Vec<_> = catalog
            .names()
            .filter(|n| {
                catalog
                    .lookup(n)
                    .iter()
                    .any(|r| r.provider == Provider::Other)
            })
            .collect();
        assert!(unattributed.is_empty(), "{unattributed:?}");
    }

    #[test]
    fn the_latest_registration_of_a_name_counts() {
        let catalog = Catalog::new();
        let first = |name| catalog.lookup(name).first().copied();
        let reg = |kind, provider| Some(Registration { kind, provider });
        // Kiln's own replaces datafusion-spark's and DataFusion's.
        assert_eq!(first("date_format"), reg(Kind::Scalar, Provider::Kiln));
        assert_eq!(first("DATE_FORMAT"), reg(Kind::Scalar, Provider::Kiln));
        // datafusion-spark's plan-only `date_part`, wrapped by Kiln.
        assert_eq!(first("date_part"), reg(Kind::Scalar, Provider::Kiln));
        // DataFusion's `avg`, registered again over datafusion-spark's.
        assert_eq!(first("avg"), reg(Kind::Aggregate, Provider::Kiln));
        // datafusion-spark's replaces DataFusion's.
        assert_eq!(
            first("concat"),
            reg(Kind::Scalar, Provider::DataFusionSpark)
        );
        // Spark's alias of DataFusion's `bool_and` (`aliases.rs`).
        assert_eq!(first("every"), reg(Kind::Aggregate, Provider::DataFusion));
        assert_eq!(first("rank"), reg(Kind::Window, Provider::DataFusion));
        assert_eq!(catalog.lookup("no_such_function"), &[]);
    }

    #[test]
    fn probes_are_for_names_and_look_up_by_name() {
        assert_eq!(syntax_probe("<=>"), Some("1 <=> NULL"));
        assert_eq!(syntax_probe("CASE"), syntax_probe("case"));
        let mut names: Vec<_> = SYNTAX_PROBES.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SYNTAX_PROBES.len(), "a name probed twice");
    }

    #[test]
    fn registered_names_have_no_probe() {
        // The registry decides for them; a probe would never run.
        let catalog = Catalog::new();
        for (name, _) in SYNTAX_PROBES {
            assert_eq!(catalog.lookup(name), &[], "`{name}` is registered");
        }
    }
}
