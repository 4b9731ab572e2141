//! Spark SQL statements DataFusion does not take as written, rewritten on
//! the parsed statement into what it does, and Spark's names for result
//! columns.
//!
//! - `CREATE [OR REPLACE] TEMPORARY VIEW` is a view of the session: Kiln's
//!   catalogs are per session already, so it becomes a plain view.
//! - An inline table (`VALUES (1, 'a')`) without column names has Spark's
//!   `col1`, `col2`, ... instead of DataFusion's `column1`, ...
//! - A select item without an alias gets the name Spark gives it
//!   (`count(1)`, `sum(v)`, `(a + b)`), so result schemas and the columns
//!   of written files are named as on Spark.

mod text;

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query,
    Select, SelectItem, SetExpr, Statement, TableAlias, TableAliasColumnDef, TableFactor, Value,
    VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::spark_dialect::KilnSparkDialect;
use crate::spark_expr_name::called;
pub use crate::spark_expr_name::spark_name;
use crate::spark_names::NameList;

pub use text::{rewrite_inline_tables, rewrite_literals};

/// Rewrites `stmt` into DataFusion's terms for Spark SQL's meaning.
pub fn rewrite(stmt: &mut DFStatement) {
    match stmt {
        DFStatement::Statement(s) => {
            crate::spark_cte::rename_shadowing_ctes(&mut **s);
            let _ = s.visit(&mut SparkRewriter);
        }
        DFStatement::CopyTo(c) => {
            if let CopyToSource::Query(q) = &mut c.source {
                crate::spark_cte::rename_shadowing_ctes(&mut **q);
                let _ = q.visit(&mut SparkRewriter);
            }
        }
        DFStatement::Explain(e) => rewrite(&mut e.statement),
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => {}
    }
}

struct SparkRewriter;

impl VisitorMut for SparkRewriter {
    type Break = ();

    fn pre_visit_statement(&mut self, stmt: &mut Statement) -> ControlFlow<()> {
        if let Statement::CreateView(v) = stmt {
            v.temporary = false;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Derived {
            subquery, alias, ..
        } = factor
        {
            if let SetExpr::Values(values) = subquery.body.as_ref() {
                let width = values.rows.first().map(|r| r.len()).unwrap_or(0);
                let alias = alias.get_or_insert_with(|| TableAlias {
                    explicit: true,
                    name: Ident::new("__values"),
                    columns: vec![],
                    at: None,
                });
                if alias.columns.is_empty() {
                    alias.columns = (1..=width)
                        .map(|i| TableAliasColumnDef::from_name(format!("col{i}")))
                        .collect();
                }
            }
            if let Some(alias) = alias {
                mark_duplicate_columns(&mut alias.columns);
            }
        }
        ControlFlow::Continue(())
    }

    // After the factor's children: the subquery it becomes is not visited
    // again.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let Some(derived) = spark_range(factor) {
            *factor = derived;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                mark_duplicate_columns(&mut cte.alias.columns);
            }
        }
        minus_as_except(&mut query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(cast) = cast_function(expr) {
            *expr = cast;
        }
        match expr {
            Expr::Cast { data_type, .. } => spark_type(data_type),
            Expr::TypedString(t) => spark_type(&mut t.data_type),
            _ => {}
        }
        replace_without_replacement(expr);
        unit_argument(expr);
        crate::spark_window::filter_as_case(expr);
        crate::spark_generator::explode_as_unnest(expr);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        crate::spark_using::using_join_columns(select);
        crate::spark_window::inline_named_windows(select);
        crate::spark_generator::lateral_views_as_unnest(select);
        crate::spark_generator::name_explode_items(select);
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        having_as_boolean(select);
        name_select_items(select);
        ControlFlow::Continue(())
    }
}

