//! Parsing a job into statements, and resolving identifiers the way Spark
//! SQL does by default: case-insensitively, keeping the data's spelling.
//!
//! DataFusion lower-cases unquoted identifiers, so a Parquet column
//! `PULocationID` could only be reached as `"PULocationID"`. Before planning
//! each statement, [`resolve_identifiers`] looks every unquoted column name up
//! (ignoring case) among the columns of the registered tables and the aliases
//! the statement defines, and replaces it with the quoted, correctly spelled
//! name. Names that match nothing, or more than one spelling, are left to
//! DataFusion's usual rules (and so to its error messages).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{Expr, Ident, Select, SelectItem, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::error::{KilnError, Result};

/// One statement of a job, with where it starts in the job's text.
#[derive(Debug, Clone)]
pub struct JobStatement {
    /// The parsed statement.
    pub statement: Statement,
    /// 1-based line of the job text where the statement starts.
    pub line: u64,
}

/// Splits and parses the job's SQL. `origin` names the text in errors.
pub fn parse_job(sql: &str, dialect: &str, origin: &str) -> Result<Vec<JobStatement>> {
    let spark = dialect.eq_ignore_ascii_case("spark") || dialect.eq_ignore_ascii_case("sparksql");
    let dialect: Box<dyn datafusion::sql::sqlparser::dialect::Dialect> = if spark {
        Box::new(crate::spark_dialect::KilnSparkDialect)
    } else {
        dialect_from_str(dialect)
            .ok_or_else(|| KilnError::Sql(format!("unknown SQL dialect `{dialect}`")))?
    };
    let rewritten;
    let sql = if spark {
        let literals = crate::spark_sql::rewrite_literals(sql);
        rewritten = crate::spark_sql::rewrite_inline_tables(&literals).into_owned();
        rewritten.as_str()
    } else {
        sql
    };
    let mut parser = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .build()
        .map_err(|e| KilnError::Sql(format!("{origin}: {}", clean_parse_error(&e.to_string()))))?;
    let stmts = if spark {
        parse_spark_statements(&mut parser)
    } else {
        parser.parse_statements().map(Vec::from)
    }
    .map_err(|e| KilnError::Sql(format!("{origin}: {}", clean_parse_error(&e.to_string()))))?;
    if stmts.is_empty() {
        return Err(KilnError::Sql(format!("{origin}: no SQL statement found")));
    }
    if spark {
        for s in &stmts {
            crate::spark_sql::check_quoted_units(s)
                .map_err(|e| KilnError::Sql(format!("{origin}: {e}")))?;
        }
    }
    Ok(stmts
        .into_iter()
        .map(|s| {
            let line = statement_line(&s);
            JobStatement { statement: s, line }
        })
        .collect())
}

/// DataFusion's statement loop, with Spark's `CREATE TABLE` read by
/// [`crate::spark_ddl`] (sqlparser knows only part of it).
fn parse_spark_statements(
    parser: &mut datafusion::sql::parser::DFParser,
) -> std::result::Result<Vec<Statement>, datafusion::error::DataFusionError> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let mut stmts = vec![];
    let mut expecting_delimiter = false;
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        let next = parser.parser.peek_token();
        if next.token == Token::EOF {
            return Ok(stmts);
        }
        if expecting_delimiter {
            return Err(datafusion::error::DataFusionError::SQL(
                Box::new(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(format!(
                        "Expected: end of statement, found: {next}{}",
                        next.span.start
                    )),
                ),
                None,
            ));
        }
        if crate::spark_ddl::at_create_table(&parser.parser)
            || crate::spark_ddl::at_create_view_using(&parser.parser)
        {
            let st = crate::spark_ddl::parse_create_table(&mut parser.parser)
                .map_err(|e| datafusion::error::DataFusionError::SQL(Box::new(e), None))?;
            stmts.push(Statement::Statement(Box::new(st)));
        } else {
            stmts.push(parser.parse_statement()?);
        }
        expecting_delimiter = true;
    }
}

fn statement_line(s: &Statement) -> u64 {
    use datafusion::sql::sqlparser::ast::Spanned;
    match s {
        Statement::Statement(st) => st.span().start.line,
        _ => 0,
    }
}

fn clean_parse_error(msg: &str) -> String {
    let m = msg.strip_prefix("SQL error: ").unwrap_or(msg);
    let m = m.strip_prefix("ParserError(\"").unwrap_or(m);
    let m = m.strip_suffix("\")").unwrap_or(m);
    format!("SQL syntax error: {m}")
}

/// A case-insensitive dictionary of the names a statement may refer to.
#[derive(Debug, Default, Clone)]
pub struct NameCatalog {
    spellings: HashMap<String, HashSet<String>>,
}

impl NameCatalog {
    /// Adds a name as spelled in the data or the query.
    pub fn add(&mut self, name: &str) {
        self.spellings
            .entry(name.to_lowercase())
            .or_default()
            .insert(name.to_string());
    }

    /// The one spelling of `name` (ignoring case), if it is unambiguous.
    pub fn resolve(&self, name: &str) -> Option<&str> {
        let set = self.spellings.get(&name.to_lowercase())?;
        if set.len() == 1 {
            set.iter().next().map(String::as_str)
        } else {
            None
        }
    }
}

