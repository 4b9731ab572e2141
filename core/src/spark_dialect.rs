//! The SQL dialect Kiln parses Spark SQL with: sqlparser's Spark dialect,
//! plus the string escapes Spark reads.
//!
//! Spark unescapes backslash sequences in string literals (`'\t'` is a
//! tab, `'\\'` one backslash, `'it\'s'` a quote), except `\%` and `\_`,
//! which keep their backslash for `LIKE`. sqlparser's Spark dialect reads
//! a backslash as a plain character, so `cast(' 1\t' AS INT)` saw the two
//! characters `\` and `t`. [`KilnSparkDialect`] is that dialect with
//! backslash escapes on; it reports itself as the Spark dialect so the
//! parser's dialect checks treat it as one.

use std::any::TypeId;

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::{Dialect, SparkSqlDialect};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// Spark SQL as Kiln parses it (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct KilnSparkDialect;

const SPARK: SparkSqlDialect = SparkSqlDialect;

impl Dialect for KilnSparkDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<SparkSqlDialect>()
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }

    fn ignores_wildcard_escapes(&self) -> bool {
        true
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        SPARK.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        SPARK.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        SPARK.is_identifier_part(ch)
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        SPARK.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        SPARK.supports_group_by_expr()
    }

    fn supports_group_by_with_modifier(&self) -> bool {
        SPARK.supports_group_by_with_modifier()
    }

    fn supports_lambda_functions(&self) -> bool {
        SPARK.supports_lambda_functions()
    }

    fn supports_select_wildcard_except(&self) -> bool {
        SPARK.supports_select_wildcard_except()
    }

    fn supports_struct_literal(&self) -> bool {
        SPARK.supports_struct_literal()
    }

    fn supports_nested_comments(&self) -> bool {
        SPARK.supports_nested_comments()
    }

    fn supports_create_table_using(&self) -> bool {
        SPARK.supports_create_table_using()
    }

    fn supports_long_type_as_bigint(&self) -> bool {
        SPARK.supports_long_type_as_bigint()
    }

    fn supports_values_as_table_factor(&self) -> bool {
        SPARK.supports_values_as_table_factor()
    }

    fn require_interval_qualifier(&self) -> bool {
        SPARK.require_interval_qualifier()
    }

    fn supports_bang_not_operator(&self) -> bool {
        SPARK.supports_bang_not_operator()
    }

    fn supports_select_item_multi_column_alias(&self) -> bool {
        SPARK.supports_select_item_multi_column_alias()
    }

    fn supports_cte_without_as(&self) -> bool {
        SPARK.supports_cte_without_as()
    }

    fn supports_map_literal_with_angle_brackets(&self) -> bool {
        SPARK.supports_map_literal_with_angle_brackets()
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        SPARK.parse_infix(parser, expr, precedence)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

    use super::*;

    fn string(sql: &str) -> String {
        let tokens = Tokenizer::new(&KilnSparkDialect, sql).tokenize().unwrap();
        match &tokens[0] {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            t => panic!("not a string: {t:?}"),
        }
    }

    #[test]
    fn backslash_escapes_are_read_as_spark_reads_them() {
        assert_eq!(string(r"' 1\t'"), " 1\t");
        assert_eq!(string(r"'it\'s'"), "it's");
        assert_eq!(string(r"'a\\b'"), r"a\b");
        assert_eq!(string(r"'100\%'"), r"100\%");
        assert_eq!(string(r#""\"q\"""#), "\"q\"");
    }
}
