//! A statement as frontends hold it between Parse and Execute: its kind, parameter
//! types and result schema; and what executing it returns.

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use crate::session::cursors::declare_spec;
use crate::statements::copy::{CopyOptions, copy_spec};
use crate::{ErrorKind, QueryError, Result};

/// What kind of statement a [`Prepared`] holds; frontends use it for command tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// A query or EXPLAIN: returns rows.
    Query,
    /// SHOW: returns one row.
    Show,
    /// SET / RESET / DISCARD and other session commands.
    Session,
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT / END.
    Commit,
    /// ROLLBACK / ABORT.
    Rollback,
    /// SAVEPOINT name.
    Savepoint,
    /// RELEASE [SAVEPOINT] name.
    Release,
    /// ROLLBACK TO [SAVEPOINT] name: allowed in a failed transaction block.
    RollbackTo,
    /// DECLARE name CURSOR FOR query.
    Declare,
    /// FETCH n FROM cursor: returns rows.
    Fetch,
    /// CLOSE cursor | ALL.
    Close,
    /// COPY … TO STDOUT: returns COPY data.
    Copy,
    /// DEALLOCATE [PREPARE] name | ALL: drops protocol-level prepared statements.
    Deallocate,
    /// CALL procedure(…): the gateway's procedures (`system.kill_query`).
    Call,
    /// INSERT or CREATE TABLE [AS]: writes into an Iceberg table, one snapshot.
    Write,
}

/// A parsed and described statement, ready to be executed (possibly many times).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The statement's text, for logs.
    pub sql: String,
    pub(crate) statement: DFStatement,
    /// What it is.
    pub kind: StatementKind,
    /// Parameter types in `$n` order, `None` where they cannot be inferred.
    pub param_types: Vec<Option<DataType>>,
    /// The result's schema, or `None` when the statement returns no rows.
    pub schema: Option<SchemaRef>,
    /// Its secured plan, kept for the next executions (shared by clones).
    pub(crate) plans: crate::statements::plan_slot::PlanSlot,
}

/// The result of executing one statement.
pub enum Outcome {
    /// Rows, streamed.
    Rows {
        /// Command tag (`SELECT`, `SHOW`, `EXPLAIN`).
        tag: &'static str,
        /// The stream; its schema equals the prepared schema.
        stream: SendableRecordBatchStream,
    },
    /// A command without rows, with its tag (`SET`, `RESET`, `DISCARD ALL`).
    Command(String),
    /// A write, with its tag (`INSERT 0 5`) and the rows it wrote.
    Modified {
        /// The PostgreSQL command tag.
        tag: String,
        /// Rows written.
        rows: u64,
    },
    /// A transaction started.
    Begin,
    /// A transaction ended with COMMIT.
    Commit,
    /// A transaction ended with ROLLBACK.
    Rollback,
    /// ROLLBACK TO SAVEPOINT: the block is usable again, even after an error.
    RollbackTo,
    /// DEALLOCATE: the frontend drops this prepared statement (`None`: all of them).
    Deallocate(Option<String>),
    /// COPY TO STDOUT: rows to encode in a COPY format.
    Copy {
        /// The rows; their schema says how many columns each has.
        stream: SendableRecordBatchStream,
        /// Text, CSV or binary, with the statement's options.
        options: CopyOptions,
    },
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Rows { tag, .. } => write!(f, "Rows({tag})"),
            Outcome::Command(tag) => write!(f, "Command({tag})"),
            Outcome::Modified { tag, .. } => write!(f, "Modified({tag})"),
            Outcome::Begin => write!(f, "Begin"),
            Outcome::Commit => write!(f, "Commit"),
            Outcome::Rollback => write!(f, "Rollback"),
            Outcome::RollbackTo => write!(f, "RollbackTo"),
            Outcome::Deallocate(name) => write!(f, "Deallocate({name:?})"),
            Outcome::Copy { options, .. } => write!(f, "Copy({:?})", options.format),
        }
    }
}