/// Readies a parsed statement for DataFusion's planner: identifiers
/// resolved against `names` ([`resolve_identifiers`]), then Spark's forms
/// rewritten into DataFusion's ([`crate::spark_sql::rewrite`]). Every path
/// that plans SQL (a manifest, `spark.sql`) goes through here.
pub fn prepare(stmt: &mut Statement, names: &NameCatalog) {
    resolve_identifiers(stmt, names);
    crate::spark_sql::rewrite(stmt);
}

/// Runs `sql` on `ctx` in this process: each statement parsed and prepared
/// as a job's are (Spark's dialect, literals and rewrites; no catalog
/// names), planned and collected, without a split into stages. The
/// batches of each statement, in order; `origin` names the text in errors.
pub async fn run_local(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    origin: &str,
) -> Result<Vec<Vec<arrow::array::RecordBatch>>> {
    let mut out = vec![];
    for mut js in parse_job(sql, "spark", origin)? {
        prepare(&mut js.statement, &NameCatalog::default());
        let plan = ctx.state().statement_to_plan(js.statement).await?;
        out.push(ctx.execute_logical_plan(plan).await?.collect().await?);
    }
    Ok(out)
}

/// Rewrites unquoted identifiers of `stmt` to their spelling in `names`,
/// and keeps the spelling of the aliases the statement defines (Spark does).
pub fn resolve_identifiers(stmt: &mut Statement, names: &NameCatalog) {
    let mut names = names.clone();
    visit(stmt, &mut AliasCollector { names: &mut names });
    visit(stmt, &mut Resolver { names: &names });
    if let Statement::CopyTo(c) = stmt {
        // DataFusion takes `PARTITIONED BY` names literally, quotes included.
        for p in &mut c.partitioned_by {
            let bare = p.trim_matches(|ch| ch == '"' || ch == '`');
            let resolved = names.resolve(bare).unwrap_or(bare).to_string();
            *p = resolved;
        }
    }
}

fn visit<V: VisitorMut<Break = ()>>(stmt: &mut Statement, v: &mut V) {
    let _ = match stmt {
        Statement::Statement(s) => s.visit(v),
        Statement::CopyTo(c) => match &mut c.source {
            CopyToSource::Query(q) => q.visit(v),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        Statement::Explain(e) => {
            visit(&mut e.statement, v);
            ControlFlow::Continue(())
        }
        Statement::CreateExternalTable(_) | Statement::Reset(_) => ControlFlow::Continue(()),
    };
}

struct AliasCollector<'a> {
    names: &'a mut NameCatalog,
}

impl VisitorMut for AliasCollector<'_> {
    type Break = ();
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                if alias.quote_style.is_none() && alias.value != alias.value.to_lowercase() {
                    self.names.add(&alias.value);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

struct Resolver<'a> {
    names: &'a NameCatalog,
}

impl Resolver<'_> {
    fn fix(&self, ident: &mut Ident) {
        if ident.quote_style.is_some() {
            return;
        }
        if let Some(spelling) = self.names.resolve(&ident.value) {
            if spelling != spelling.to_lowercase() {
                ident.value = spelling.to_string();
                ident.quote_style = Some('`');
            }
        }
    }
}

impl VisitorMut for Resolver<'_> {
    type Break = ();
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                self.fix(alias);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.fix(ident),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                if let Some(last) = parts.last_mut() {
                    self.fix(last);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str, cols: &[&str]) -> String {
        let mut names = NameCatalog::default();
        for c in cols {
            names.add(c);
        }
        let mut stmts = parse_job(sql, "generic", "test").unwrap();
        resolve_identifiers(&mut stmts[0].statement, &names);
        stmts[0].statement.to_string()
    }

    #[test]
    fn mixed_case_columns_resolve() {
        let out = rewrite(
            "SELECT pulocationid, t.DOLocationID, count(*) AS Trips FROM trips t GROUP BY PULOCATIONID, 2 ORDER BY trips",
            &["PULocationID", "DOLocationID", "fare"],
        );
        assert!(out.contains("`PULocationID`"), "{out}");
        assert!(out.contains("t.`DOLocationID`"), "{out}");
        assert!(out.contains("AS `Trips`"), "{out}");
        assert!(out.contains("ORDER BY `Trips`"), "{out}");
        assert!(!out.contains("PULOCATIONID"), "{out}");
    }

    #[test]
    fn ambiguous_and_quoted_are_left_alone() {
        let out = rewrite("SELECT ab, \"Cd\" FROM t", &["Ab", "AB", "CD"]);
        assert!(out.contains("SELECT ab, \"Cd\""), "{out}");
    }

    #[test]
    fn copy_partition_columns_are_unquoted_and_resolved() {
        let mut names = NameCatalog::default();
        names.add("Zone");
        let mut stmts = parse_job(
            "COPY (SELECT 1) TO 'x/' STORED AS PARQUET PARTITIONED BY (\"a\", zone)",
            "generic",
            "t",
        )
        .unwrap();
        resolve_identifiers(&mut stmts[0].statement, &names);
        match &stmts[0].statement {
            Statement::CopyTo(c) => {
                assert_eq!(c.partitioned_by, vec!["a".to_string(), "Zone".to_string()])
            }
            other => panic!("not a COPY: {other}"),
        }
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse_job("SELECT 1;\nSELEC 2", "generic", "job.sql")
            .unwrap_err()
            .to_string();
        assert!(e.contains("job.sql") && e.contains("Line: 2"), "{e}");
    }
}
