//! `?` parameter markers (Flight SQL, JDBC, ODBC) numbered as PostgreSQL's `$1, $2, …`.
//!
//! The PostgreSQL dialect reads `?` as an operator, so Flight SQL text is rewritten
//! before it is parsed. Markers inside string literals, quoted identifiers, dollar-quoted
//! strings and comments are left alone.

use std::borrow::Cow;

/// `sql` with each `?` parameter marker replaced by `$n` in order of appearance.
/// Text without markers is returned unchanged (and not copied).
pub fn number_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut copied = 0;
    let mut next = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !word_before(bytes, i - 1);
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(sql, i),
            b'?' => {
                out.push_str(&sql[copied..i]);
                out.push('$');
                out.push_str(&next.to_string());
                next += 1;
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    if next == 1 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// Whether the byte before `at` continues an identifier (so `e'…'` is not an escape
/// string prefix but the end of a word such as `type'…'`).
fn word_before(bytes: &[u8], at: usize) -> bool {
    at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')
}

/// The index just past a `quote`-delimited run starting at `start`; a doubled quote is
/// an escaped quote, and with `backslash` so is `\` followed by any byte.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The index just past a (nested) `/* … */` comment starting at `start`.
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past a `$tag$ … $tag$` string starting at `start`, or just past the
/// `$` when it does not open one (`$1` is a parameter, not a tag).
fn skip_dollar_quoted(sql: &str, start: usize) -> usize {
    let bytes = sql.as_bytes();
    let tag_end = bytes[start + 1..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .map(|p| start + 1 + p);
    let Some(tag_end) = tag_end else {
        return start + 1;
    };
    let opens =
        bytes[tag_end] == b'$' && (tag_end == start + 1 || !bytes[start + 1].is_ascii_digit());
    if !opens {
        return start + 1;
    }
    let tag = &sql[start..=tag_end];
    match sql[tag_end + 1..].find(tag) {
        Some(p) => tag_end + 1 + p + tag.len(),
        None => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::number_placeholders;

    #[test]
    fn numbers_markers_in_order() {
        assert_eq!(
            number_placeholders("SELECT * FROM t WHERE a = ? AND b < ?"),
            "SELECT * FROM t WHERE a = $1 AND b < $2"
        );
    }

    #[test]
    fn leaves_quoted_text_and_comments_alone() {
        let sql = "SELECT '?', \"a?\", E'\\'?', $$?$$, $x$ ? $x$ -- ?\n, ? /* ? /* ? */ */";
        assert_eq!(
            number_placeholders(sql),
            "SELECT '?', \"a?\", E'\\'?', $$?$$, $x$ ? $x$ -- ?\n, $1 /* ? /* ? */ */"
        );
    }

    #[test]
    fn text_without_markers_is_borrowed() {
        assert!(matches!(
            number_placeholders("SELECT $1, 'it''s'"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(number_placeholders("SELECT '?'"), "SELECT '?'");
    }
}
