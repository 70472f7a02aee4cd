//! A statement's logical plan, before the analyzer: PostgreSQL's forms and catalog
//! names rewritten, versioned tables resolved to their snapshots, semantic tables
//! expanded, then planned by DataFusion; only the writes the gateway does allowed.

use datafusion::execution::SessionState;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use lakegate_pg_compat::catalog::{qualify_catalog_tables, rewrite_postgres_syntax};

use crate::pipeline::engine::Engine;
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

/// The statement's logical plan, rewritten and secured for the session's principal,
/// and whether it read a semantic table: PostgreSQL's forms and catalog names
/// rewritten, versioned tables resolved to their snapshots, semantic tables expanded
/// into SQL over their base tables, then planned by DataFusion (whose analyzer runs
/// the security rule). Only the writes the gateway does are allowed. `evaluate_lookups`:
/// the statement will read rows under admission, so small row-filter lookups may be
/// read into lists now (see `lookup_values`).
pub(crate) async fn logical_plan(
    engine: &Engine,
    session: &Session,
    statement: &DFStatement,
    evaluate_lookups: bool,
) -> Result<(LogicalPlan, bool)> {
    let state = session.ctx.state();
    let (statement, expanded) = rewritten(engine, session, &state, statement).await?;
    let statement = &statement;
    if references_catalog_views(&state, statement) {
        // pg_settings reads the parameters as they are now; other statements skip it.
        session.pg_context.publish_settings(session.settings.all());
        engine
            .registry
            .refresh_listings()
            .await
            .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))?;
    }
    let planned = crate::panic_guard::unpanicked("planning the statement", async {
        Ok(state.statement_to_plan(statement.clone()).await)
    })
    .await?;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return Err(denied_column(engine, session, &state, statement, e)),
    };
    super::lookups::prepare(engine, session, &state, &plan, evaluate_lookups).await?;
    if matches!(plan, LogicalPlan::DescribeTable(_)) {
        // DESCRIBE reads no rows, so the scan rule never sees its table.
        check_describe(engine, session, &state, statement)?;
    }
    // INSERT … and CREATE TABLE [AS] into Iceberg, and INSERT into Delta, are the
    // writes the gateway does.
    let writes = crate::statements::writes::is_supported_write(&plan);
    SQLOptions::new()
        .with_allow_ddl(writes)
        .with_allow_dml(writes)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| {
            QueryError::new(
                ErrorKind::ReadOnly,
                format!(
                    "cannot execute this statement: the gateway writes only INSERT and \
                     CREATE TABLE [AS] into Iceberg tables, and INSERT into Delta \
                     tables ({e})"
                ),
            )
        })?;
    Ok((plan, expanded))
}

/// The statement as DataFusion will plan it, and whether it read a semantic table:
/// pg_catalog names qualified, PostgreSQL's function and catalog forms rewritten,
/// versioned tables resolved to their snapshots, semantic tables expanded into SQL over
/// their base tables (secured like any query).
async fn rewritten(
    engine: &Engine,
    session: &Session,
    state: &SessionState,
    statement: &DFStatement,
) -> Result<(DFStatement, bool)> {
    if let Some(name) = lakegate_pg_compat::output_names::ambiguous_order_by(statement) {
        return Err(QueryError::new(
            ErrorKind::AmbiguousColumn,
            format!("ORDER BY \"{name}\" is ambiguous"),
        ));
    }
    if let Some(value) = typed_literal_without_text(statement) {
        return Err(QueryError::new(
            ErrorKind::Syntax,
            format!("syntax error at or near \"{value}\""),
        ));
    }
    let mut statement = statement.clone();
    let options = state.config_options();
    let current = state
        .catalog_list()
        .catalog(&options.catalog.default_catalog)
        .and_then(|c| c.schema(&options.catalog.default_schema));
    qualify_catalog_tables(&mut statement, |table| {
        current.as_ref().is_some_and(|s| s.table_exist(table))
    });
    // Functions first: the names of what they rewrite are then made unique with the
    // rest of the select list.
    lakegate_pg_compat::functions::rewrite_function_syntax(&mut statement);
    rewrite_postgres_syntax(&mut statement);
    // FOR VERSION|TIMESTAMP AS OF: each versioned table becomes its snapshot.
    crate::sql::time_travel::resolve(&mut statement, &session.ctx, &engine.registry).await?;
    let expanded = match &engine.semantic {
        Some(layer) => layer.expand(
            &mut statement,
            &options.catalog.default_catalog,
            &session.principal,
            &engine.policy,
        )?,
        None => false,
    };
    Ok((statement, expanded))
}

