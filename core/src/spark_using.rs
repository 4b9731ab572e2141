//! The columns of a `JOIN ... USING (k)` as Spark resolves them.
//!
//! Spark gives a USING join one column per key, named as the key: the
//! left side's value for inner and left joins, the right side's for right
//! joins, and `coalesce(left, right)` for full joins; `SELECT *` lists the
//! keys first, then the other columns of the left side and of the right.
//! DataFusion resolves an unqualified key to the left side's column
//! whatever the join type, so a right-only row of a `RIGHT` or `FULL` join
//! showed the key as NULL, and its `*` kept the key column of whichever
//! side's name sorts first.
//!
//! [`using_join_columns`] rewrites a select over a chain of inner and
//! outer USING joins: an unqualified key becomes Spark's expression for
//! it, and `*` becomes the keys followed by each relation's columns but
//! its keys (`t.* EXCLUDE (k)`). Qualified references (`t.k`, `t.*`) keep
//! their side's column, as in Spark. Other FROM shapes (several tables,
//! `ON` joins in the chain, a later join on a column no earlier join had
//! as a key, relations without a name Kiln can give) are left alone.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    ExcludeSelectItem, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, TableAlias,
    TableFactor, VisitMut, VisitorMut, WildcardAdditionalOptions,
};

/// The kind of a USING join, as far as its key columns go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    Full,
}

/// One key column of the joins: its name and Spark's value for it.
struct Key {
    lower: String,
    name: Ident,
    value: Expr,
}

/// Rewrites the key columns of `select`'s USING joins to Spark's meaning
/// (see the module documentation).
pub fn using_join_columns(select: &mut Select) {
    let [from] = select.from.as_mut_slice() else {
        return;
    };
    if from.joins.is_empty() || !from.joins.iter().all(|j| side(&j.join_operator).is_some()) {
        return;
    }
    if !nameable(&from.relation) || !from.joins.iter().all(|j| nameable(&j.relation)) {
        return;
    }
    let mut unnamed = 0;
    let first = qualifier(&mut from.relation, &mut unnamed);
    // Each relation with the keys of the join that brought it in.
    let mut relations: Vec<(ObjectName, Vec<Ident>)> = vec![(first.clone(), vec![])];
    let mut keys: Vec<Key> = vec![];
    for (i, join) in from.joins.iter_mut().enumerate() {
        let Some((side, columns)) = side(&join.join_operator) else {
            return;
        };
        let right = qualifier(&mut join.relation, &mut unnamed);
        let mut new_keys = vec![];
        for c in columns {
            let [ObjectNamePart::Identifier(name)] = c.0.as_slice() else {
                return;
            };
            let lower = name.value.to_lowercase();
            let left_value = if i == 0 {
                column(&first, name)
            } else {
                match keys.iter().find(|k| k.lower == lower) {
                    Some(k) => k.value.clone(),
                    None => return,
                }
            };
            let right_value = column(&right, name);
            let value = match side {
                Side::Left => left_value,
                Side::Right => right_value,
                Side::Full => coalesce(left_value, right_value),
            };
            new_keys.push(Key {
                lower,
                name: name.clone(),
                value,
            });
        }
        let names: Vec<Ident> = new_keys.iter().map(|k| k.name.clone()).collect();
        if i == 0 {
            relations[0].1 = names.clone();
        }
        relations.push((right, names));
        // Spark lists this join's keys first, then the left side's.
        keys.retain(|k| !new_keys.iter().any(|n| n.lower == k.lower));
        new_keys.append(&mut keys);
        keys = new_keys;
    }
    rewrite_select(select, &keys, &relations);
}

/// The kind and the key columns of a join Kiln rewrites.
fn side(op: &JoinOperator) -> Option<(Side, &Vec<ObjectName>)> {
    let (side, constraint) = match op {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => (Side::Left, c),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (Side::Left, c),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (Side::Right, c),
        JoinOperator::FullOuter(c) => (Side::Full, c),
        _ => return None,
    };
    match constraint {
        JoinConstraint::Using(columns) if !columns.is_empty() => Some((side, columns)),
        _ => None,
    }
}

/// Whether a relation has, or can be given, a name to qualify its columns.
fn nameable(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::Table { .. } | TableFactor::Derived { .. }
    )
}

/// The name that qualifies `factor`'s columns; a derived table without an
/// alias gets one no query can write.
fn qualifier(factor: &mut TableFactor, unnamed: &mut usize) -> ObjectName {
    match factor {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            ObjectName::from(vec![a.name.clone()])
        }
        TableFactor::Table { name, .. } => name.clone(),
        TableFactor::Derived { alias, .. } => {
            *unnamed += 1;
            let name = Ident::with_quote('`', format!("__kiln_using_{unnamed}"));
            *alias = Some(TableAlias {
                explicit: true,
                name: name.clone(),
                columns: vec![],
                at: None,
            });
            ObjectName::from(vec![name])
        }
        // `nameable` admits only the two kinds above.
        _ => ObjectName::from(vec![]),
    }
}

fn column(relation: &ObjectName, name: &Ident) -> Expr {
    let mut parts: Vec<Ident> = relation
        .0
        .iter()
        .filter_map(|p| p.as_ident().cloned())
        .collect();
    parts.push(name.clone());
    Expr::CompoundIdentifier(parts)
}

fn coalesce(a: Expr, b: Expr) -> Expr {
    let sql = format!("coalesce({a}, {b})");
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::SparkSqlDialect,
    )
    .try_with_sql(&sql)
    .and_then(|mut p| p.parse_expr())
    // Two column references always parse; keep the left one if not.
    .unwrap_or(a)
}

