//! Parsing for this crate's tests: SQL text to DataFusion statements, PostgreSQL dialect.

use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

/// The statements of `sql`.
pub fn split(sql: &str) -> Result<Vec<Statement>, String> {
    let dialect = PostgreSqlDialect {};
    let mut parser = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .build()
        .map_err(|e| e.to_string())?;
    let mut statements = Vec::new();
    loop {
        while parser
            .parser
            .consume_token(&datafusion::sql::sqlparser::tokenizer::Token::SemiColon)
        {}
        if parser.parser.peek_token().token == datafusion::sql::sqlparser::tokenizer::Token::EOF {
            break;
        }
        statements.push(parser.parse_statement().map_err(|e| e.to_string())?);
    }
    Ok(statements)
}
