//! Spark's `CREATE TABLE` statement, parsed into sqlparser's `CreateTable`.
//!
//! sqlparser's Spark dialect knows `USING fmt` and `LOCATION` but not the
//! rest of Spark's data-source table grammar: `OPTIONS (...)`, `PARTITIONED
//! BY (names)`, `COMMENT`, `TBLPROPERTIES`, in any order, before an optional
//! `[AS] query`. [`parse_create_table`] reads all of it with sqlparser's own
//! pieces (object names, column definitions, queries) and fills in the
//! fields of `CreateTable` that carry each clause: `hive_formats` (format and
//! location), `table_options` (`OPTIONS`), `partition_by` (a tuple of the
//! partition column names) and `query`. Planning the statement is the
//! driver's (`kiln_driver::managed_table`).

use datafusion::sql::sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use datafusion::sql::sqlparser::ast::{
    ColumnDef, CreateTableOptions, Expr, HiveFormat, HiveIOFormat, Ident, SqlOption, Statement,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// Whether the parser stands at `CREATE [OR REPLACE] TABLE` (not `CREATE
/// EXTERNAL TABLE`, DataFusion's own statement, nor a view).
pub fn at_create_table(parser: &Parser) -> bool {
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let [a, b, c, d] = parser.peek_tokens::<4>();
    is(&a, Keyword::CREATE)
        && (is(&b, Keyword::TABLE)
            || (is(&b, Keyword::OR) && is(&c, Keyword::REPLACE) && is(&d, Keyword::TABLE)))
}

/// Whether the parser stands at `CREATE [OR REPLACE] [GLOBAL] TEMPORARY
/// VIEW name [(columns)] USING fmt`: Spark's view over files, parsed by
/// [`parse_create_table`] into a temporary table.
pub fn at_create_view_using(parser: &Parser) -> bool {
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let tokens = parser.peek_tokens::<8>();
    let mut i = 0;
    if !is(&tokens[i], Keyword::CREATE) {
        return false;
    }
    i += 1;
    if is(&tokens[i], Keyword::OR) && is(&tokens[i + 1], Keyword::REPLACE) {
        i += 2;
    }
    if is(&tokens[i], Keyword::GLOBAL) {
        i += 1;
    }
    if !(is(&tokens[i], Keyword::TEMPORARY) && is(&tokens[i + 1], Keyword::VIEW)) {
        return false;
    }
    // The name (one part) and then USING; a column list or a dotted name
    // leaves it to the general parser.
    matches!(tokens[i + 2], Token::Word(_)) && is(&tokens[i + 3], Keyword::USING)
}

/// Parses `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name [(columns)]
/// [USING fmt] [OPTIONS (...)] [PARTITIONED BY (...)] [LOCATION 'path']
/// [COMMENT '...'] [TBLPROPERTIES (...)] [[AS] query]`.
pub fn parse_create_table(parser: &mut Parser) -> Result<Statement, ParserError> {
    parser.expect_keyword_is(Keyword::CREATE)?;
    let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    let _ = parser.parse_keyword(Keyword::GLOBAL);
    // A view over files (`TEMPORARY VIEW ... USING`) is a temporary table.
    let temporary = parser.parse_keywords(&[Keyword::TEMPORARY, Keyword::VIEW]);
    if !temporary {
        parser.expect_keyword_is(Keyword::TABLE)?;
    }
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let mut columns = if parser.peek_token().token == Token::LParen
        && !starts_query(&parser.peek_nth_token(1).token)
    {
        parser.parse_columns()?.0
    } else {
        vec![]
    };
    let mut format = None;
    let mut location = None;
    let mut options = vec![];
    let mut partition_by: Vec<Ident> = vec![];
    loop {
        if parser.parse_keyword(Keyword::USING) {
            format = Some(parser.parse_identifier()?);
        } else if parser.parse_keyword(Keyword::OPTIONS) {
            options = parse_properties(parser)?;
        } else if parser.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
            parser.expect_token(&Token::LParen)?;
            loop {
                let column = parser.parse_identifier()?;
                // Hive's form declares the partition column here, with a type.
                if !matches!(parser.peek_token().token, Token::Comma | Token::RParen) {
                    let data_type = parser.parse_data_type()?;
                    columns.push(ColumnDef {
                        name: column.clone(),
                        data_type,
                        options: vec![],
                    });
                }
                partition_by.push(column);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
        } else if parser.parse_keyword(Keyword::LOCATION) {
            location = Some(parser.parse_literal_string()?);
        } else if parser.parse_keyword(Keyword::COMMENT) {
            parser.parse_literal_string()?;
        } else if parser.parse_keyword(Keyword::TBLPROPERTIES) {
            parse_properties(parser)?;
        } else if parser.peek_keyword(Keyword::CLUSTERED) {
            return Err(ParserError::ParserError(
                "bucketed tables (CLUSTERED BY ... INTO n BUCKETS) are not supported".into(),
            ));
        } else {
            break;
        }
    }
    let query = if parser.parse_keyword(Keyword::AS) || starts_query(&parser.peek_token().token) {
        Some(parser.parse_query()?)
    } else {
        None
    };
    let partition_by = (!partition_by.is_empty()).then(|| {
        Box::new(Expr::Tuple(
            partition_by.into_iter().map(Expr::Identifier).collect(),
        ))
    });
    let hive_formats = Some(HiveFormat {
        row_format: None,
        serde_properties: None,
        storage: format.map(|format| HiveIOFormat::Using { format }),
        location,
    });
    let table_options = if options.is_empty() {
        CreateTableOptions::None
    } else {
        CreateTableOptions::Options(options)
    };
    Ok(Statement::CreateTable(
        CreateTableBuilder::new(name)
            .or_replace(or_replace)
            .temporary(temporary)
            .if_not_exists(if_not_exists)
            .columns(columns)
            .hive_formats(hive_formats)
            .table_options(table_options)
            .partition_by(partition_by)
            .query(query)
            .build(),
    ))
}

fn starts_query(t: &Token) -> bool {
    matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES | Keyword::FROM | Keyword::TABLE))
        || *t == Token::LParen
}

