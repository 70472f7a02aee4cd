//! PostgreSQL's names for unaliased result columns.
//!
//! DataFusion names `SELECT count(*), 1 + 1` `count(*)` and `Int64(1) + Int64(1)`;
//! PostgreSQL says `count` and `?column?`, and BI tools show (and sometimes key on) those
//! names. The names are taken from the top-level select list; a column with an alias,
//! and any statement whose select list cannot be mapped one to one (wildcards), keep
//! DataFusion's names.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, SelectItem, SetExpr, Statement as SqlStatement,
};

/// The result schema with PostgreSQL's column names, when the statement's select list
/// maps one to one onto the schema.
pub fn postgres_schema(statement: &DFStatement, schema: &SchemaRef) -> Option<SchemaRef> {
    let DFStatement::Statement(statement) = statement else {
        return None;
    };
    let SqlStatement::Query(query) = statement.as_ref() else {
        return None;
    };
    let mut body = query.body.as_ref();
    // Set operations take their names from the first branch.
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_ref();
    }
    let SetExpr::Select(select) = body else {
        return None;
    };
    if select.projection.len() != schema.fields().len() {
        return None;
    }
    let mut changed = false;
    let mut fields = Vec::with_capacity(schema.fields().len());
    for (item, field) in select.projection.iter().zip(schema.fields()) {
        let name = match item {
            SelectItem::UnnamedExpr(expr) => column_name(expr),
            SelectItem::ExprWithAlias { .. } => None,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => return None,
        };
        match name {
            Some(name) if name != *field.name() => {
                changed = true;
                fields.push(Arc::new(Field::clone(field).with_name(name)));
            }
            _ => fields.push(field.clone()),
        }
    }
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// An `ORDER BY name` that names two different output columns, which PostgreSQL
/// refuses as ambiguous (`SELECT id::smallint, id::real … ORDER BY id`); DataFusion
/// would sort by one of them. A name that no output column has is an input column,
/// and a name repeated for the same expression is no ambiguity. Checked on the
/// statement as written, in every query and subquery.
pub fn ambiguous_order_by(statement: &DFStatement) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{OrderByKind, Query, Visit, Visitor};
    use std::ops::ControlFlow;

    struct Ambiguity;
    impl Visitor for Ambiguity {
        type Break = String;
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
            let (Some(order_by), SetExpr::Select(select)) = (&query.order_by, query.body.as_ref())
            else {
                return ControlFlow::Continue(());
            };
            let OrderByKind::Expressions(keys) = &order_by.kind else {
                return ControlFlow::Continue(());
            };
            for key in keys {
                let Expr::Identifier(ident) = &key.expr else {
                    continue;
                };
                let name = normalize(ident);
                let mut named = select.projection.iter().filter_map(|item| match item {
                    SelectItem::UnnamedExpr(expr) => {
                        (column_name(expr).as_deref() == Some(name.as_str())).then_some(expr)
                    }
                    SelectItem::ExprWithAlias { expr, alias } => {
                        (normalize(alias) == name).then_some(expr)
                    }
                    _ => None,
                });
                if let Some(first) = named.next()
                    && named.any(|other| other != first)
                {
                    return ControlFlow::Break(name);
                }
            }
            ControlFlow::Continue(())
        }
    }

    let DFStatement::Statement(statement) = statement else {
        return None;
    };
    match statement.visit(&mut Ambiguity) {
        ControlFlow::Break(name) => Some(name),
        ControlFlow::Continue(()) => None,
    }
}

/// What PostgreSQL calls an unaliased expression (FigureColname).
pub fn column_name(expr: &Expr) -> Option<String> {
    Some(match expr {
        Expr::Identifier(ident) => return Some(normalize(ident)),
        Expr::CompoundIdentifier(idents) => return idents.last().map(normalize),
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(normalize)?,
        Expr::Cast {
            expr, data_type, ..
        } => {
            return column_name(expr)
                .filter(|n| n != "?column?")
                .or_else(|| type_name(data_type));
        }
        Expr::Nested(inner) => return column_name(inner),
        Expr::Case { .. } => "case".into(),
        // A scalar subquery is named by its one output column.
        Expr::Subquery(query) => {
            let mut body = query.body.as_ref();
            while let SetExpr::SetOperation { left, .. } = body {
                body = left.as_ref();
            }
            match body {
                SetExpr::Select(select) => match select.projection.first() {
                    Some(SelectItem::UnnamedExpr(expr)) => return column_name(expr),
                    Some(SelectItem::ExprWithAlias { alias, .. }) => return Some(normalize(alias)),
                    _ => "?column?".into(),
                },
                _ => "?column?".into(),
            }
        }
        Expr::Exists { .. } => "exists".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Array(_) => "array".into(),
        _ => "?column?".into(),
    })
}

fn normalize(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// PostgreSQL's internal type names, which it uses to name casts of constants.
fn type_name(data_type: &SqlType) -> Option<String> {
    let text = data_type.to_string().to_lowercase();
    let base = text.split('(').next().unwrap_or_default().trim();
    Some(
        match base {
            "smallint" | "int2" => "int2",
            "int" | "integer" | "int4" => "int4",
            "bigint" | "int8" => "int8",
            "real" | "float4" => "float4",
            "double" | "double precision" | "float8" => "float8",
            "numeric" | "decimal" => "numeric",
            "text" => "text",
            "varchar" | "character varying" => "varchar",
            "bool" | "boolean" => "bool",
            "date" => "date",
            "timestamp" => "timestamp",
            "timestamptz" | "timestamp with time zone" => "timestamptz",
            "bytea" => "bytea",
            _ => return Some("?column?".into()),
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    use super::*;

    fn names(sql: &str, df_names: &[&str]) -> Vec<String> {
        let statement = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})
            .expect("parse")
            .pop_front()
            .expect("one");
        let schema: SchemaRef = Arc::new(Schema::new(
            df_names
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, true))
                .collect::<Vec<_>>(),
        ));
        postgres_schema(&statement, &schema)
            .unwrap_or(schema)
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    #[test]
    fn follows_postgres() {
        assert_eq!(
            names(
                "SELECT count(*), 1 + 1, CAST(1 AS INT), x::bigint, t.y, sum(z) AS total, CASE WHEN true THEN 1 END, (a)",
                &[
                    "count(*)",
                    "Int64(1) + Int64(1)",
                    "Int64(1)",
                    "t.x",
                    "t.y",
                    "total",
                    "CASE",
                    "t.a"
                ]
            ),
            vec!["count", "?column?", "int4", "x", "y", "total", "case", "a"]
        );
        assert_eq!(names("SELECT * FROM t", &["a", "b"]), vec!["a", "b"]);
        assert_eq!(
            names("SELECT count(*) FROM t UNION ALL SELECT 1", &["count(*)"]),
            vec!["count"]
        );
    }
}
