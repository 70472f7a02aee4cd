//! Session statements answered from the parsed statement, without planning: SET, RESET,
//! SHOW and DISCARD, and the search_path that decides where unqualified names resolve.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::parser::{ResetStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, ObjectName, Reset, Set, Statement as SqlStatement, UnaryOperator, Value,
};

use lakegate_catalog::CatalogRegistry;

use crate::session::Session;
use crate::session::settings::Settings;
use crate::statements::prepared::Outcome;
use crate::{ErrorKind, QueryError, Result};

/// Where unqualified names resolve when `search_path` names nothing that exists, and
/// the catalogs its entries may name.
pub(crate) struct NameDefaults<'a> {
    /// The catalogs.
    pub(crate) registry: &'a CatalogRegistry,
    /// The default catalog.
    pub(crate) catalog: &'a str,
    /// The default schema.
    pub(crate) schema: &'a str,
}

/// SET, RESET and DISCARD.
pub(crate) fn session_command(
    names: &NameDefaults<'_>,
    session: &mut Session,
    statement: &DFStatement,
) -> Result<Outcome> {
    let statement = match statement {
        DFStatement::Statement(statement) => statement,
        DFStatement::Reset(ResetStatement::Variable(name)) => {
            let name = object_name(name);
            if name.eq_ignore_ascii_case("all") {
                session.settings.reset_all();
            } else {
                session.settings.reset(&name)?;
            }
            apply_search_path(names, session)?;
            return Ok(Outcome::Command("RESET".into()));
        }
        _ => return Err(not_supported()),
    };
    match statement.as_ref() {
        SqlStatement::Set(set) => {
            apply_set(names, session, set)?;
            Ok(Outcome::Command("SET".into()))
        }
        SqlStatement::Reset(reset) => {
            match &reset.reset {
                Reset::ALL => {
                    session.settings.reset_all();
                    apply_search_path(names, session)?;
                }
                Reset::ConfigurationParameter(name) => {
                    let name = object_name(name);
                    session.settings.reset(&name)?;
                    if Settings::canonical(&name) == "search_path" {
                        apply_search_path(names, session)?;
                    }
                }
            }
            Ok(Outcome::Command("RESET".into()))
        }
        SqlStatement::Discard { .. } => {
            session.settings.reset_all();
            apply_search_path(names, session)?;
            Ok(Outcome::Command("DISCARD ALL".into()))
        }
        _ => Err(not_supported()),
    }
}

fn apply_set(names: &NameDefaults<'_>, session: &mut Session, set: &Set) -> Result<()> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = object_name(variable);
            let value = values
                .iter()
                .map(expr_text)
                .collect::<Result<Vec<_>>>()?
                .join(", ");
            if value.eq_ignore_ascii_case("default") {
                session.settings.reset(&name)?;
            } else {
                session.settings.set(&name, value)?;
            }
            if Settings::canonical(&name) == "search_path" {
                apply_search_path(names, session)?;
            }
            Ok(())
        }
        Set::SetTimeZone { value, .. } => {
            let value = expr_text(value)?;
            session.settings.set("TimeZone", value)
        }
        Set::SetNames { charset_name, .. } => session
            .settings
            .set("client_encoding", charset_name.value.clone()),
        Set::SetNamesDefault {} => session.settings.reset("client_encoding"),
        // Every statement reads committed snapshots whatever the level; the level
        // is recorded so that SHOW reports what the client chose.
        Set::SetTransaction {
            modes,
            snapshot: None,
            session: session_default,
        } => crate::statements::transaction::apply_modes(session, modes, *session_default),
        _ => Err(not_supported()),
    }
}

/// Points unqualified names at the first `search_path` entry that exists:
/// `schema` (in the default catalog) or `catalog.schema`.
fn apply_search_path(names: &NameDefaults<'_>, session: &mut Session) -> Result<()> {
    let path = session.settings.get("search_path")?;
    let mut chosen: Option<(String, String)> = None;
    for entry in path.split(',') {
        let entry = entry.trim().trim_matches('"');
        if entry.is_empty() || entry == "$user" {
            continue;
        }
        let (catalog, schema) = match entry.split_once('.') {
            Some((c, s)) => (c.to_string(), s.to_string()),
            None => (names.catalog.to_string(), entry.to_string()),
        };
        let Some(registered) = names.registry.get(&catalog) else {
            continue;
        };
        use datafusion::catalog::CatalogProvider;
        let exists = registered.lake.schema_names().contains(&schema);
        if exists {
            chosen = Some((catalog, schema));
            break;
        }
        chosen.get_or_insert((catalog, schema));
    }
    let (catalog, schema) =
        chosen.unwrap_or_else(|| (names.catalog.to_string(), names.schema.to_string()));
    let state = session.ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    options.catalog.default_catalog = catalog;
    options.catalog.default_schema = schema;
    Ok(())
}
pub(crate) fn not_supported() -> QueryError {
    QueryError::new(ErrorKind::FeatureNotSupported, "statement not supported")
}

pub(crate) fn show_target(statement: &DFStatement) -> Option<String> {
    match statement {
        DFStatement::Statement(s) => match s.as_ref() {
            SqlStatement::ShowVariable { variable } => Some(
                variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn show(
    session: &Session,
    statement: &DFStatement,
    schema: SchemaRef,
) -> Result<RecordBatch> {
    let name = show_target(statement).ok_or_else(not_supported)?;
    let columns: Vec<Arc<dyn datafusion::arrow::array::Array>> = if name.eq_ignore_ascii_case("all")
    {
        let rows = session.settings.all();
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.2))),
        ]
    } else {
        let value = if name.eq_ignore_ascii_case("transaction isolation level") {
            session.settings.get("transaction_isolation")?
        } else {
            session.settings.get(&name)?
        };
        vec![Arc::new(StringArray::from(vec![value]))]
    };
    RecordBatch::try_new(schema, columns)
        .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))
}

pub(crate) fn single_text_schema(name: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]))
}

pub(crate) fn show_all_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("setting", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
    ]))
}

pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => ident.value.clone(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The text of a SET value: literals, identifiers and negative numbers.
pub(crate) fn expr_text(expr: &SqlExpr) -> Result<String> {
    match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            Value::Number(n, _) => Ok(n.to_string()),
            Value::Boolean(b) => Ok(if *b { "on" } else { "off" }.into()),
            other => Ok(other.to_string()),
        },
        SqlExpr::Identifier(ident) => Ok(ident.value.clone()),
        SqlExpr::CompoundIdentifier(idents) => Ok(idents
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".")),
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => Ok(format!("-{}", expr_text(expr)?)),
        other => Err(QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("SET expects a literal value, got {other}"),
        )),
    }
}
