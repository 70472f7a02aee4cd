//! Decisions on what a principal may do besides reading: the one place the planner
//! asks for table creation, compaction, semantic tables, administration and the
//! privileges catalogs report. Reads are decided by the `SecureScans` analyzer rule
//! (rules/), which calls [`Policy::table_access`](super::Policy::table_access).
//!
//! A new kind of decision is a new [`Action`] here; callers name the action, never the
//! grant it needs.

use super::{ColumnAction, PolicyStore};
use crate::Subject;
use crate::error::PermissionDenied;

/// Something a user asks to do that the policy may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// CREATE TABLE [AS] of this `catalog.schema.table`: its `create` grant.
    CreateTable(&'a str),
    /// Writing rows into this table: its `insert` grant.
    Insert(&'a str),
    /// Compacting this table (`CALL system.optimize`): it rewrites the table's files,
    /// so it needs the `insert` grant.
    Optimize(&'a str),
    /// Reading this semantic table: its `select` grant (its base tables are then
    /// secured as any query's).
    ReadSemanticTable(&'a str),
    /// Administering this gateway object (killing other users' queries listed in
    /// `system.runtime.queries`): its `admin` grant.
    Administer(&'a str),
}

impl Action<'_> {
    /// The object and the grant the action needs.
    fn grant(&self) -> (&str, &'static str) {
        match *self {
            Action::CreateTable(table) => (table, "create"),
            Action::Insert(table) | Action::Optimize(table) => (table, "insert"),
            Action::ReadSemanticTable(table) => (table, "select"),
            Action::Administer(object) => (object, "admin"),
        }
    }

    /// The error a refused action gets.
    fn refusal(&self) -> String {
        match *self {
            Action::CreateTable(table) => format!("permission denied to create table {table}"),
            Action::Insert(table) => format!("permission denied for table {table}"),
            Action::Optimize(table) => {
                format!("permission denied to optimize {table} (it needs the insert grant)")
            }
            Action::ReadSemanticTable(table) => format!("permission denied for table {table}"),
            Action::Administer(object) => format!("permission denied to administer {object}"),
        }
    }
}

impl PolicyStore {
    /// Whether `user` may do `action` under the policy in force.
    pub fn permits<'a>(&self, who: impl Into<Subject<'a>>, action: Action<'_>) -> bool {
        let (object, grant) = action.grant();
        self.current().allows(who, object, grant)
    }

    /// `Ok` when `user` may do `action`; otherwise the permission error naming it
    /// (SQLSTATE 42501 on Postgres wire, PERMISSION_DENIED on Flight SQL).
    pub fn authorize<'a>(
        &self,
        who: impl Into<Subject<'a>>,
        action: Action<'_>,
    ) -> Result<(), PermissionDenied> {
        if self.permits(who, action) {
            Ok(())
        } else {
            Err(PermissionDenied {
                message: action.refusal(),
            })
        }
    }

    /// The roles `user` holds under the policy in force.
    pub fn roles_of<'a>(&self, who: impl Into<Subject<'a>>) -> Vec<String> {
        self.current().roles(who)
    }

    /// Whether a column rule denies `user` the column `column` of `table` (a column a
    /// query cannot find is then reported as denied, not as missing).
    pub fn denies_column<'a>(
        &self,
        who: impl Into<Subject<'a>>,
        table: &str,
        column: &str,
    ) -> bool {
        self.current()
            .column_rule(who, table, column)
            .is_some_and(|rule| rule.action == ColumnAction::Deny)
    }
}
