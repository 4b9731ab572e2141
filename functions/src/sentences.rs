//! Spark's `sentences(str[, lang[, country]])`: the text split into
//! sentences, each a list of its words, punctuation left out.
//!
//! Spark splits with Java's `BreakIterator` for the locale; Kiln splits
//! sentences after `.`, `!` or `?` followed by a space or the end, and
//! words at anything but letters, digits and an apostrophe or period
//! inside a word (`don't`, `3.5`), the same answer for ordinary prose in
//! any locale.

use std::sync::Arc;

use arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded::{self, is_text};

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(Sentences, "sentences")])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sentences;

/// The sentences of `text`, each its words.
fn sentences(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut words: Vec<String> = vec![];
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let inside = |n: Option<char>| n.is_some_and(char::is_alphanumeric);
        if c.is_alphanumeric() || ((c == '\'' || c == '.') && !word.is_empty() && inside(next)) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        let ends = matches!(c, '.' | '!' | '?') && next.is_none_or(char::is_whitespace);
        if ends && !words.is_empty() {
            out.push(std::mem::take(&mut words));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    if !words.is_empty() {
        out.push(words);
    }
    out
}

impl kinded::Kind for Sentences {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if (1..=3).contains(&arg_types.len()) && arg_types.iter().all(is_text) {
            Ok(vec![DataType::Utf8; arg_types.len()])
        } else {
            plan_err!("sentences takes a string and an optional language and country, got ({arg_types:?})")
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        let words = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        Ok(DataType::List(Arc::new(Field::new_list_field(words, true))))
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let s = cast(&a.arrays[0], &DataType::Utf8)?;
        let s = s.as_string::<i32>();
        let mut out = ListBuilder::new(ListBuilder::new(StringBuilder::new()));
        for row in 0..a.rows {
            if s.is_null(row) {
                out.append_null();
                continue;
            }
            for sentence in sentences(s.value(row)) {
                for w in sentence {
                    out.values().values().append_value(w);
                }
                out.values().append(true);
            }
            out.append(true);
        }
        a.answer(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_and_words() {
        assert_eq!(
            sentences("This is an example sentence."),
            vec![vec!["This", "is", "an", "example", "sentence"]]
        );
        assert_eq!(
            sentences("Hi there! Don't stop, it's 3.5 now"),
            vec![
                vec!["Hi", "there"],
                vec!["Don't", "stop", "it's", "3.5", "now"]
            ]
        );
    }
}
