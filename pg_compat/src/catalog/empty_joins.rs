//! Catalog SELECTs that inner-join a catalog table which holds no rows here (pg_index,
//! pg_constraint, pg_publication_rel…) return no rows. Such SELECTs are often the
//! correlated lookups DataFusion cannot plan (SQLAlchemy's identity options from
//! pg_sequence, psql's lateral `generate_series(0, array_upper(pr.prattrs, 1))` over
//! pg_publication_rel), so they are settled before planning, with the same result:
//! - a scalar subquery over one becomes NULL, `EXISTS` false and `IN` false;
//! - another keeps its columns but projects NULL where it had subqueries or
//!   `generate_subscripts` (SQLAlchemy's key columns over pg_index).

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, Ident, JoinOperator, ObjectName, Query, Select, SelectItem, SetExpr,
    TableFactor, TableWithJoins, Value, VisitMut, VisitorMut,
};

use super::tables::EMPTY_TABLES;

/// Replaces the subqueries projected by SELECTs that cannot produce a row.
pub(super) fn blank_unreachable_subqueries(statement: &mut impl VisitMut, catalog_query: bool) {
    let _ = statement.visit(&mut Blanker { catalog_query });
}

struct Blanker {
    catalog_query: bool,
}

impl VisitorMut for Blanker {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        let settled = match expr {
            Expr::Subquery(query) if query_is_empty(query, self.catalog_query) => null(),
            Expr::Exists { subquery, negated } if query_is_empty(subquery, self.catalog_query) => {
                Expr::Value(Value::Boolean(*negated).into())
            }
            Expr::InSubquery {
                subquery, negated, ..
            } if query_is_empty(subquery, self.catalog_query) => {
                Expr::Value(Value::Boolean(*negated).into())
            }
            _ => return std::ops::ControlFlow::Continue(()),
        };
        *expr = settled;
        std::ops::ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        blank_body(query.body.as_mut(), self.catalog_query);
        std::ops::ControlFlow::Continue(())
    }
}

fn blank_body(body: &mut SetExpr, catalog_query: bool) {
    match body {
        SetExpr::Select(select) if produces_no_rows(select, catalog_query) => {
            for item in &mut select.projection {
                let alias = match &*item {
                    SelectItem::UnnamedExpr(expr) if contains_subquery(expr) => {
                        // Keep the name PostgreSQL would give the column.
                        Ident::new(output_name(expr))
                    }
                    SelectItem::ExprWithAlias { expr, alias } if contains_subquery(expr) => {
                        alias.clone()
                    }
                    _ => continue,
                };
                *item = SelectItem::ExprWithAlias {
                    expr: null(),
                    alias,
                };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            blank_body(left, catalog_query);
            blank_body(right, catalog_query);
        }
        _ => {}
    }
}

fn query_is_empty(query: &Query, catalog_query: bool) -> bool {
    query.with.is_none()
        && matches!(query.body.as_ref(), SetExpr::Select(select) if produces_no_rows(select, catalog_query))
}

fn null() -> Expr {
    Expr::Value(Value::Null.into())
}

/// PostgreSQL's name for an unnamed output column: the function or column name, else
/// `?column?`.
fn output_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or_else(|| "?column?".into()),
        Expr::Nested(inner) => output_name(inner),
        Expr::Case { .. } => "case".into(),
        Expr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) => match select.projection.first() {
                Some(SelectItem::ExprWithAlias { alias, .. }) => alias.value.clone(),
                Some(SelectItem::UnnamedExpr(expr)) => output_name(expr),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        _ => "?column?".into(),
    }
}

/// Whether the expression holds a subquery or a set-returning function, which a
/// SELECT that produces no rows never evaluates.
fn contains_subquery(expr: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e: &Expr| {
        found |= match e {
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => true,
            // `ARRAY(SELECT …)` is a function over a subquery.
            Expr::Function(f) => {
                matches!(f.args, FunctionArguments::Subquery(_))
                    || f.name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_subscripts"))
            }
            _ => false,
        };
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}

/// Whether the SELECT is not aggregated and one of its FROM items inner-joins a catalog
/// table that is empty here.
fn produces_no_rows(select: &Select, catalog_query: bool) -> bool {
    let grouped = !matches!(
        &select.group_by,
        datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()
    );
    !grouped
        && select.having.is_none()
        && !select.projection.iter().any(projects_aggregate)
        && select
            .from
            .iter()
            .any(|item| item_is_empty(item, catalog_query))
}

fn projects_aggregate(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
            is_aggregate(expr)
        }
        _ => false,
    }
}

fn item_is_empty(item: &TableWithJoins, catalog_query: bool) -> bool {
    let outer_kept = item.joins.iter().any(|join| {
        matches!(
            join.join_operator,
            JoinOperator::Right(_)
                | JoinOperator::RightOuter(_)
                | JoinOperator::FullOuter(_)
                | JoinOperator::OuterApply
        )
    });
    if outer_kept {
        return false;
    }
    is_empty_table(&item.relation, catalog_query)
        || item.joins.iter().any(|join| {
            matches!(
                join.join_operator,
                JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
            ) && is_empty_table(&join.relation, catalog_query)
        })
}

fn is_empty_table(relation: &TableFactor, catalog_query: bool) -> bool {
    let TableFactor::Table {
        name, args: None, ..
    } = relation
    else {
        return false;
    };
    catalog_table_name(name, catalog_query)
        .is_some_and(|table| EMPTY_TABLES.contains(&table.as_str()))
}

/// The pg_catalog table a name refers to: `pg_catalog.t`, or a bare `t` in a statement
/// that reads pg_catalog.
fn catalog_table_name(name: &ObjectName, catalog_query: bool) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [schema, table] if schema == "pg_catalog" => Some(table.clone()),
        [table] if catalog_query => Some(table.clone()),
        _ => None,
    }
}

pub(super) fn is_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
            matches!(
                i.value.to_ascii_lowercase().as_str(),
                "min"
                    | "max"
                    | "count"
                    | "sum"
                    | "avg"
                    | "array_agg"
                    | "string_agg"
                    | "bool_and"
                    | "bool_or"
            )
        }),
        Expr::Nested(inner) => is_aggregate(inner),
        _ => false,
    }
}