/// The sqlparser statement inside a DataFusion statement.
pub(crate) fn sql_statement(statement: &DFStatement) -> Result<&SqlStatement> {
    match statement {
        DFStatement::Statement(s) => Ok(s.as_ref()),
        _ => Err(QueryError::new(
            ErrorKind::Internal,
            "expected a PostgreSQL statement",
        )),
    }
}

/// The query a DECLARE or COPY runs.
pub(crate) fn inner_query(statement: &DFStatement, kind: StatementKind) -> Result<DFStatement> {
    let inner = match kind {
        StatementKind::Declare => declare_spec(sql_statement(statement)?)?.1,
        StatementKind::Copy => copy_spec(sql_statement(statement)?)?.query,
        _ => return Ok(statement.clone()),
    };
    Ok(DFStatement::Statement(Box::new(inner)))
}

/// What kind of statement this is.
pub(crate) fn classify(statement: &DFStatement) -> StatementKind {
    let statement = match statement {
        DFStatement::Statement(statement) => statement,
        DFStatement::Reset(_) => return StatementKind::Session,
        _ => return StatementKind::Query,
    };
    match statement.as_ref() {
        SqlStatement::ShowVariable { .. } => StatementKind::Show,
        SqlStatement::Set(_) | SqlStatement::Reset(_) | SqlStatement::Discard { .. } => {
            StatementKind::Session
        }
        SqlStatement::StartTransaction { .. } => StatementKind::Begin,
        SqlStatement::Commit { .. } => StatementKind::Commit,
        SqlStatement::Rollback {
            savepoint: Some(_), ..
        } => StatementKind::RollbackTo,
        SqlStatement::Rollback { .. } => StatementKind::Rollback,
        SqlStatement::Savepoint { .. } => StatementKind::Savepoint,
        SqlStatement::ReleaseSavepoint { .. } => StatementKind::Release,
        SqlStatement::Declare { .. } => StatementKind::Declare,
        SqlStatement::Fetch { .. } => StatementKind::Fetch,
        SqlStatement::Close { .. } => StatementKind::Close,
        SqlStatement::Copy { .. } => StatementKind::Copy,
        SqlStatement::Deallocate { .. } => StatementKind::Deallocate,
        SqlStatement::Call(_) => StatementKind::Call,
        SqlStatement::Insert(_) | SqlStatement::CreateTable(_) => StatementKind::Write,
        _ => StatementKind::Query,
    }
}

/// The types of the `$n` parameters, in order.
pub(crate) fn param_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types()?;
    // `$1::BIGINT` types its placeholder as PostgreSQL does, where DataFusion could not.
    for (id, data_type) in cast_placeholder_types(plan)? {
        if let Some(slot @ None) = types.get_mut(&id) {
            *slot = Some(data_type);
        }
    }
    // A gap is a parameter the statement does not use (a catalog rewrite may drop the
    // subquery that held it): its type is whatever the client declares.
    let mut ordered = Vec::with_capacity(types.len());
    for (id, data_type) in types {
        let index = id
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=u16::MAX as usize).contains(n))
            .ok_or_else(|| {
                QueryError::new(
                    ErrorKind::Syntax,
                    format!("parameter {id} is not of the form $1, $2, …"),
                )
            })?;
        if ordered.len() < index {
            ordered.resize(index, None);
        }
        ordered[index - 1] = data_type;
    }
    Ok(ordered)
}

/// Placeholders that appear directly under a cast, with the cast's target type.
fn cast_placeholder_types(plan: &LogicalPlan) -> Result<Vec<(String, DataType)>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Cast, TryCast};
    let mut found = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let (inner, data_type) = match e {
                    Expr::Cast(Cast { expr, data_type }) => (expr, data_type),
                    Expr::TryCast(TryCast { expr, data_type }) => (expr, data_type),
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Expr::Placeholder(p) = inner.as_ref() {
                    found.push((p.id.clone(), data_type.clone()));
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(found)
}
