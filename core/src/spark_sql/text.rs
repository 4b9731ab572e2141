//! Rewrites on the text of a statement, before it is parsed: Spark's
//! literal forms the SQL parser does not know (`1L`, `1.5D`, `1e3`,
//! `timestamp_ntz'...'`), and inline tables' column names, on the tokens
//! (strings and comments stay as written).

use super::*;

/// Rewrites Spark's literal forms the SQL parser does not know into ones
/// it does, on the tokens of `sql` (strings and comments stay as written):
/// typed numbers (`1L`, `2S`, `3Y`, `1.5D`, `1.5F`, `2BD`) and numbers
/// with an exponent (`1e3`, a DOUBLE in Spark) become casts,
/// `timestamp_ltz'...'` and `timestamp_ntz'...'` become `TIMESTAMP '...'`.
/// Text that does not tokenize is returned unchanged for the parser to
/// report.
pub fn rewrite_literals(sql: &str) -> Cow<'_, str> {
    let Ok(tokens) = Tokenizer::new(&KilnSparkDialect, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let offsets = LineOffsets::new(sql);
    let mut edits: Vec<(usize, usize, String)> = vec![];
    for (i, t) in tokens.iter().enumerate() {
        // `1e3` is a DOUBLE in Spark (decimal literals are decimals).
        if let Token::Number(n, false) = &t.token {
            let suffixed = tokens
                .get(i + 1)
                .is_some_and(|b| matches!(b.token, Token::Word(_)) && b.span.start == t.span.end);
            if n.contains(['e', 'E']) && !suffixed {
                if let (Some(s), Some(e)) = (offsets.at(t.span.start), offsets.at(t.span.end)) {
                    edits.push((s, e, format!("CAST('{n}' AS DOUBLE)")));
                }
            }
        }
    }
    for pair in tokens.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let Token::Word(w) = &b.token else {
            continue;
        };
        if w.quote_style.is_some() {
            continue;
        }
        let (Some(start), Some(end)) = (offsets.at(a.span.start), offsets.at(b.span.end)) else {
            continue;
        };
        match &a.token {
            // `1L` tokenizes as a long number already.
            Token::Number(n, false) if a.span.end == b.span.start => {
                let Some(t) = suffix_type(n, &w.value) else {
                    continue;
                };
                edits.push((start, end, format!("CAST({n} AS {t})")));
            }
            _ => {}
        }
    }
    for (i, t) in tokens.iter().enumerate() {
        let Token::Word(w) = &t.token else {
            continue;
        };
        let lower = w.value.to_ascii_lowercase();
        if w.quote_style.is_some() || !(lower == "timestamp_ltz" || lower == "timestamp_ntz") {
            continue;
        }
        let next = tokens[i + 1..]
            .iter()
            .find(|n| !matches!(n.token, Token::Whitespace(_)));
        let string_next = next.is_some_and(|n| {
            matches!(
                n.token,
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)
            )
        });
        if let (true, Some(s), Some(e)) = (
            string_next,
            offsets.at(t.span.start),
            offsets.at(t.span.end),
        ) {
            edits.push((s, e, "TIMESTAMP ".into()));
        }
        // `timestamp_ntz"..."`: the typed literal takes a single-quoted string.
        if let Some(n) = next {
            if let (Token::DoubleQuotedString(text), Some(s), Some(e)) =
                (&n.token, offsets.at(n.span.start), offsets.at(n.span.end))
            {
                edits.push((s, e, format!("'{}'", text.replace('\'', "''"))));
            }
        }
    }
    if edits.is_empty() {
        return Cow::Borrowed(sql);
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, text) in edits {
        if start < at {
            continue;
        }
        out.push_str(&sql[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&sql[at..]);
    Cow::Owned(out)
}

/// Rewrites Spark's inline tables the parser does not take into the form
/// it does: rows without parentheses (`VALUES 1, 2 AS t(a)`), and an inline
/// table with an alias where a query stands (`CREATE VIEW v AS VALUES (1,
/// 'a') t(id, name)`, a statement that is only `VALUES ... t(a)`). Works on
/// tokens; text it does not understand is left for the parser to report.
pub fn rewrite_inline_tables(sql: &str) -> Cow<'_, str> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    let Ok(all) = Tokenizer::new(&KilnSparkDialect, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let sig: Vec<_> = all
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offsets = LineOffsets::new(sql);
    let text = |from: usize, to: usize| -> Option<&str> {
        let a = offsets.at(sig.get(from)?.span.start)?;
        let b = offsets.at(sig.get(to)?.span.end)?;
        sql.get(a..b)
    };
    let keyword = |i: usize| match sig.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    // Words that end an inline table rather than name it.
    let stop = |k: Keyword| {
        matches!(
            k,
            Keyword::WHERE
                | Keyword::GROUP
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::MINUS
                | Keyword::JOIN
                | Keyword::INNER
                | Keyword::LEFT
                | Keyword::RIGHT
                | Keyword::FULL
                | Keyword::CROSS
                | Keyword::NATURAL
                | Keyword::ON
                | Keyword::USING
                | Keyword::HAVING
                | Keyword::WINDOW
                | Keyword::LATERAL
                | Keyword::SELECT
                | Keyword::FROM
        )
    };
    let mut edits: Vec<(usize, usize, String)> = vec![];
    let mut i = 0;
    while i < sig.len() {
        if keyword(i) != Some(Keyword::VALUES) {
            i += 1;
            continue;
        }
        let factor = match i.checked_sub(1).map(|p| (&sig[p].token, keyword(p))) {
            Some((_, Some(Keyword::FROM | Keyword::JOIN))) => true,
            Some((_, Some(Keyword::AS))) | None => false,
            Some((Token::SemiColon, _)) => false,
            _ => {
                i += 1;
                continue;
            }
        };
        // The rows: parenthesized, or bare expressions up to a comma.
        let mut rows: Vec<String> = vec![];
        let mut bare = false;
        let mut j = i + 1;
        let mut ok = true;
        loop {
            let start = j;
            let mut depth = 0i32;
            let mut prev_operand = false;
            while let Some(t) = sig.get(j) {
                match &t.token {
                    Token::LParen => depth += 1,
                    Token::RParen if depth == 0 => break,
                    Token::RParen => depth -= 1,
                    Token::Comma | Token::SemiColon if depth == 0 => break,
                    Token::EOF => break,
                    Token::Word(_) if depth == 0 && j > start => {
                        let k = keyword(j);
                        if k == Some(Keyword::AS)
                            || k.is_some_and(stop)
                            || (prev_operand && k == Some(Keyword::NoKeyword))
                            || (prev_operand
                                && matches!(&t.token, Token::Word(w) if w.quote_style.is_some()))
                        {
                            break;
                        }
                    }
                    _ => {}
                }
                prev_operand = depth == 0
                    && matches!(
                        t.token,
                        Token::Number(..)
                            | Token::SingleQuotedString(_)
                            | Token::DoubleQuotedString(_)
                            | Token::RParen
                            | Token::Word(_)
                    );
                if depth == 0
                    && matches!(t.token, Token::RParen)
                    && sig[start].token == Token::LParen
                {
                    j += 1;
                    break;
                }
                j += 1;
            }
            if j == start {
                ok = false;
                break;
            }
            let Some(item) = text(start, j - 1) else {
                ok = false;
                break;
            };
            if sig[start].token == Token::LParen && matches!(sig[j - 1].token, Token::RParen) {
                rows.push(item.to_string());
            } else {
                bare = true;
                rows.push(format!("({item})"));
            }
            if matches!(sig.get(j).map(|t| &t.token), Some(Token::Comma)) {
                j += 1;
                continue;
            }
            break;
        }
        if !ok || rows.is_empty() {
            i += 1;
            continue;
        }
        // The alias: [AS] name [(columns)].
        let mut alias: Option<String> = None;
        let mut k = j;
        if keyword(k) == Some(Keyword::AS) {
            k += 1;
        }
        if matches!(sig.get(k).map(|t| &t.token), Some(Token::Word(_)))
            && !keyword(k).is_some_and(stop)
        {
            let name_at = k;
            let mut end = k;
            if matches!(sig.get(k + 1).map(|t| &t.token), Some(Token::LParen)) {
                if let Some(close) = (k + 1..sig.len()).find(|&c| sig[c].token == Token::RParen) {
                    end = close;
                }
            }
            alias = text(name_at, end).map(str::to_string);
            j = end + 1;
        }
        if !bare && (factor || alias.is_none()) {
            i = j;
            continue;
        }
        let Some(start) = offsets.at(sig[i].span.start) else {
            break;
        };
        let Some(end) = offsets.at(sig[j - 1].span.end) else {
            break;
        };
        let table = match &alias {
            Some(a) => format!("(VALUES {}) AS {a}", rows.join(", ")),
            None => format!("(VALUES {})", rows.join(", ")),
        };
        let replacement = if factor {
            table
        } else {
            format!("SELECT * FROM {table}")
        };
        edits.push((start, end, replacement));
        i = j;
    }
    if edits.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 32 * edits.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&sql[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&sql[at..]);
    Cow::Owned(out)
}

