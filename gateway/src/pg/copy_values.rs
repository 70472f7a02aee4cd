//! Values in COPY's text and CSV formats: NULL as the null string, text formats'
//! specials backslash-escaped, CSV values quoted when they must be.

use bytes::{BufMut, BytesMut};
use lakegate_planner::CopyOptions;
use pgwire::error::PgWireResult;

use super::values::Column;

/// A value in text format: NULL as the null string, specials backslash-escaped.
pub(crate) fn write_text_value(
    column: &Column,
    row: usize,
    options: &CopyOptions,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    if column.is_null(row) {
        out.put_slice(options.null.as_bytes());
    } else if column.needs_escaping() {
        scratch.clear();
        column.write_text(row, scratch)?;
        escape_text(scratch, options.delimiter, out);
    } else {
        column.write_text(row, out)?;
    }
    Ok(())
}

pub(crate) fn escape_text(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    for &b in value {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            0x0b => out.put_slice(b"\\v"),
            b if b == delimiter => {
                out.put_u8(b'\\');
                out.put_u8(b);
            }
            b => out.put_u8(b),
        }
    }
}

/// A value in CSV: NULL as the (unquoted) null string, others quoted when needed.
pub(crate) fn write_csv_value(
    column: &Column,
    row: usize,
    options: &CopyOptions,
    force_quote: bool,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    if column.is_null(row) {
        out.put_slice(options.null.as_bytes());
        return Ok(());
    }
    scratch.clear();
    column.write_text(row, scratch)?;
    write_csv_text(scratch, options, force_quote, out);
    Ok(())
}

pub(crate) fn write_csv_text(
    value: &[u8],
    options: &CopyOptions,
    force_quote: bool,
    out: &mut BytesMut,
) {
    let quote = options.quote;
    let escape = options.escape;
    let needs_quotes = force_quote
        // A value equal to the null string must be told apart from NULL.
        || value == options.null.as_bytes()
        // `\.` alone on a line ends COPY data for old clients.
        || value == b"\\."
        || value
            .iter()
            .any(|&b| b == options.delimiter || b == quote || b == b'\n' || b == b'\r');
    if !needs_quotes {
        out.put_slice(value);
        return;
    }
    out.put_u8(quote);
    for &b in value {
        if b == quote || b == escape {
            out.put_u8(escape);
        }
        out.put_u8(b);
    }
    out.put_u8(quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakegate_planner::CopyFormat;

    fn options(format: CopyFormat) -> CopyOptions {
        CopyOptions {
            format,
            delimiter: if format == CopyFormat::Csv {
                b','
            } else {
                b'\t'
            },
            null: if format == CopyFormat::Csv {
                String::new()
            } else {
                "\\N".into()
            },
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: Vec::new(),
        }
    }

    #[test]
    fn text_escapes_specials() {
        let mut out = BytesMut::new();
        escape_text(b"a\tb\\c\nd", b'\t', &mut out);
        assert_eq!(&out[..], b"a\\tb\\\\c\\nd");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let csv = options(CopyFormat::Csv);
        let quoted = |v: &[u8], force: bool| {
            let mut out = BytesMut::new();
            write_csv_text(v, &csv, force, &mut out);
            String::from_utf8(out.to_vec()).expect("test value")
        };
        assert_eq!(quoted(b"plain", false), "plain");
        assert_eq!(quoted(b"a,b", false), "\"a,b\"");
        assert_eq!(quoted(b"say \"hi\"", false), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted(b"", false), "\"\"");
        assert_eq!(quoted(b"x", true), "\"x\"");
        assert_eq!(quoted(b"line\nbreak", false), "\"line\nbreak\"");
    }
}