/// Spark's `range(end)`, `range(start, end[, step[, partitions]])` table:
/// DataFusion's `range` with its column named `id`, as Spark names it.
fn spark_range(factor: &TableFactor) -> Option<TableFactor> {
    let TableFactor::Table {
        name, alias, args, ..
    } = factor
    else {
        return None;
    };
    let args = args.as_ref()?;
    let ident = name.0.first()?.as_ident()?;
    if name.0.len() != 1
        || ident.quote_style.is_some()
        || !ident.value.eq_ignore_ascii_case("range")
    {
        return None;
    }
    if args.args.is_empty() || args.args.len() > 4 {
        return None;
    }
    let bounds: Vec<String> = args.args.iter().take(3).map(|a| a.to_string()).collect();
    let sql = format!("SELECT value AS id FROM range({})", bounds.join(", "));
    let mut stmts =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&SparkSqlDialect, &sql).ok()?;
    let Some(Statement::Query(query)) = stmts.pop() else {
        return None;
    };
    Some(TableFactor::Derived {
        lateral: false,
        subquery: query,
        alias: Some(alias.clone().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: Ident::new("range"),
            columns: vec![],
            at: None,
        })),
        sample: None,
    })
}

/// Spark's cast functions (`date(x)`, `int(x)`, `string(x)`, ...) as the
/// casts they are.
fn cast_function(expr: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{DataType as T, ExactNumberInfo, TimezoneInfo};
    let Expr::Function(f) = expr else {
        return None;
    };
    if f.name.0.len() != 1 || f.over.is_some() || f.filter.is_some() {
        return None;
    }
    let name = f.name.0.first()?.as_ident()?;
    if name.quote_style.is_some() {
        return None;
    }
    let data_type = match name.value.to_ascii_lowercase().as_str() {
        "date" => T::Date,
        "timestamp" => T::Timestamp(None, TimezoneInfo::None),
        "string" => T::String(None),
        "boolean" => T::Boolean,
        "tinyint" => T::TinyInt(None),
        "smallint" => T::SmallInt(None),
        "int" => T::Int(None),
        "bigint" => T::BigInt(None),
        "float" => T::Float(ExactNumberInfo::None),
        "double" => T::Double(ExactNumberInfo::None),
        "decimal" => T::Decimal(ExactNumberInfo::PrecisionAndScale(10, 0)),
        "binary" => T::Binary(None),
        _ => return None,
    };
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
        return None;
    };
    Some(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(arg.clone()),
        data_type,
        format: None,
        array: false,
    })
}