/// DESCRIBE answers for a table the principal may read (`select`) or is granted
/// `describe` on; for any other it is 42501, as reading it would be. Catalog views
/// (information_schema, pg_catalog) are built for the principal and always describable.
fn check_describe(
    engine: &Engine,
    session: &Session,
    state: &SessionState,
    statement: &DFStatement,
) -> Result<()> {
    let options = state.config_options();
    let tables = state
        .resolve_table_references(statement)
        .map_err(QueryError::from)?;
    let policy = engine.policy.current();
    for table in tables {
        let resolved = table.resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        );
        if matches!(
            resolved.schema.as_ref(),
            "information_schema" | "pg_catalog"
        ) {
            continue;
        }
        let (base, _) = lakegate_security::policy::governed_table(&resolved.table);
        let full = format!("{}.{}.{base}", resolved.catalog, resolved.schema);
        let user = &session.principal;
        if !policy.allows(user, &full, "select") && !policy.allows(user, &full, "describe") {
            return Err(QueryError::new(
                ErrorKind::InsufficientPrivilege,
                format!("permission denied for table {full}"),
            ));
        }
    }
    Ok(())
}

/// A column that is not found because the policy denies it is reported as a
/// privilege error (42501), not as a missing column.
fn denied_column(
    engine: &Engine,
    session: &Session,
    state: &datafusion::execution::SessionState,
    statement: &DFStatement,
    error: datafusion::error::DataFusionError,
) -> QueryError {
    use datafusion::common::SchemaError;
    let name = match error.find_root() {
        datafusion::error::DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { field, .. } => Some(field.name.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(name) = name else {
        return error.into();
    };
    let options = state.config_options();
    let tables = state
        .resolve_table_references(statement)
        .unwrap_or_default();
    for table in tables {
        let resolved = table.resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        );
        let (base, _) = lakegate_security::policy::governed_table(&resolved.table);
        let full = format!("{}.{}.{base}", resolved.catalog, resolved.schema);
        if engine
            .policy
            .denies_column(&session.principal, &full, &name)
        {
            return QueryError::new(
                ErrorKind::InsufficientPrivilege,
                format!("permission denied for column {name} of table {full}"),
            );
        }
    }
    error.into()
}

fn references_catalog_views(
    state: &datafusion::execution::SessionState,
    statement: &DFStatement,
) -> bool {
    match state.resolve_table_references(statement) {
        Ok(refs) => refs
            .iter()
            .any(|r| matches!(r.schema(), Some("information_schema" | "pg_catalog"))),
        Err(_) => false,
    }
}

/// The value of a typed literal that is not text (`DATE 4`): PostgreSQL's syntax error,
/// and a panic in DataFusion 53's SQL planner (found by the SQL fuzz test).
fn typed_literal_without_text(statement: &DFStatement) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{Expr, TypedString, visit_expressions};
    let DFStatement::Statement(statement) = statement else {
        return None;
    };
    let mut found = None;
    let _ = visit_expressions(statement.as_ref(), |expr: &Expr| {
        if let Expr::TypedString(TypedString { value, .. }) = expr
            && value.value.clone().into_string().is_none()
        {
            found = Some(value.to_string());
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}
