//! Static checks of a policy's row filters and column rules against the tables they
//! name, for `gateway policy check`: each filter must parse and type-check as a boolean
//! over its table's columns, each mask must type-check for its column, and each column
//! a rule names must exist. Rules on wildcard patterns are checked at query time.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DFSchema, config::ConfigOptions};
use datafusion::logical_expr::{EmptyRelation, ExprSchemable, Filter, LogicalPlan, Projection};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;

use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
};
use datafusion::datasource::empty::EmptyTable;
use datafusion::prelude::SessionContext;

use super::expressions::{parse, parser};
use super::masks::mask_expr;
use crate::policy::lookups::lookup_sql;
use crate::policy::{ColumnAction, Policy};

/// Every problem found, each starting with its rule's `file:line`. `schema_of` gives
/// a table's schema (`catalog.schema.table`), or `None` when it cannot be read (the
/// rule is then not checked).
pub async fn check_rules(
    policy: &Policy,
    schema_of: &dyn Fn(&str) -> Option<SchemaRef>,
) -> Vec<String> {
    let parser = parser();
    let config = ConfigOptions::default();
    let mut problems = Vec::new();
    for rule in policy.row_filters() {
        if rule.table.contains(['*', '?']) {
            continue;
        }
        let Some(schema) = schema_of(&rule.table) else {
            continue;
        };
        // A filter that looks tables up is planned as a query over those tables (empty).
        let looked_up = rule.looks_up.clone();
        if !looked_up.is_empty() {
            let mut tables = looked_up.clone();
            tables.push(rule.table.clone());
            // A table it looks up that cannot be read is reported as unknown elsewhere.
            let Some(context) = lookup_context(&tables, schema_of) else {
                continue;
            };
            if let Err(e) = plan_lookup(&context, &rule.table, &rule.expression).await {
                problems.push(format!(
                    "{}: the row filter on {} does not type-check: {}",
                    rule.id,
                    rule.table,
                    clean(&e)
                ));
            }
            continue;
        }
        let result = relation(&rule.table, &schema).and_then(|(input, df_schema)| {
            let attributes = placeholders(&rule.expression);
            let expr = parse(&parser, &rule.expression, &df_schema, &attributes, &rule.id)?;
            let kind = expr.get_type(&df_schema)?;
            if kind != DataType::Boolean && kind != DataType::Null {
                return Err(datafusion::error::DataFusionError::Plan(format!(
                    "the row filter is of type {kind}, not boolean"
                )));
            }
            let filter = LogicalPlan::Filter(Filter::try_new(expr, input)?);
            TypeCoercion::new().analyze(filter, &config).map(|_| ())
        });
        if let Err(e) = result {
            problems.push(format!(
                "{}: the row filter on {} does not type-check: {}",
                rule.id,
                rule.table,
                clean(&e)
            ));
        }
    }
    for rule in policy.column_rules() {
        let Some((table, column)) = rule.column.rsplit_once('.') else {
            continue;
        };
        if rule.column.contains(['*', '?']) {
            continue;
        }
        let Some(schema) = schema_of(table) else {
            continue;
        };
        let Ok(field) = schema.field_with_name(column) else {
            problems.push(format!(
                "{}: names column {column} of {table}, which has no such column",
                rule.id
            ));
            continue;
        };
        let ColumnAction::Mask(kind) = &rule.action else {
            continue;
        };
        let result = relation(table, &schema).and_then(|(input, df_schema)| {
            let expr = mask_expr(
                &parser,
                kind,
                column,
                field.data_type(),
                &df_schema,
                &placeholders(""),
                &rule.id,
            )?;
            let projection = LogicalPlan::Projection(Projection::try_new(vec![expr], input)?);
            TypeCoercion::new().analyze(projection, &config).map(|_| ())
        });
        if let Err(e) = result {
            problems.push(format!(
                "{}: the mask on {} does not type-check: {}",
                rule.id,
                rule.column,
                clean(&e)
            ));
        }
    }
    problems
}

