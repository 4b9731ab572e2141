//! The whole-name matcher of `df.colRegex`: Spark matches column names with
//! Java regexes, Kiln with the `regex` crate, which has no possessive
//! quantifiers. PySpark's own example (`` `(Col1)?+.+` ``: every column but
//! `Col1`) uses one at the start of the pattern, so a possessive quantifier
//! on the pattern's first atom is emulated exactly: the atom's preferred
//! match is taken (repeatedly for `*+`/`++`) and never given back, then
//! the rest must match what is left. A possessive quantifier elsewhere is
//! refused with a clear error.

use regex::Regex;

use crate::error::{ConnectError, Result};

/// A compiled `colRegex` pattern.
#[derive(Debug)]
pub struct ColRegex {
    /// The possessive first atom (anchored at the start) and its quantifier.
    head: Option<(Regex, char)>,
    /// The rest of the pattern, which must match the rest of the name.
    rest: Regex,
}

impl ColRegex {
    /// Compiles `pattern` (case-insensitive, as Spark's default).
    pub fn new(pattern: &str) -> Result<Self> {
        let body = pattern.strip_prefix('^').unwrap_or(pattern);
        let (head, rest) = match split_possessive_head(body) {
            Some((atom, quantifier, rest)) => (
                Some((compile(pattern, &format!("^(?:{atom})"))?, quantifier)),
                rest,
            ),
            None => (None, body),
        };
        let rest = rest.strip_suffix('$').unwrap_or(rest);
        if has_possessive(rest) {
            return Err(ConnectError::Unsupported(format!(
                "colRegex `{pattern}`: a possessive quantifier other than on the pattern's \
                 first atom"
            )));
        }
        Ok(ColRegex {
            head,
            rest: compile(pattern, &format!("^(?:{rest})$"))?,
        })
    }

    /// Whether the whole of `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        let Some((atom, quantifier)) = &self.head else {
            return self.rest.is_match(name);
        };
        let mut at = 0;
        let mut times = 0;
        while let Some(m) = atom.find(&name[at..]) {
            if m.end() == 0 && times > 0 {
                break;
            }
            at += m.end();
            times += 1;
            if *quantifier == '?' || m.end() == 0 {
                break;
            }
        }
        if *quantifier == '+' && times == 0 {
            return false;
        }
        self.rest.is_match(&name[at..])
    }
}

fn compile(pattern: &str, regex: &str) -> Result<Regex> {
    Regex::new(&format!("(?i){regex}")).map_err(|e| {
        ConnectError::IllegalArgument(format!("colRegex: `{pattern}` is not a valid regex: {e}"))
    })
}

/// Whether `pattern` has a possessive quantifier (`?+`, `*+`, `++`, `{n}+`)
/// outside escapes and character classes; the `regex` crate would read it
/// as a repetition of a repetition.
fn has_possessive(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '?' | '*' | '+' | '}' if !in_class && chars.peek() == Some(&'+') => return true,
            _ => {}
        }
    }
    false
}

/// `(atom, quantifier, rest)` when `pattern` starts with an atom (a group,
/// a character class, an escape or one character) quantified possessively.
fn split_possessive_head(pattern: &str) -> Option<(&str, char, &str)> {
    let bytes = pattern.as_bytes();
    let end = match *bytes.first()? {
        b'(' => {
            let mut depth = 0usize;
            let mut i = 0;
            let mut in_class = false;
            loop {
                match *bytes.get(i)? {
                    b'\\' => i += 1,
                    b'[' if !in_class => in_class = true,
                    b']' if in_class => in_class = false,
                    b'(' if !in_class => depth += 1,
                    b')' if !in_class => {
                        depth -= 1;
                        if depth == 0 {
                            break i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        b'[' => {
            let mut i = 1;
            if bytes.get(i) == Some(&b'^') {
                i += 1;
            }
            if bytes.get(i) == Some(&b']') {
                i += 1;
            }
            loop {
                match *bytes.get(i)? {
                    b'\\' => i += 1,
                    b']' => break i + 1,
                    _ => {}
                }
                i += 1;
            }
        }
        b'\\' => 1 + pattern[1..].chars().next()?.len_utf8(),
        _ => pattern.chars().next()?.len_utf8(),
    };
    let rest = pattern.get(end..)?;
    let quantifier = rest.chars().next()?;
    if !matches!(quantifier, '?' | '*' | '+') || rest.as_bytes().get(1) != Some(&b'+') {
        return None;
    }
    Some((&pattern[..end], quantifier, &rest[2..]))
}

#[cfg(test)]
mod tests {
    use super::ColRegex;

    fn matches(pattern: &str, names: &[&str]) -> Vec<String> {
        let r = ColRegex::new(pattern).expect("a valid pattern");
        names
            .iter()
            .filter(|n| r.is_match(n))
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn a_possessive_first_atom_never_gives_back() {
        // PySpark's docstring: every column but `Col1`.
        assert_eq!(matches("(Col1)?+.+", &["Col1", "Col2"]), vec!["Col2"]);
        assert_eq!(
            matches("(name)?+.+", &["name", "names", "age"]),
            vec!["names", "age"]
        );
        assert_eq!(matches("a*+ab", &["aab", "ab", "b"]), Vec::<String>::new());
        assert_eq!(matches("[ab]++c", &["abc", "c", "abd"]), vec!["abc"]);
    }

    #[test]
    fn other_patterns_match_whole_names_case_insensitively() {
        assert_eq!(
            matches("^a.*", &["age", "Area", "name"]),
            vec!["age", "Area"]
        );
        assert_eq!(matches("a|b", &["a", "ab", "B"]), vec!["a", "B"]);
        assert!(ColRegex::new("x.*?+y").is_err());
        assert!(ColRegex::new("a[+]+").is_ok());
    }
}
