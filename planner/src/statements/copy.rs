//! `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`: the query to run and
//! the format options, validated as PostgreSQL validates them.

use datafusion::arrow::datatypes::Schema;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget,
    Statement as SqlStatement,
};

use crate::{ErrorKind, QueryError, Result};

/// COPY's three formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Tab-separated text with backslash escapes and `\N` for NULL.
    Text,
    /// RFC 4180-style CSV.
    Csv,
    /// PostgreSQL's binary COPY format (`PGCOPY` header, binary send forms).
    Binary,
}

/// The format of a COPY TO, as the encoder needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Text, CSV or binary.
    pub format: CopyFormat,
    /// Column separator (one byte).
    pub delimiter: u8,
    /// How NULL is written.
    pub null: String,
    /// Whether a header line with the column names comes first.
    pub header: bool,
    /// CSV quote character.
    pub quote: u8,
    /// CSV escape character (the quote by default).
    pub escape: u8,
    /// Per column: always quote non-NULL values (CSV FORCE_QUOTE).
    pub force_quote: Vec<bool>,
}

/// What a COPY statement asks for, before its query is planned.
#[derive(Debug, Clone)]
pub(crate) struct CopySpec {
    /// The query whose rows are copied.
    pub(crate) query: SqlStatement,
    options: CopyOptions,
    /// FORCE_QUOTE column names, resolved against the result once it is planned;
    /// `None` inside means `*`.
    force_quote: Option<Vec<String>>,
}

impl CopySpec {
    /// The options for a result of this schema.
    pub(crate) fn options_for(&self, schema: &Schema) -> Result<CopyOptions> {
        let mut options = self.options.clone();
        options.force_quote = match &self.force_quote {
            None => vec![false; schema.fields().len()],
            Some(names) if names.is_empty() => vec![true; schema.fields().len()],
            Some(names) => {
                let mut quoted = vec![false; schema.fields().len()];
                for name in names {
                    let index = schema.index_of(name).map_err(|_| {
                        QueryError::new(
                            ErrorKind::UndefinedColumn,
                            format!("FORCE_QUOTE column \"{name}\" not referenced by COPY"),
                        )
                    })?;
                    quoted[index] = true;
                }
                quoted
            }
        };
        Ok(options)
    }
}

/// Reads a COPY statement: only `TO STDOUT` is served.
pub(crate) fn copy_spec(statement: &SqlStatement) -> Result<CopySpec> {
    let SqlStatement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(QueryError::new(ErrorKind::Internal, "not a COPY"));
    };
    if !to {
        return Err(QueryError::new(
            ErrorKind::ReadOnly,
            "cannot execute COPY FROM: load rows with INSERT",
        ));
    }
    if !matches!(target, CopyTarget::Stdout) {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "COPY TO a file or program is not supported; use COPY … TO STDOUT",
        ));
    }
    let query = match source {
        CopySource::Query(query) => SqlStatement::Query(query.clone()),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!("SELECT {list} FROM {table_name}");
            let mut parsed = crate::sql::parse::split(&sql)?;
            match parsed.pop() {
                Some(datafusion::sql::parser::Statement::Statement(s)) => *s,
                _ => return Err(QueryError::new(ErrorKind::Internal, "COPY table source")),
            }
        }
    };
    let mut builder = Builder::default();
    for option in options {
        builder.option(option)?;
    }
    for option in legacy_options {
        builder.legacy(option)?;
    }
    builder.finish(query)
}

#[derive(Default)]
struct Builder {
    format: Option<CopyFormat>,
    delimiter: Option<char>,
    null: Option<String>,
    header: Option<bool>,
    quote: Option<char>,
    escape: Option<char>,
    force_quote: Option<Vec<String>>,
}

fn syntax(message: impl Into<String>) -> QueryError {
    QueryError::new(ErrorKind::Syntax, message)
}

