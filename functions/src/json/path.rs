//! Spark's JSON paths (`$.a.b`, `$['a']`, `$[0]`, `$[*].f`, `$.*`), as
//! `get_json_object` and `variant_get` read them.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A field of an object.
    Field(String),
    /// An element of an array (from 0).
    Index(usize),
    /// Every element of an array (or value of an object).
    Any,
}

/// Parses a path; `None` when it is not one (Spark's answer is then NULL).
pub fn parse(path: &str) -> Option<Vec<Step>> {
    let rest = path.strip_prefix('$')?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = vec![];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'*') {
                    steps.push(Step::Any);
                    i += 1;
                    continue;
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::Any);
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Field(q.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Whether the path has a wildcard (its matches are then a list).
pub fn has_wildcard(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s, Step::Any))
}

/// Every value the path reaches in `v`, in document order.
pub fn select<'v>(v: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (step, v) {
        (Step::Field(name), Value::Object(o)) => {
            if let Some(x) = o.get(name) {
                select(x, rest, out);
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(x) = a.get(*i) {
                select(x, rest, out);
            }
        }
        (Step::Any, Value::Array(a)) => {
            for x in a {
                select(x, rest, out);
            }
        }
        (Step::Any, Value::Object(o)) => {
            for x in o.values() {
                select(x, rest, out);
            }
        }
        _ => {}
    }
}

/// `get_json_object`'s answer for `doc` at `steps`: a string value bare,
/// any other value as JSON; with a wildcard, one match as JSON and several
/// as a JSON array.
pub fn get_json_object(doc: &Value, steps: &[Step]) -> Option<String> {
    let mut found = vec![];
    select(doc, steps, &mut found);
    if has_wildcard(steps) {
        return match found.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
        };
    }
    match found.first() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_select_as_spark() {
        let doc: Value = serde_json::from_str(r#"[{"f1":"v1"},{"f1":"v2","f2":[1,2]}]"#).unwrap();
        let get = |p: &str| get_json_object(&doc, &parse(p).unwrap());
        assert_eq!(get("$[0].f1").as_deref(), Some("v1"));
        assert_eq!(get("$[*].f1").as_deref(), Some(r#"["v1","v2"]"#));
        assert_eq!(get("$[*].f2").as_deref(), Some("[1,2]"));
        assert_eq!(get("$[1]['f2'][1]").as_deref(), Some("2"));
        assert_eq!(get("$[2]"), None);
        assert!(parse("a.b").is_none());
    }
}
