//! SQL expressions of model files: parsed with the PostgreSQL dialect, their column
//! references found, and unqualified columns qualified with their model's name (each
//! model's table is aliased by the model's name in the SQL the layer writes).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, visit_expressions, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Parses one SQL expression; the whole text must be the expression.
pub(crate) fn parse_expr(sql: &str) -> Result<Expr, String> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| e.to_string())?;
    let expr = parser.parse_expr().map_err(|e| e.to_string())?;
    let rest = parser.peek_token();
    if rest.token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(format!("unexpected {} after the expression", rest.token));
    }
    Ok(expr)
}

/// An identifier's name as SQL resolves it: unquoted names fold to lower case.
pub(crate) fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// The column references of an expression: `(qualifier, name)`, a qualifier for
/// `model.column`. Longer compound names are returned whole as the name's parts.
pub(crate) fn column_refs(expr: &Expr) -> Vec<Vec<String>> {
    let mut refs = Vec::new();
    let _ = visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(ident) => refs.push(vec![normalize(ident)]),
            Expr::CompoundIdentifier(parts) => refs.push(parts.iter().map(normalize).collect()),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    refs
}

/// The models an expression names as qualifiers.
pub(crate) fn qualifiers(expr: &Expr) -> BTreeSet<String> {
    column_refs(expr)
        .into_iter()
        .filter(|parts| parts.len() == 2)
        .map(|mut parts| parts.swap_remove(0))
        .collect()
}

/// Qualifies every unqualified column with `model`.
pub(crate) fn qualify(expr: &mut Expr, model: &str) {
    let _ = visit_expressions_mut(expr, |e| {
        if let Expr::Identifier(ident) = e {
            *e = Expr::CompoundIdentifier(vec![Ident::new(model), ident.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Whether a name may be used unquoted as a model or member name.
pub(crate) fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifies_unqualified_columns_only() {
        let mut expr =
            parse_expr("o_totalprice * (1 - customers.c_discount)").expect("test input is valid");
        qualify(&mut expr, "orders");
        assert_eq!(
            expr.to_string(),
            "orders.o_totalprice * (1 - customers.c_discount)"
        );
        assert_eq!(
            qualifiers(&expr),
            BTreeSet::from(["orders".to_string(), "customers".to_string()])
        );
    }

    #[test]
    fn rejects_trailing_text() {
        assert!(parse_expr("a + b c d").is_err());
        assert!(parse_expr("sum(").is_err());
    }
}
