//! The pieces of SQL text the expansion writes: quoted names, base tables, aggregates
//! with their filters, and parsing the result back into a query.

use datafusion::sql::sqlparser::ast::{Query, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{QueryError, QueryErrorKind};
use crate::expr::is_plain_name;
use crate::model::{Measure, MeasureType};

/// A name as a double-quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A base table's name: plain parts as written, others quoted.
pub(crate) fn table_sql(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| {
            if is_plain_name(p) {
                p.clone()
            } else {
                quote(p)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a measure aggregates for one row, its filter applied: the expression, or for
/// a count without one the row's key.
pub(crate) fn input_sql(measure: &Measure, key: &impl std::fmt::Display) -> String {
    let value = match &measure.expr {
        Some(expr) => expr.to_string(),
        None => key.to_string(),
    };
    match &measure.filter {
        Some(filter) => format!("CASE WHEN {filter} THEN {value} END"),
        None => value,
    }
}

/// A measure's aggregate: over its own expression and filter, or over `value`, a
/// column already holding [`input_sql`].
pub(crate) fn agg_sql(measure: &Measure, value: Option<&str>) -> String {
    let input = match value {
        Some(value) => value.to_string(),
        None => match (&measure.expr, &measure.filter) {
            (None, None) => return "count(*)".to_string(),
            (None, Some(filter)) => format!("CASE WHEN {filter} THEN 1 END"),
            (Some(expr), None) => expr.to_string(),
            (Some(expr), Some(filter)) => format!("CASE WHEN {filter} THEN {expr} END"),
        },
    };
    match measure.kind {
        MeasureType::Sum => format!("sum({input})"),
        MeasureType::Count => format!("count({input})"),
        MeasureType::CountDistinct => format!("count(DISTINCT {input})"),
        MeasureType::Avg => format!("avg({input})"),
        MeasureType::Min => format!("min({input})"),
        MeasureType::Max => format!("max({input})"),
        // Derived measures are computed over the others' columns, never aggregated.
        MeasureType::Derived => input,
    }
}

/// Parses the SQL the expansion wrote.
pub(crate) fn parse_query(sql: &str) -> Result<Query, QueryError> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
        QueryError::new(
            QueryErrorKind::Unsupported,
            format!("the semantic expansion did not parse ({e}): {sql}"),
        )
    })?;
    match statements.into_iter().next() {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(QueryError::new(
            QueryErrorKind::Unsupported,
            format!("the semantic expansion is not a query: {sql}"),
        )),
    }
}
