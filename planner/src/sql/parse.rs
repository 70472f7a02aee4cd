//! Splits SQL text into statements in the PostgreSQL dialect.
//!
//! DataFusion's parser reads `COPY … TO 'file'` in its own form, which cannot express
//! PostgreSQL's `COPY (query) TO STDOUT`; COPY statements are therefore read by
//! sqlparser's PostgreSQL grammar, and everything else by DataFusion's parser.

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::{ErrorKind, QueryError, Result};

/// The statements of `sql`, in order; empty statements between semicolons are skipped.
pub(crate) fn split(sql: &str) -> Result<Vec<DFStatement>> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| QueryError::from(ParserError::from(e)))?;
    // Time travel clauses are not PostgreSQL syntax: out of the tokens, back on the AST.
    let (tokens, mut versions) = crate::sql::time_travel::extract(tokens)?;
    let mut parser = DFParserBuilder::new(tokens)
        .with_dialect(&dialect)
        .build()
        .map_err(QueryError::from)?;
    let mut statements = Vec::new();
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {}
        if parser.parser.peek_token() == Token::EOF {
            break;
        }
        let statement = if is_explain_cost(&parser.parser) {
            parser.parser.next_token();
            parser.parser.next_token();
            let inner = parser.parse_statement()?;
            if !matches!(&inner, DFStatement::Statement(s) if matches!(s.as_ref(), datafusion::sql::sqlparser::ast::Statement::Query(_)))
            {
                return Err(QueryError::new(
                    ErrorKind::Syntax,
                    "EXPLAIN COST takes a query (SELECT, WITH, VALUES or TABLE)",
                ));
            }
            crate::sql::explain_cost::explain_cost(inner)
        } else if is_postgres_copy(&parser.parser) {
            if copies_from(&parser.parser) {
                return Err(QueryError::new(
                    ErrorKind::ReadOnly,
                    "cannot execute COPY FROM: load rows with INSERT",
                ));
            }
            DFStatement::Statement(Box::new(parser.parser.parse_statement()?))
        } else {
            parser.parse_statement()?
        };
        let mut statement = statement;
        crate::sql::time_travel::attach(&mut statement, &mut versions);
        statements.push(statement);
        if !parser.parser.consume_token(&Token::SemiColon) {
            if parser.parser.peek_token() == Token::EOF {
                break;
            }
            let found = parser.parser.peek_token();
            return Err(QueryError::from(ParserError::ParserError(format!(
                "Expected: end of statement, found: {found}"
            ))));
        }
    }
    if !versions.is_empty() {
        return Err(QueryError::new(
            ErrorKind::Syntax,
            "FOR VERSION AS OF and FOR TIMESTAMP AS OF must follow a table name in FROM",
        ));
    }
    Ok(statements)
}

/// `EXPLAIN COST …`: the gateway's estimate of a query.
fn is_explain_cost(parser: &Parser<'_>) -> bool {
    matches!(parser.peek_token().token, Token::Word(w) if w.keyword == Keyword::EXPLAIN)
        && matches!(
            parser.peek_nth_token(1).token,
            Token::Word(w) if w.value.eq_ignore_ascii_case("cost") && w.quote_style.is_none()
        )
}

/// `COPY` other than Snowflake's `COPY INTO`.
fn is_postgres_copy(parser: &Parser<'_>) -> bool {
    let is_keyword =
        |token: Token, keyword: Keyword| matches!(token, Token::Word(w) if w.keyword == keyword);
    is_keyword(parser.peek_token().token, Keyword::COPY)
        && !is_keyword(parser.peek_nth_token(1).token, Keyword::INTO)
}

/// `COPY table [(columns)] FROM …`: refused before its inline data is parsed.
fn copies_from(parser: &Parser<'_>) -> bool {
    let mut depth = 0usize;
    for n in 1.. {
        match parser.peek_nth_token(n).token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.keyword == Keyword::FROM => return true,
            Token::Word(w) if depth == 0 && w.keyword == Keyword::TO => return false,
            Token::EOF | Token::SemiColon => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::split;
    use datafusion::sql::parser::Statement as DFStatement;
    use datafusion::sql::sqlparser::ast::Statement;

    #[test]
    fn splits_statements_and_skips_empty_ones() {
        let statements = split("SELECT 1;; SELECT 2;").expect("test value");
        assert_eq!(statements.len(), 2);
        assert!(split("  ;  ").expect("test value").is_empty());
    }

    #[test]
    fn reads_postgres_copy_to_stdout() {
        let statements =
            split("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv); SELECT 2").expect("test value");
        assert_eq!(statements.len(), 2);
        match &statements[0] {
            DFStatement::Statement(s) => assert!(matches!(s.as_ref(), Statement::Copy { .. })),
            other => panic!("expected COPY, got {other:?}"),
        }
    }

    #[test]
    fn explain_cost_takes_a_query() {
        let statements =
            split("EXPLAIN COST SELECT 1; explain cost WITH t AS (SELECT 1) SELECT * FROM t")
                .expect("test value");
        assert_eq!(statements.len(), 2);
        let error = split("EXPLAIN COST SET x = 1").expect_err("not a query");
        assert_eq!(error.kind.sqlstate(), "42601");
        assert!(split("EXPLAIN COST").is_err());
    }

    #[test]
    fn rejects_missing_delimiters() {
        let error = split("SELECT 1 SELECT 2").expect_err("test error");
        assert!(error.message.contains("end of statement"), "{error}");
    }
}