/// A context that knows `tables` (`catalog.schema.table`) as empty tables with their
/// schemas, or `None` when one of them cannot be read.
fn lookup_context(
    tables: &[String],
    schema_of: &dyn Fn(&str) -> Option<SchemaRef>,
) -> Option<SessionContext> {
    let context = SessionContext::new();
    for table in tables {
        let schema = schema_of(table)?;
        let mut parts = table.splitn(3, '.');
        let (catalog, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
        let catalog = match context.catalog(catalog) {
            Some(existing) => existing,
            None => {
                let created: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
                context.register_catalog(catalog, created.clone());
                created
            }
        };
        let namespace = match catalog.schema(namespace) {
            Some(existing) => existing,
            None => {
                let created: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                catalog.register_schema(namespace, created.clone()).ok()?;
                created
            }
        };
        namespace
            .register_table(name.to_string(), Arc::new(EmptyTable::new(schema)))
            .ok()?;
    }
    Some(context)
}

/// Plans `SELECT * FROM table WHERE (filter)` with each `${user.ATTR}` a text value,
/// as the pipeline plans the filter at query time.
async fn plan_lookup(
    context: &SessionContext,
    table: &str,
    filter: &str,
) -> datafusion::error::Result<()> {
    let sql = lookup_sql(table, filter, |_| Ok("'0'".to_string()))
        .map_err(datafusion::error::DataFusionError::Plan)?;
    context.state().create_logical_plan(&sql).await.map(|_| ())
}

/// An empty relation with the table's columns, qualified by its name.
fn relation(
    table: &str,
    schema: &SchemaRef,
) -> datafusion::error::Result<(Arc<LogicalPlan>, Arc<DFSchema>)> {
    let name = table.rsplit('.').next().unwrap_or(table);
    let df_schema = Arc::new(DFSchema::try_from_qualified_schema(name, schema)?);
    let input = Arc::new(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: df_schema.clone(),
    }));
    Ok((input, df_schema))
}

/// A value for every `${user.ATTR}` the text names: attributes are text at query time.
fn placeholders(text: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find("${user.") {
        let after = &rest[start + 7..];
        let Some(end) = after.find('}') else { break };
        attributes.insert(after[..end].to_string(), "0".to_string());
        rest = &after[end..];
    }
    attributes.insert("name".into(), "user".into());
    attributes
}

/// A DataFusion error without its wrapping prefixes.
fn clean(error: &datafusion::error::DataFusionError) -> String {
    match error.find_root() {
        datafusion::error::DataFusionError::External(inner) => inner.to_string(),
        root => root.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[tokio::test]
    async fn filters_and_masks_are_checked_against_their_tables() {
        let policy = Policy::from_text(
            crate::policy::DEFAULT_MODEL,
            "policy.csv",
            "p, role:a, lake.s.*, select, allow\n\
             p2, role:a, lake.s.t, \"region = ${user.region}\"\n\
             p2, role:a, lake.s.u, \"region + 1\"\n\
             p2, role:a, lake.s.v, \"nope = 1\"\n\
             p3, role:a, lake.s.t.phone, mask, show-last-4\n\
             p3, role:a, lake.s.t.missing, deny\n\
             p3, role:a, lake.s.t.amount, mask, sql:phone * 2\n",
        )
        .await
        .expect("loads");
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("phone", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
        ]));
        let problems = check_rules(&policy, &|_| Some(schema.clone())).await;
        let joined = problems.join("\n");
        assert_eq!(problems.len(), 4, "{joined}");
        assert!(problems[0].starts_with("policy.csv:3:"), "{joined}");
        assert!(
            problems[1].starts_with("policy.csv:4:") && problems[1].contains("nope"),
            "{joined}"
        );
        assert!(
            problems[2].starts_with("policy.csv:6:") && problems[2].contains("missing"),
            "{joined}"
        );
        assert!(problems[3].starts_with("policy.csv:7:"), "{joined}");
    }

    #[tokio::test]
    async fn lookups_are_checked_against_the_tables_they_read() {
        let policy = Policy::from_text(
            crate::policy::DEFAULT_MODEL,
            "policy.csv",
            "p, role:a, lake.s.*, select, allow\n\
             p2, role:a, lake.s.t, \"region IN (SELECT region FROM lake.s.u WHERE phone = ${user.name})\"\n\
             p2, role:a, lake.s.v, \"region IN (SELECT nope FROM lake.s.u)\"\n\
             p2, role:a, lake.s.w, \"amount IN (SELECT amount FROM lake.other.gone)\"\n",
        )
        .await
        .expect("loads");
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("phone", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
        ]));
        let problems = check_rules(&policy, &|table| {
            (!table.starts_with("lake.other.")).then(|| schema.clone())
        })
        .await;
        let joined = problems.join("\n");
        // The unreadable lookup (line 4) is left to the unknown-table check.
        assert_eq!(problems.len(), 1, "{joined}");
        assert!(
            problems[0].starts_with("policy.csv:3:") && problems[0].contains("nope"),
            "{joined}"
        );
    }
}