/// The SQL type of Spark's numeric literal suffix `suffix` on `number`.
pub(super) fn suffix_type(number: &str, suffix: &str) -> Option<String> {
    let is_integer = number.chars().all(|c| c.is_ascii_digit());
    Some(match suffix.to_ascii_uppercase().as_str() {
        "L" if is_integer => "BIGINT".into(),
        "S" if is_integer => "SMALLINT".into(),
        "Y" if is_integer => "TINYINT".into(),
        "D" => "DOUBLE".into(),
        "F" => "FLOAT".into(),
        "BD" if !number.contains(['e', 'E']) => {
            let (int, frac) = number.split_once('.').unwrap_or((number, ""));
            let int = int.trim_start_matches('0');
            let scale = frac.len();
            let precision = (int.len() + scale).max(1);
            format!("DECIMAL({precision}, {scale})")
        }
        _ => return None,
    })
}

/// Byte offsets of the tokenizer's (line, column) locations in a text.
pub(super) struct LineOffsets<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineOffsets { text, starts }
    }

    fn at(&self, loc: Location) -> Option<usize> {
        let line_start = *self.starts.get((loc.line as usize).checked_sub(1)?)?;
        let line = &self.text[line_start..];
        let col = (loc.column as usize).checked_sub(1)?;
        match line.char_indices().nth(col) {
            Some((i, _)) => Some(line_start + i),
            None => Some(self.text.len()),
        }
    }
}
