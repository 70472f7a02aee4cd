//! Transaction blocks, savepoints and transaction characteristics.
//!
//! The gateway only reads, and every statement reads committed snapshots, so a
//! transaction has nothing to undo. What a transaction block scopes is client-visible
//! state: its savepoints, the cursors declared in it, and `transaction_isolation`.

use datafusion::sql::sqlparser::ast::{
    Ident, Statement as SqlStatement, TransactionAccessMode, TransactionIsolationLevel,
    TransactionMode,
};

use crate::session::Session;
use crate::session::transaction::TransactionBlock;
use crate::statements::prepared::Outcome;
use crate::{ErrorKind, QueryError, Result};

/// BEGIN, COMMIT, ROLLBACK [TO SAVEPOINT], SAVEPOINT and RELEASE.
pub(crate) fn transaction_command(
    session: &mut Session,
    statement: &SqlStatement,
) -> Result<Outcome> {
    match statement {
        SqlStatement::StartTransaction { modes, .. } => {
            apply_modes(session, modes, false)?;
            if session.transaction.is_none() {
                session.transaction = Some(TransactionBlock::default());
            }
            Ok(Outcome::Begin)
        }
        SqlStatement::Commit { .. } => {
            session.end_transaction();
            Ok(Outcome::Commit)
        }
        SqlStatement::Rollback {
            savepoint: None, ..
        } => {
            session.end_transaction();
            Ok(Outcome::Rollback)
        }
        SqlStatement::Rollback {
            savepoint: Some(name),
            ..
        } => {
            let block = in_block(session, "ROLLBACK TO SAVEPOINT")?;
            let at = find(block, name)?;
            block.savepoints.truncate(at + 1);
            session.cursors.close_declared_after(at + 1);
            Ok(Outcome::RollbackTo)
        }
        SqlStatement::Savepoint { name } => {
            let block = in_block(session, "SAVEPOINT")?;
            block.savepoints.push(name.value.clone());
            Ok(Outcome::Command("SAVEPOINT".into()))
        }
        SqlStatement::ReleaseSavepoint { name } => {
            let block = in_block(session, "RELEASE SAVEPOINT")?;
            let at = find(block, name)?;
            block.savepoints.truncate(at);
            Ok(Outcome::Command("RELEASE".into()))
        }
        _ => Err(QueryError::new(
            ErrorKind::Internal,
            "not a transaction statement",
        )),
    }
}
fn in_block<'a>(session: &'a mut Session, command: &str) -> Result<&'a mut TransactionBlock> {
    session.transaction.as_mut().ok_or_else(|| {
        QueryError::new(
            ErrorKind::NoActiveTransaction,
            format!("{command} can only be used in transaction blocks"),
        )
    })
}

fn find(block: &TransactionBlock, name: &Ident) -> Result<usize> {
    block
        .savepoints
        .iter()
        .rposition(|s| s == &name.value)
        .ok_or_else(|| {
            QueryError::new(
                ErrorKind::InvalidSavepoint,
                format!("savepoint \"{}\" does not exist", name.value),
            )
        })
}

/// Applies `ISOLATION LEVEL …` and `READ ONLY | READ WRITE` of BEGIN, SET TRANSACTION
/// or (with `session`) SET SESSION CHARACTERISTICS AS TRANSACTION.
pub(crate) fn apply_modes(
    session: &mut Session,
    modes: &[TransactionMode],
    session_default: bool,
) -> Result<()> {
    for mode in modes {
        match mode {
            // Writes commit when their statement ends (one Iceberg snapshot each),
            // whatever the block's access mode.
            TransactionMode::AccessMode(
                TransactionAccessMode::ReadOnly | TransactionAccessMode::ReadWrite,
            ) => {}
            TransactionMode::IsolationLevel(level) => {
                let name = match level {
                    TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                    TransactionIsolationLevel::ReadCommitted => "read committed",
                    TransactionIsolationLevel::RepeatableRead => "repeatable read",
                    TransactionIsolationLevel::Serializable => "serializable",
                    TransactionIsolationLevel::Snapshot => {
                        return Err(QueryError::new(
                            ErrorKind::FeatureNotSupported,
                            "isolation level SNAPSHOT is not supported",
                        ));
                    }
                };
                if session_default {
                    session
                        .settings
                        .set("default_transaction_isolation", name.into())?;
                }
                session.settings.set("transaction_isolation", name.into())?;
            }
        }
    }
    Ok(())
}