fn rewrite_select(select: &mut Select, keys: &[Key], relations: &[(ObjectName, Vec<Ident>)]) {
    let mut items = vec![];
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::Wildcard(opts) if plain(&opts) => {
                for k in keys {
                    items.push(SelectItem::ExprWithAlias {
                        expr: k.value.clone(),
                        alias: k.name.clone(),
                    });
                }
                for (relation, excluded) in relations {
                    let opt_exclude = (!excluded.is_empty()).then(|| {
                        ExcludeSelectItem::Multiple(
                            excluded
                                .iter()
                                .map(|i| ObjectName::from(vec![excluded_name(i)]))
                                .collect(),
                        )
                    });
                    items.push(SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(relation.clone()),
                        WildcardAdditionalOptions {
                            opt_exclude,
                            ..opts.clone()
                        },
                    ));
                }
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) if key(keys, &i).is_some() => {
                let value = key(keys, &i).map(|k| k.value.clone());
                items.push(SelectItem::ExprWithAlias {
                    expr: value.unwrap_or(Expr::Identifier(i.clone())),
                    alias: i,
                });
            }
            SelectItem::UnnamedExpr(mut e) => {
                let name = crate::spark_expr_name::spark_name(&e);
                if replace_keys(&mut e, keys) {
                    items.push(match name {
                        Some(name) => SelectItem::ExprWithAlias {
                            expr: e,
                            alias: Ident::with_quote('`', name),
                        },
                        None => SelectItem::UnnamedExpr(e),
                    });
                } else {
                    items.push(SelectItem::UnnamedExpr(e));
                }
            }
            SelectItem::ExprWithAlias { mut expr, alias } => {
                replace_keys(&mut expr, keys);
                items.push(SelectItem::ExprWithAlias { expr, alias });
            }
            other => items.push(other),
        }
    }
    select.projection = items;
    let mut exprs: Vec<&mut Expr> = vec![];
    exprs.extend(select.selection.as_mut());
    exprs.extend(select.having.as_mut());
    exprs.extend(select.qualify.as_mut());
    if let GroupByExpr::Expressions(list, _) = &mut select.group_by {
        exprs.extend(list.iter_mut());
    }
    exprs.extend(select.sort_by.iter_mut().map(|o| &mut o.expr));
    for e in exprs {
        replace_keys(e, keys);
    }
}

/// A `*` without options of its own.
fn plain(opts: &WildcardAdditionalOptions) -> bool {
    opts.opt_ilike.is_none()
        && opts.opt_exclude.is_none()
        && opts.opt_except.is_none()
        && opts.opt_replace.is_none()
        && opts.opt_rename.is_none()
        && opts.opt_alias.is_none()
}

/// A key's name as DataFusion's `EXCLUDE` looks it up: verbatim, so an
/// unquoted name is lower-cased as the planner lower-cases column names.
fn excluded_name(i: &Ident) -> Ident {
    match i.quote_style {
        Some(_) => i.clone(),
        None => Ident::with_quote('`', i.value.to_lowercase()),
    }
}

fn key<'a>(keys: &'a [Key], i: &Ident) -> Option<&'a Key> {
    let lower = i.value.to_lowercase();
    keys.iter().find(|k| k.lower == lower)
}

/// Replaces unqualified references to `keys` in `e`, outside subqueries
/// (their own FROM decides what a name means there). Whether any was.
fn replace_keys(e: &mut Expr, keys: &[Key]) -> bool {
    struct Replace<'a> {
        keys: &'a [Key],
        depth: usize,
        replaced: bool,
    }
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if self.depth == 0 {
                if let Expr::Identifier(i) = e {
                    if let Some(k) = key(self.keys, i) {
                        *e = Expr::Nested(Box::new(k.value.clone()));
                        self.replaced = true;
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Replace {
        keys,
        depth: 0,
        replaced: false,
    };
    let _ = e.visit(&mut v);
    v.replaced
}

#[cfg(test)]
mod tests {
    use crate::spark_sql::rewritten;

    #[test]
    fn full_join_key_is_coalesced() {
        let out = rewritten(
            "SELECT k, nt1.k, upper(k) FROM nt1 FULL OUTER JOIN nt2 USING (k) WHERE k > 'a'",
        );
        assert!(out.contains("coalesce(nt1.k, nt2.k) AS k"), "{out}");
        assert!(out.contains("nt1.k,"), "{out}");
        assert!(
            out.contains("WHERE (coalesce(nt1.k, nt2.k)) > 'a'"),
            "{out}"
        );
        assert!(out.contains("AS `upper(k)`"), "{out}");
    }

    #[test]
    fn star_lists_keys_first() {
        let out = rewritten("SELECT * FROM a RIGHT JOIN b USING (k)");
        assert!(
            out.contains("SELECT b.k AS k, a.* EXCLUDE (`k`), b.* EXCLUDE (`k`)"),
            "{out}"
        );
        let out = rewritten("SELECT * FROM a JOIN b USING (x) FULL JOIN c USING (x)");
        assert!(out.contains("coalesce(a.x, c.x) AS x"), "{out}");
    }

    #[test]
    fn other_shapes_are_left_alone() {
        for sql in [
            "SELECT * FROM a JOIN b ON a.k = b.k",
            "SELECT * FROM a JOIN b USING (k), c",
            "SELECT * FROM a JOIN b USING (k) JOIN c USING (z)",
            "SELECT * FROM a LEFT SEMI JOIN b USING (k)",
        ] {
            let out = rewritten(sql);
            assert!(!out.contains("EXCLUDE"), "{out}");
        }
    }
}
