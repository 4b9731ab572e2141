//! Nested `WITH` clauses that reuse a name an enclosing `WITH` defines.
//!
//! Spark lets an inner `WITH` define a name again: inside the inner query
//! the name means the inner definition, and the inner definition itself
//! (not recursive) still reads the outer one (`WITH q AS (SELECT 1 x)
//! SELECT * FROM (WITH q AS (SELECT x + 1 FROM q) SELECT * FROM q)` is
//! 2). DataFusion's planner refuses such a query ("WITH query name
//! specified more than once"). [`rename_shadowing_ctes`] gives every such
//! inner definition a name of its own and rewrites the references that
//! mean it, as `renamed AS name`, so qualified columns (`q.x`) still
//! resolve.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, TableAlias, TableFactor, VisitMut, VisitorMut,
};

/// Renames the inner definitions of `node` that reuse an outer `WITH`
/// name (see the module documentation).
pub fn rename_shadowing_ctes<V: VisitMut>(node: &mut V) {
    let _ = node.visit(&mut Scopes::default());
}

/// The `WITH` names of the queries around the one being visited.
#[derive(Default)]
struct Scopes {
    names: Vec<Vec<String>>,
    renamed: usize,
}

impl Scopes {
    fn defined_outside(&self, name: &str) -> bool {
        self.names.iter().flatten().any(|n| n == name)
    }
}

impl VisitorMut for Scopes {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let Some(mut with) = query.with.take() else {
            self.names.push(vec![]);
            return ControlFlow::Continue(());
        };
        let mut here = vec![];
        for i in 0..with.cte_tables.len() {
            let name = with.cte_tables[i].alias.name.value.to_lowercase();
            if !self.defined_outside(&name) {
                here.push(name);
                continue;
            }
            self.renamed += 1;
            let new = format!("__kiln_cte_{}_{name}", self.renamed);
            let mut references = References {
                name: name.clone(),
                new: new.clone(),
                blocked: 0,
            };
            // What comes after the definition reads it: the later
            // definitions and the query itself (and, when recursive, the
            // definition too).
            let from = if with.recursive { i } else { i + 1 };
            for cte in &mut with.cte_tables[from..] {
                let _ = cte.query.visit(&mut references);
            }
            let _ = query.visit(&mut references);
            with.cte_tables[i].alias.name = Ident::new(&new);
            here.push(new);
        }
        query.with = Some(with);
        self.names.push(here);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.names.pop();
        ControlFlow::Continue(())
    }
}

/// Rewrites the table references to `name` into `new AS name`, except
/// inside a query whose own `WITH` defines `name` again.
struct References {
    name: String,
    new: String,
    blocked: usize,
}

impl References {
    fn redefines(&self, query: &Query) -> bool {
        query.with.as_ref().is_some_and(|w| {
            w.cte_tables
                .iter()
                .any(|c| c.alias.name.value.eq_ignore_ascii_case(&self.name))
        })
    }
}

impl VisitorMut for References {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.redefines(query) {
            self.blocked += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.redefines(query) {
            self.blocked -= 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if self.blocked > 0 {
            return ControlFlow::Continue(());
        }
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
        {
            let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
                return ControlFlow::Continue(());
            };
            if !ident.value.eq_ignore_ascii_case(&self.name) {
                return ControlFlow::Continue(());
            }
            let written = ident.clone();
            *name = ObjectName::from(vec![Ident::new(&self.new)]);
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: written,
                    columns: vec![],
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use crate::spark_sql::rewritten;

    async fn rows(sql: &str) -> String {
        let batches = crate::test_support::job_batches(sql).await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[test]
    fn only_shadowing_definitions_are_renamed() {
        let out = rewritten("WITH a AS (SELECT 1 x), b AS (SELECT * FROM a) SELECT * FROM b");
        assert!(!out.contains("__kiln_cte"), "{out}");
        let out = rewritten(
            "WITH q AS (SELECT 1 x) SELECT * FROM q, (WITH q AS (SELECT 2 y) SELECT q.y FROM q) t",
        );
        assert!(
            out.contains(
                "WITH __kiln_cte_1_q AS (SELECT 2 AS y) SELECT q.y FROM __kiln_cte_1_q AS q"
            ),
            "{out}"
        );
        assert!(out.starts_with("WITH q AS"), "{out}");
    }

    #[tokio::test]
    async fn the_inner_name_means_the_inner_definition() {
        // The inner definition reads the outer `q1`; the inner query, the inner one.
        let out = rows(
            "WITH q1 AS (SELECT 1 AS x) \
             SELECT * FROM (WITH q1 AS (SELECT x + 1 AS y FROM q1) SELECT * FROM q1)",
        )
        .await;
        assert!(out.contains("| y |") && out.contains("| 2 |"), "{out}");
        let out = rows(
            "WITH t1 AS (SELECT 1 a) SELECT * FROM t1 x, \
             (WITH t1 AS (SELECT 2 b) SELECT * FROM t1) y, t1 z",
        )
        .await;
        assert!(out.contains("| 1 | 2 | 1 |"), "{out}");
    }
}