fn unsupported(message: impl Into<String>) -> QueryError {
    QueryError::new(ErrorKind::FeatureNotSupported, message)
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<()> {
    if slot.is_some() {
        return Err(syntax(format!("conflicting or redundant options: {name}")));
    }
    *slot = Some(value);
    Ok(())
}

impl Builder {
    fn option(&mut self, option: &CopyOption) -> Result<()> {
        match option {
            CopyOption::Format(name) => {
                let format = match name.value.to_ascii_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    other => {
                        return Err(QueryError::new(
                            ErrorKind::InvalidParameterValue,
                            format!("COPY format \"{other}\" not recognized"),
                        ));
                    }
                };
                set_once(&mut self.format, format, "FORMAT")
            }
            CopyOption::Delimiter(c) => set_once(&mut self.delimiter, *c, "DELIMITER"),
            CopyOption::Null(s) => set_once(&mut self.null, s.clone(), "NULL"),
            CopyOption::Header(h) => set_once(&mut self.header, *h, "HEADER"),
            CopyOption::Quote(c) => set_once(&mut self.quote, *c, "QUOTE"),
            CopyOption::Escape(c) => set_once(&mut self.escape, *c, "ESCAPE"),
            CopyOption::ForceQuote(columns) => set_once(
                &mut self.force_quote,
                columns.iter().map(|c| c.value.clone()).collect(),
                "FORCE_QUOTE",
            ),
            CopyOption::Encoding(name) => {
                let normalised = name.to_ascii_uppercase().replace(['-', '_'], "");
                if normalised == "UTF8" || normalised == "UNICODE" {
                    Ok(())
                } else {
                    Err(unsupported(format!(
                        "COPY encoding \"{name}\" is not supported; only UTF8 is"
                    )))
                }
            }
            CopyOption::Freeze(_) | CopyOption::ForceNotNull(_) | CopyOption::ForceNull(_) => Err(
                unsupported(format!("COPY option {option} applies only to COPY FROM")),
            ),
        }
    }

    fn legacy(&mut self, option: &CopyLegacyOption) -> Result<()> {
        match option {
            CopyLegacyOption::Binary => set_once(&mut self.format, CopyFormat::Binary, "BINARY"),
            CopyLegacyOption::Delimiter(c) => set_once(&mut self.delimiter, *c, "DELIMITER"),
            CopyLegacyOption::Null(s) => set_once(&mut self.null, s.clone(), "NULL"),
            CopyLegacyOption::Csv(csv) => {
                set_once(&mut self.format, CopyFormat::Csv, "CSV")?;
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => set_once(&mut self.header, true, "HEADER")?,
                        CopyLegacyCsvOption::Quote(c) => set_once(&mut self.quote, *c, "QUOTE")?,
                        CopyLegacyCsvOption::Escape(c) => set_once(&mut self.escape, *c, "ESCAPE")?,
                        CopyLegacyCsvOption::ForceQuote(columns) => set_once(
                            &mut self.force_quote,
                            columns.iter().map(|c| c.value.clone()).collect(),
                            "FORCE QUOTE",
                        )?,
                        CopyLegacyCsvOption::ForceNotNull(_) => {
                            return Err(unsupported(
                                "COPY option FORCE NOT NULL applies only to COPY FROM",
                            ));
                        }
                    }
                }
                Ok(())
            }
            CopyLegacyOption::Header => set_once(&mut self.header, true, "HEADER"),
            other => Err(unsupported(format!(
                "COPY option {other} is not a PostgreSQL option"
            ))),
        }
    }

    fn finish(self, query: SqlStatement) -> Result<CopySpec> {
        let format = self.format.unwrap_or(CopyFormat::Text);
        if format == CopyFormat::Binary {
            for (given, name) in [
                (self.delimiter.is_some(), "DELIMITER"),
                (self.null.is_some(), "NULL"),
                (self.header == Some(true), "HEADER"),
            ] {
                if given {
                    return Err(syntax(format!("cannot specify {name} in BINARY mode")));
                }
            }
        }
        if format != CopyFormat::Csv {
            for (given, name) in [
                (self.quote.is_some(), "quote"),
                (self.escape.is_some(), "escape"),
                (self.force_quote.is_some(), "force quote"),
            ] {
                if given {
                    return Err(unsupported(format!(
                        "COPY {name} available only in CSV mode"
                    )));
                }
            }
        }
        let delimiter = one_byte(
            self.delimiter
                .unwrap_or(if format == CopyFormat::Csv { ',' } else { '\t' }),
            "delimiter",
        )?;
        if delimiter == b'\n' || delimiter == b'\r' {
            return Err(QueryError::new(
                ErrorKind::InvalidParameterValue,
                "COPY delimiter cannot be newline or carriage return",
            ));
        }
        let quote = one_byte(self.quote.unwrap_or('"'), "quote")?;
        let escape = one_byte(self.escape.unwrap_or(quote as char), "escape")?;
        if format == CopyFormat::Csv && delimiter == quote {
            return Err(QueryError::new(
                ErrorKind::InvalidParameterValue,
                "COPY delimiter and quote must be different",
            ));
        }
        let null = self.null.unwrap_or_else(|| {
            if format == CopyFormat::Csv {
                String::new()
            } else {
                "\\N".into()
            }
        });
        if null.contains(['\n', '\r']) {
            return Err(QueryError::new(
                ErrorKind::InvalidParameterValue,
                "COPY null representation cannot use newline or carriage return",
            ));
        }
        Ok(CopySpec {
            query,
            options: CopyOptions {
                format,
                delimiter,
                null,
                header: self.header.unwrap_or(false),
                quote,
                escape,
                force_quote: Vec::new(),
            },
            force_quote: self.force_quote,
        })
    }
}

