//! `CALL` statements: the gateway's procedures. `system.kill_query` (also reachable as
//! Trino's `system.runtime.kill_query`) stops a running query; `system.optimize`
//! compacts a table (see `optimize.rs`, run from the service because it is async).

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
};

use crate::query_registry::{KillRefusal, QueryRegistry};
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

/// The object whose `admin` grant lets a user kill other users' queries.
pub(crate) const RUNTIME_QUERIES: &str = "system.runtime.queries";

/// Runs `CALL name(args)` for `session`; returns the command tag.
pub(crate) async fn call(
    session: &Session,
    function: &Function,
    running: &QueryRegistry,
    may_administer: impl FnOnce() -> bool,
) -> Result<String> {
    let name = function.name.to_string().to_ascii_lowercase();
    match name.as_str() {
        "system.kill_query" | "system.runtime.kill_query" => {
            let args = arguments(&name, function, &["query_id", "message"])?;
            let id = args[0].clone().ok_or_else(|| {
                QueryError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("{name} needs a query_id: CALL {name}('<query id>')"),
                )
            })?;
            kill(session, running, &id, args[1].as_deref(), may_administer).await?;
            Ok("CALL".into())
        }
        _ => Err(QueryError::new(
            ErrorKind::UndefinedFunction,
            format!(
                "procedure {name} does not exist (the gateway has system.kill_query and \
                 system.optimize)"
            ),
        )),
    }
}

/// Kills query `id` when `session`'s user owns it or holds `admin` on
/// `system.runtime.queries`.
async fn kill(
    session: &Session,
    running: &QueryRegistry,
    id: &str,
    message: Option<&str>,
    may_administer: impl FnOnce() -> bool,
) -> Result<()> {
    let user = &session.principal.user;
    let note = match message {
        Some(message) => format!("query {id} was killed by {user}: {message}"),
        None => format!("query {id} was killed by {user}"),
    };
    let mut administer = Some(may_administer);
    let killed = match running.kill(id, note.clone(), |query| {
        &query.who.user == user || administer.take().is_some_and(|allowed| allowed())
    }) {
        Ok(query) => Ok(query.who.user.clone()),
        // Another replica's query, when replicas share a store: it stops there.
        Err(KillRefusal::NotRunning) => {
            running
                .kill_elsewhere(id, &note, |owner| {
                    owner == user || administer.take().is_some_and(|allowed| allowed())
                })
                .await
        }
    };
    match killed {
        Ok(owner) => {
            tracing::info!(query_id = id, by = %user, owner = %owner, "query killed");
            Ok(())
        }
        Err(KillRefusal::NotRunning) => Err(QueryError::new(
            ErrorKind::UndefinedObject,
            format!("query {id} is not running, or is not yours to kill"),
        )),
    }
}

/// The procedure's string arguments in the order of `names`, given by position or by
/// name (`query_id => '…'`).
pub(crate) fn arguments(
    procedure: &str,
    function: &Function,
    names: &[&str],
) -> Result<Vec<Option<String>>> {
    let mut values = vec![None; names.len()];
    let list = match &function.args {
        FunctionArguments::None => return Ok(values),
        FunctionArguments::List(list) => &list.args,
        FunctionArguments::Subquery(_) => {
            return Err(QueryError::new(
                ErrorKind::Syntax,
                format!("{procedure} takes string arguments, not a subquery"),
            ));
        }
    };
    for (position, arg) in list.iter().enumerate() {
        let (slot, value) = match arg {
            FunctionArg::Unnamed(value) => (position, value),
            FunctionArg::Named { name, arg, .. } => (named(procedure, names, &name.value)?, arg),
            FunctionArg::ExprNamed { name, arg, .. } => {
                let Expr::Identifier(name) = name else {
                    return Err(QueryError::new(
                        ErrorKind::Syntax,
                        format!("{procedure}: argument names are identifiers"),
                    ));
                };
                (named(procedure, names, &name.value)?, arg)
            }
        };
        if slot >= names.len() {
            return Err(QueryError::new(
                ErrorKind::Syntax,
                format!(
                    "{procedure} takes at most {} arguments ({})",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        values[slot] = Some(string_literal(procedure, names[slot], value)?);
    }
    Ok(values)
}

fn named(procedure: &str, names: &[&str], name: &str) -> Result<usize> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            QueryError::new(
                ErrorKind::Syntax,
                format!(
                    "{procedure} has no argument {name} (it takes {})",
                    names.join(", ")
                ),
            )
        })
}

fn string_literal(procedure: &str, name: &str, arg: &FunctionArgExpr) -> Result<String> {
    if let FunctionArgExpr::Expr(Expr::Value(value)) = arg {
        match &value.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s) => return Ok(s.clone()),
            _ => {}
        }
    }
    Err(QueryError::new(
        ErrorKind::DatatypeMismatch,
        format!("{procedure}: {name} must be a string literal, not {arg}"),
    ))
}