/// `(key [=] value, ...)`: keys are identifiers with dots or strings,
/// values literals (Spark's `propertyList`).
fn parse_properties(parser: &mut Parser) -> Result<Vec<SqlOption>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut out = vec![];
    if parser.consume_token(&Token::RParen) {
        return Ok(out);
    }
    loop {
        let key = match parser.peek_token().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                parser.next_token();
                s
            }
            _ => {
                let mut parts = vec![parser.parse_identifier()?.value];
                while parser.consume_token(&Token::Period) {
                    parts.push(parser.parse_identifier()?.value);
                }
                parts.join(".")
            }
        };
        let _ = parser.consume_token(&Token::Eq);
        let value = Expr::Value(parser.parse_value()?);
        out.push(SqlOption::KeyValue {
            key: Ident::new(key),
            value,
        });
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(out)
}

/// The `OPTIONS` of a parsed `CREATE TABLE` as key-value text.
pub fn options_of(options: &CreateTableOptions) -> Vec<(String, String)> {
    use datafusion::sql::sqlparser::ast::Value;
    let CreateTableOptions::Options(opts) = options else {
        return vec![];
    };
    opts.iter()
        .filter_map(|o| match o {
            SqlOption::KeyValue {
                key,
                value: Expr::Value(v),
            } => Some((
                key.value.clone(),
                match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// The partition column names of a parsed `CREATE TABLE`.
pub fn partition_columns(partition_by: Option<&Expr>) -> Vec<String> {
    match partition_by {
        Some(Expr::Tuple(items)) => items
            .iter()
            .filter_map(|e| match e {
                Expr::Identifier(i) => Some(i.value.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::SparkSqlDialect;

    fn parse(sql: &str) -> datafusion::sql::sqlparser::ast::CreateTable {
        let dialect = SparkSqlDialect {};
        let mut p = Parser::new(&dialect).try_with_sql(sql).unwrap();
        assert!(at_create_table(&p), "{sql}");
        match parse_create_table(&mut p).unwrap() {
            Statement::CreateTable(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clauses_in_any_order() {
        let c = parse(
            "CREATE TABLE IF NOT EXISTS db.t (a INT, p STRING) PARTITIONED BY (p) \
             OPTIONS ('compression' 'zstd', x.y = 1) LOCATION '/data/t' USING parquet COMMENT 'c'",
        );
        assert!(c.if_not_exists);
        assert_eq!(c.name.to_string(), "db.t");
        assert_eq!(c.columns.len(), 2);
        let hf = c.hive_formats.unwrap();
        assert_eq!(hf.location.as_deref(), Some("/data/t"));
        assert!(
            matches!(hf.storage, Some(HiveIOFormat::Using { format }) if format.value == "parquet")
        );
        assert_eq!(
            options_of(&c.table_options),
            vec![
                ("compression".into(), "zstd".into()),
                ("x.y".into(), "1".into())
            ]
        );
        assert_eq!(partition_columns(c.partition_by.as_deref()), vec!["p"]);
        assert!(c.query.is_none());
    }

    #[test]
    fn ctas_with_and_without_as() {
        let c = parse("CREATE TABLE t USING parquet PARTITIONED BY (k) AS SELECT 1 AS v, 2 AS k");
        assert!(c.columns.is_empty());
        assert!(c.query.is_some());
        let c = parse("create or replace table t using json select 1");
        assert!(c.or_replace);
        assert!(c.query.is_some());
        let c = parse("CREATE TABLE t AS (SELECT 1)");
        assert!(c.query.is_some() && c.columns.is_empty());
    }

    #[test]
    fn hive_partition_columns_are_declared() {
        let c = parse("CREATE TABLE t (a INT) PARTITIONED BY (p STRING, q INT)");
        let names: Vec<_> = c.columns.iter().map(|c| c.name.value.clone()).collect();
        assert_eq!(names, ["a", "p", "q"]);
        assert_eq!(partition_columns(c.partition_by.as_deref()), ["p", "q"]);
    }

    #[test]
    fn views_over_files() {
        let dialect = SparkSqlDialect {};
        let sql = "CREATE OR REPLACE TEMPORARY VIEW v USING parquet OPTIONS (path '/d/t')";
        let mut p = Parser::new(&dialect).try_with_sql(sql).unwrap();
        assert!(at_create_view_using(&p) && !at_create_table(&p));
        let Statement::CreateTable(c) = parse_create_table(&mut p).unwrap() else {
            panic!("not a table");
        };
        assert!(c.temporary && c.or_replace);
        assert_eq!(
            options_of(&c.table_options),
            vec![("path".into(), "/d/t".into())]
        );
        let p = Parser::new(&dialect)
            .try_with_sql("CREATE TEMPORARY VIEW v AS SELECT 1")
            .unwrap();
        assert!(!at_create_view_using(&p));
    }

    #[test]
    fn not_a_table() {
        let dialect = SparkSqlDialect {};
        for sql in [
            "CREATE VIEW v AS SELECT 1",
            "CREATE EXTERNAL TABLE t STORED AS parquet LOCATION 'x'",
        ] {
            let p = Parser::new(&dialect).try_with_sql(sql).unwrap();
            assert!(!at_create_table(&p), "{sql}");
        }
        let mut p = Parser::new(&dialect)
            .try_with_sql("CREATE TABLE t USING parquet CLUSTERED BY (a) INTO 4 BUCKETS")
            .unwrap();
        let e = parse_create_table(&mut p).unwrap_err().to_string();
        assert!(e.contains("bucketed"), "{e}");
    }
}