fn one_byte(c: char, name: &str) -> Result<u8> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("COPY {name} must be a single one-byte character"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::split;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::sql::parser::Statement as DFStatement;

    fn spec(sql: &str) -> Result<CopySpec> {
        match split(sql)?.remove(0) {
            DFStatement::Statement(s) => copy_spec(&s),
            other => panic!("not a COPY: {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_postgres() {
        let text = spec("COPY (SELECT 1 AS a) TO STDOUT").expect("test value");
        assert_eq!(text.options.format, CopyFormat::Text);
        assert_eq!(text.options.delimiter, b'\t');
        assert_eq!(text.options.null, "\\N");
        let csv =
            spec("COPY (SELECT 1 AS a) TO STDOUT WITH (FORMAT csv, HEADER)").expect("test value");
        assert_eq!(csv.options.delimiter, b',');
        assert_eq!(csv.options.null, "");
        assert!(csv.options.header);
        let legacy = spec("COPY (SELECT 1 AS a) TO STDOUT WITH CSV HEADER").expect("test value");
        assert_eq!(legacy.options.format, CopyFormat::Csv);
        assert!(legacy.options.header);
        let binary = spec("COPY (SELECT 1 AS a) TO STDOUT (FORMAT binary)").expect("test value");
        assert_eq!(binary.options.format, CopyFormat::Binary);
    }

    #[test]
    fn table_sources_become_queries() {
        let s = spec("COPY lake.tpch.nation (n_name, n_nationkey) TO STDOUT").expect("test value");
        assert_eq!(
            s.query.to_string(),
            "SELECT n_name, n_nationkey FROM lake.tpch.nation"
        );
    }

    #[test]
    fn rejects_what_postgres_rejects() {
        let kind = |sql: &str| spec(sql).expect_err("test error").kind;
        assert_eq!(
            split("COPY t (a) FROM STDIN").expect_err("test error").kind,
            ErrorKind::ReadOnly
        );
        assert_eq!(
            kind("COPY (SELECT 1) TO '/tmp/x'"),
            ErrorKind::FeatureNotSupported
        );
        assert_eq!(
            kind("COPY (SELECT 1) TO STDOUT (FORMAT binary, HEADER)"),
            ErrorKind::Syntax
        );
        assert_eq!(
            kind("COPY (SELECT 1) TO STDOUT (QUOTE '''')"),
            ErrorKind::FeatureNotSupported
        );
        assert_eq!(
            kind("COPY (SELECT 1) TO STDOUT (FORMAT xml)"),
            ErrorKind::InvalidParameterValue
        );
        assert_eq!(
            kind("COPY (SELECT 1) TO STDOUT (FORMAT csv, FORMAT text)"),
            ErrorKind::Syntax
        );
    }

    #[test]
    fn force_quote_resolves_columns() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let s =
            spec("COPY (SELECT 1) TO STDOUT (FORMAT csv, FORCE_QUOTE (b))").expect("test value");
        assert_eq!(
            s.options_for(&schema).expect("test value").force_quote,
            vec![false, true]
        );
        let s =
            spec("COPY (SELECT 1) TO STDOUT (FORMAT csv, FORCE_QUOTE (nope))").expect("test value");
        assert_eq!(
            s.options_for(&schema).expect_err("test error").kind,
            ErrorKind::UndefinedColumn
        );
    }
}