/// Spark's type names the planner does not know, as the types they are:
/// `BINARY` is `BYTEA`, `DEC` a `DECIMAL` (`DECIMAL(10,0)` when bare, as
/// Spark's `DECIMAL`), `TIMESTAMP_NTZ`/`TIMESTAMP_LTZ` Kiln's `TIMESTAMP`
/// (a wall-clock time in the session zone), `BYTE` a `TINYINT`.
fn spark_type(t: &mut DataType) {
    use datafusion::sql::sqlparser::ast::{ExactNumberInfo, TimezoneInfo};
    match t {
        DataType::Binary(_) | DataType::Varbinary(_) | DataType::Bytes(_) => {
            *t = DataType::Bytea;
        }
        DataType::Dec(ExactNumberInfo::None) => {
            *t = DataType::Decimal(ExactNumberInfo::PrecisionAndScale(10, 0));
        }
        DataType::Dec(info) => *t = DataType::Decimal(*info),
        // Spark's TIMESTAMP counts microseconds (years 1 to 9999).
        DataType::TimestampNtz(None) | DataType::Timestamp(None, TimezoneInfo::None) => {
            *t = DataType::Timestamp(Some(6), TimezoneInfo::None)
        }
        DataType::TimestampNtz(p) => *t = DataType::Timestamp(*p, TimezoneInfo::None),
        DataType::Custom(name, args) if args.is_empty() => {
            let name = name.to_string().to_ascii_lowercase();
            match name.as_str() {
                "byte" => *t = DataType::TinyInt(None),
                "timestamp_ltz" | "timestamp_ntz" => {
                    *t = DataType::Timestamp(Some(6), TimezoneInfo::None)
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Spark's `MINUS` is `EXCEPT`.
fn minus_as_except(body: &mut SetExpr) {
    use datafusion::sql::sqlparser::ast::SetOperator;
    if let SetExpr::SetOperation {
        op, left, right, ..
    } = body
    {
        if *op == SetOperator::Minus {
            *op = SetOperator::Except;
        }
        minus_as_except(left);
        minus_as_except(right);
    }
}

/// Spark's two-argument `replace(str, search)` removes `search`.
fn replace_without_replacement(expr: &mut Expr) {
    let Expr::Function(f) = expr else {
        return;
    };
    let is_replace = called(f).is_some_and(|n| n.eq_ignore_ascii_case("replace"));
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if is_replace && list.args.len() == 2 {
        list.args
            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                Value::SingleQuotedString(String::new()),
            ))));
    }
}

/// Spark's grammar takes the unit of `timestampadd`, `timestampdiff`,
/// `dateadd`, `date_add`, `datediff`, `date_diff` and `timediff` as a bare
/// word; a quoted unit (`timestampadd('MONTH', 1, ts)`) is a syntax error
/// there. `Err` names the function.
pub fn check_quoted_units(stmt: &DFStatement) -> Result<(), String> {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Check;
    impl Visitor for Check {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            let Expr::Function(f) = expr else {
                return ControlFlow::Continue(());
            };
            let Some(name) = called(f) else {
                return ControlFlow::Continue(());
            };
            let FunctionArguments::List(list) = &f.args else {
                return ControlFlow::Continue(());
            };
            if takes_unit(name) && list.args.len() == 3 {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) = &list.args[0] {
                    if matches!(
                        v.value,
                        Value::SingleQuotedString(_) | Value::DoubleQuotedString(_)
                    ) {
                        return ControlFlow::Break(format!(
                            "[PARSE_SYNTAX_ERROR] Syntax error at or near '{}': the unit of \
                             `{}` is a bare word (`{}(MONTH, ...)`), not a string",
                            v, name, name
                        ));
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let flow = match stmt {
        DFStatement::Statement(s) => s.visit(&mut Check),
        DFStatement::CopyTo(c) => match &c.source {
            CopyToSource::Query(q) => q.visit(&mut Check),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(e) => return check_quoted_units(&e.statement),
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn takes_unit(function: &str) -> bool {
    matches!(
        function.to_ascii_lowercase().as_str(),
        "timestampadd"
            | "dateadd"
            | "date_add"
            | "timestampdiff"
            | "datediff"
            | "date_diff"
            | "timediff"
    )
}

/// Spark casts a `HAVING` condition that is not a predicate (`HAVING
/// sum(v) + 1`) to BOOLEAN; DataFusion refuses it.
fn having_as_boolean(select: &mut Select) {
    use datafusion::sql::sqlparser::ast::BinaryOperator as B;
    let Some(h) = select.having.as_mut() else {
        return;
    };
    let arithmetic = match h {
        Expr::BinaryOp { op, .. } => matches!(
            op,
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo | B::MyIntegerDivide
        ),
        Expr::Function(_) | Expr::Value(_) => true,
        _ => false,
    };
    if arithmetic {
        *h = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(h.clone()),
            data_type: DataType::Boolean,
            format: None,
            array: false,
        };
    }
}

/// The bare unit of Spark's `timestampadd(MONTH, n, ts)`, `datediff(DAY, a,
/// b)` and their synonyms as the string the functions take: Spark's grammar
/// reads the unit as a keyword, the parser as a column.
fn unit_argument(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::Value;
    let Expr::Function(f) = expr else {
        return;
    };
    let takes_unit = called(f).is_some_and(takes_unit);
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if !takes_unit || list.args.len() != 3 {
        return;
    }
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(first)) = &mut list.args[0] else {
        return;
    };
    let Expr::Identifier(unit) = first else {
        return;
    };
    let is_unit = matches!(
        unit.value.to_ascii_uppercase().as_str(),
        "YEAR"
            | "QUARTER"
            | "MONTH"
            | "WEEK"
            | "DAY"
            | "DAYOFYEAR"
            | "HOUR"
            | "MINUTE"
            | "SECOND"
            | "MILLISECOND"
            | "MICROSECOND"
    );
    if is_unit {
        *first = Expr::value(Value::SingleQuotedString(unit.value.to_ascii_uppercase()));
    }
}

/// Gives each unaliased, computed select item of `select` Spark's name for
/// it, and every item whose name an earlier item already has (compared as
/// Spark does, ignoring case) that name with a hidden suffix: Spark allows
/// duplicate names, DataFusion does not ([`crate::spark_names`]).
fn name_select_items(select: &mut Select) {
    let mut names = NameList::default();
    for item in &mut select.projection {
        let (expr, name) = match item {
            SelectItem::ExprWithAlias { alias, .. } => {
                claim_ident(&mut names, alias);
                continue;
            }
            SelectItem::UnnamedExpr(expr) => match spark_name(expr) {
                Some(name) => (expr, name),
                None => continue,
            },
            _ => continue,
        };
        let alias = match names.claim(&name) {
            Some(marked) => marked,
            // A column keeps its own name without an alias.
            None if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => continue,
            None => name,
        };
        let expr = std::mem::replace(expr, Expr::value(Value::Null));
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('`', alias),
        };
    }
}

/// Gives the second and later of equal names in a column alias list
/// (`WITH t(x, x) AS ...`, `(...) AS t(a, a)`) a hidden suffix, as
/// [`name_select_items`] does for select items.
fn mark_duplicate_columns(columns: &mut [TableAliasColumnDef]) {
    let mut names = NameList::default();
    for c in columns {
        claim_ident(&mut names, &mut c.name);
    }
}

/// `ident` renamed to its duplicate's name when `names` has it already.
fn claim_ident(names: &mut NameList, ident: &mut Ident) {
    if let Some(marked) = names.claim(&ident.value) {
        ident.value = marked;
        ident.quote_style = Some('`');
    }
}

/// Test helper: the one statement of `sql`, parsed as a job is and
/// rewritten, as text.
#[cfg(test)]
pub(crate) fn rewritten(sql: &str) -> String {
    let mut stmts = crate::sql::parse_job(sql, "spark", "test").expect("parses");
    rewrite(&mut stmts[0].statement);
    stmts[0].statement.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmts = Parser::parse_sql(&SparkSqlDialect, sql).unwrap();
        let mut stmt = DFStatement::Statement(Box::new(stmts.remove(0)));
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn unaliased_items_get_sparks_names() {
        let out = rewritten(
            "SELECT k, t.v, count(*), SUM(t.V), a + b * 2, -1, x IS NULL, CAST(x AS INT), \
             count(DISTINCT k), 'lit', c AS named FROM t",
        );
        for want in [
            "count(*) AS `count(1)`",
            "SUM(t.V) AS `sum(v)`",
            "a + b * 2 AS `(a + (b * 2))`",
            "-1 AS `-1`",
            "x IS NULL AS `(x IS NULL)`",
            "CAST(x AS INT) AS `CAST(x AS INT)`",
            "count(DISTINCT k) AS `count(DISTINCT k)`",
            "'lit' AS `lit`",
            "c AS named",
        ] {
            assert!(out.contains(want), "missing `{want}` in {out}");
        }
        assert!(out.starts_with("SELECT k, t.v, "), "{out}");
    }

    #[test]
    fn a_name_already_taken_is_marked_as_a_duplicate() {
        use crate::spark_names::{display_name, mark_duplicate};
        let out = rewritten("SELECT count(*), count(1), 1 AS `count(1)`, k, t.K, x AS k FROM t");
        for want in [
            "count(*) AS `count(1)`".to_string(),
            format!("count(1) AS `{}`", mark_duplicate("count(1)", 1)),
            format!("1 AS `{}`", mark_duplicate("count(1)", 2)),
            format!("t.K AS `{}`", mark_duplicate("k", 3)),
            format!("x AS `{}`", mark_duplicate("k", 4)),
        ] {
            assert!(out.contains(&want), "missing `{want}` in {out}");
        }
        assert_eq!(display_name(&mark_duplicate("count(1)", 2)), "count(1)");
        let out = rewritten("WITH q(x, X) AS (SELECT 1, 2) SELECT * FROM q");
        assert!(out.contains(&mark_duplicate("X", 1)), "{out}");
    }

    #[test]
    fn spark_forms_the_planner_lacks() {
        let out = rewritten(
            "SELECT CAST(a AS BINARY), CAST(b AS DEC), CAST(c AS TIMESTAMP_NTZ), replace(s, 'b') FROM t MINUS SELECT 1, 2, 3, 4",
        );
        for want in [
            "AS BYTEA",
            "AS DECIMAL(10,0)",
            "AS TIMESTAMP",
            "replace(s, 'b', '')",
            "EXCEPT",
        ] {
            assert!(out.contains(want), "missing `{want}` in {out}");
        }
    }

    #[test]
    fn quoted_units_are_syntax_errors() {
        let parse = |sql: &str| crate::sql::parse_job(sql, "spark", "test").map(|_| ());
        assert!(parse("SELECT timestampadd(MONTH, 1, ts) FROM t").is_ok());
        let err = parse("SELECT timestampadd('MONTH', 1, ts) FROM t").unwrap_err();
        assert!(err.to_string().contains("PARSE_SYNTAX_ERROR"), "{err}");
        assert!(parse("SELECT date_add('2011-11-11', 1)").is_ok());
    }

    #[test]
    fn typed_literals_become_casts_outside_strings() {
        let out = rewrite_literals(
            "SELECT 1e300, 1L, 2.5D, 12BD + 0.5bd, 3Y, 'x 1L', -- 9L\n timestamp_ntz'2020-01-01'",
        );
        assert_eq!(
            out,
            "SELECT CAST('1e300' AS DOUBLE), 1L, CAST(2.5 AS DOUBLE), CAST(12 AS DECIMAL(2, 0)) + CAST(0.5 AS DECIMAL(1, 1)), CAST(3 AS TINYINT), 'x 1L', -- 9L\n TIMESTAMP '2020-01-01'"
        );
        assert!(matches!(rewrite_literals("SELECT 1 L"), Cow::Borrowed(_)));
    }

    #[test]
    fn inline_tables_take_the_parsers_form() {
        assert_eq!(
            rewrite_inline_tables("select * from values 1, 2 + 1, 3 as data(a) where a > 1"),
            "select * from (VALUES (1), (2 + 1), (3)) AS data(a) where a > 1"
        );
        assert_eq!(
            rewrite_inline_tables(
                "CREATE OR REPLACE TEMPORARY VIEW t1 AS VALUES (1, 'a'), (2, 'b') tbl(c1, c2)"
            ),
            "CREATE OR REPLACE TEMPORARY VIEW t1 AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS tbl(c1, c2)"
        );
        assert_eq!(
            rewrite_inline_tables("CREATE VIEW p1 AS VALUES 1 T(col)"),
            "CREATE VIEW p1 AS SELECT * FROM (VALUES (1)) AS T(col)"
        );
        for untouched in [
            "INSERT INTO t VALUES (1, 2)",
            "SELECT * FROM VALUES (1, 2) AS t(a, b)",
            "VALUES (1), (2)",
            "SELECT * FROM (VALUES (1)) t",
        ] {
            assert_eq!(rewrite_inline_tables(untouched), untouched);
        }
    }

    #[test]
    fn range_has_sparks_column() {
        let out = rewritten("SELECT id FROM range(3) JOIN range(1, 9, 2) AS r ON true");
        assert!(
            out.contains("(SELECT value AS id FROM range(3)) AS range"),
            "{out}"
        );
        assert!(
            out.contains("(SELECT value AS id FROM range(1, 9, 2)) AS r"),
            "{out}"
        );
    }

    #[test]
    fn date_units_are_strings() {
        assert_eq!(
            rewritten("SELECT dateadd(MICROSECOND, 1, ts) AS a, datediff(day, a, b) AS b, date_add(d, 1) AS c FROM t"),
            "SELECT dateadd('MICROSECOND', 1, ts) AS a, datediff('DAY', a, b) AS b, date_add(d, 1) AS c FROM t"
        );
        // A column that is not a unit stays a column.
        assert!(rewritten("SELECT timestampadd(n, 1, ts) AS x FROM t")
            .contains("timestampadd(n, 1, ts)"));
    }

    #[test]
    fn cast_functions_are_casts() {
        let out = rewritten("SELECT date('2020-01-01') AS d, int(x) AS i FROM t");
        assert!(out.contains("CAST('2020-01-01' AS DATE) AS d"), "{out}");
        assert!(out.contains("CAST(x AS INT) AS i"), "{out}");
    }

    #[test]
    fn temporary_views_and_inline_tables() {
        let out = rewritten("CREATE OR REPLACE TEMPORARY VIEW v AS SELECT * FROM VALUES (1, 2)");
        assert!(out.starts_with("CREATE OR REPLACE VIEW v"), "{out}");
        assert!(out.contains("__values (col1, col2)"), "{out}");
        let named = rewritten("SELECT * FROM VALUES (1, 2) AS t(a, b)");
        assert!(named.contains("t (a, b)"), "{named}");
    }
}
