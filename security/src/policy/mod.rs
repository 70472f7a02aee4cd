//! Casbin policies: table grants and role membership (Casbin `p` and `g` lines), row
//! filters (`p2`) and column rules (`p3`) in one policy file, hot-reloadable.
//!
//! Default deny: a table is readable only when a `p … select, allow` line matches it
//! through the user or one of its roles, and no `deny` line does.

mod actions;
mod error;
pub mod lookups;
mod parse;
pub mod pattern;
mod statistics;
mod store;
mod table_name;
pub mod tags;

use std::collections::BTreeSet;

use casbin::{CoreApi, Enforcer, RbacApi};

use crate::Subject;

pub use actions::Action;
pub use error::PolicyLoadError;
pub use statistics::StatisticsMode;
pub use store::{
    PolicySource, PolicyStore, PolicyTexts, PolicyValidator, PolicyVersion, tags_file_beside,
};
pub use table_name::governed_table;

/// The model every policy file is read with (documented in `config/model.conf`).
pub const DEFAULT_MODEL: &str = include_str!("../../../config/model.conf");
/// The demo tags file, beside the demo policy.
pub const DEMO_TAGS: &str = include_str!("../../../config/tags.csv");
/// The demo policy used when the configuration names no policy file.
pub const DEMO_POLICY: &str = include_str!("../../../config/policy.csv");

/// A row filter: rows of matching tables visible to `subject` must satisfy `expression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFilterRule {
    /// `file:line`, reported in audit records.
    pub id: String,
    /// User or role.
    pub subject: String,
    /// `catalog.schema.table` pattern.
    pub table: String,
    /// SQL boolean expression over the table's columns; `${user.ATTR}` binds an attribute.
    pub expression: String,
    /// The tables the expression's subqueries look up (`catalog.schema.table`), told
    /// once at load: empty for a filter over the table's own columns.
    pub looks_up: Vec<String>,
}

/// A column rule: deny or mask matching columns for `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRule {
    /// `file:line`, reported in audit records.
    pub id: String,
    /// User or role.
    pub subject: String,
    /// `catalog.schema.table.column` pattern.
    pub column: String,
    /// What happens to the column.
    pub action: ColumnAction,
}

/// Deny or mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnAction {
    /// Hidden from `SELECT *` and catalogs; naming it is a 42501 error.
    Deny,
    /// Replaced by a mask of the same name and type.
    Mask(MaskKind),
}

/// The masks a column rule can apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskKind {
    /// Strings become `'****'`, numbers 0, dates and times the epoch.
    Redact,
    /// NULL of the column's type.
    Null,
    /// Hex SHA-256 of the value (string columns).
    Hash,
    /// All but the last four characters replaced by `X`.
    ShowLast4,
    /// All but the first four characters replaced by `X`.
    ShowFirst4,
    /// The local part of an e-mail address hidden: `a****@example.com`.
    Email,
    /// Dates and timestamps truncated to the first day of their year.
    DateToYear,
    /// Any SQL expression over the table's columns, e.g. `upper(c_name)`.
    Sql(String),
}

impl MaskKind {
    /// Parses a mask name or `sql:EXPRESSION`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "redact" => MaskKind::Redact,
            "null" => MaskKind::Null,
            "hash" => MaskKind::Hash,
            "show-last-4" => MaskKind::ShowLast4,
            "show-first-4" => MaskKind::ShowFirst4,
            "email" => MaskKind::Email,
            "date-to-year" => MaskKind::DateToYear,
            other => match other.strip_prefix("sql:") {
                Some(expr) if !expr.trim().is_empty() => MaskKind::Sql(expr.trim().to_string()),
                _ => {
                    return Err(format!(
                        "unknown mask {other:?} (redact, null, hash, show-last-4, show-first-4, email, date-to-year, sql:EXPRESSION)"
                    ));
                }
            },
        })
    }
}

impl std::fmt::Display for MaskKind {
    /// The name [`MaskKind::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaskKind::Redact => f.write_str("redact"),
            MaskKind::Null => f.write_str("null"),
            MaskKind::Hash => f.write_str("hash"),
            MaskKind::ShowLast4 => f.write_str("show-last-4"),
            MaskKind::ShowFirst4 => f.write_str("show-first-4"),
            MaskKind::Email => f.write_str("email"),
            MaskKind::DateToYear => f.write_str("date-to-year"),
            MaskKind::Sql(sql) => write!(f, "sql:{sql}"),
        }
    }
}

/// How a principal may read one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAccess {
    /// Not granted (or denied).
    Denied,
    /// Every row.
    AllRows,
    /// Rows satisfying any of these filters (OR), by rule.
    Filtered(Vec<RowFilterRule>),
}

/// Casbin answers a policy keeps at most (then it starts over).
const MAX_DECISIONS: usize = 65_536;

/// One loaded policy: an immutable snapshot that queries read while a reload builds the
/// next one.
pub struct Policy {
    enforcer: Enforcer,
    /// Casbin's answers, by subject, object and action: the policy never changes, and
    /// every statement asks again for each table it reads.
    decisions: std::sync::RwLock<std::collections::HashMap<(String, String, String), bool>>,
    /// `p` lines: (subject, object pattern, action, allow?).
    grants: Vec<(String, String, String, bool)>,
    objects: Vec<(String, String)>,
    filters: Vec<RowFilterRule>,
    columns: Vec<ColumnRule>,
    /// `g` lines: (member, role).
    memberships: Vec<(String, String)>,
    /// Column tags, from the tags file beside the policy.
    tags: Vec<tags::ColumnTag>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("filters", &self.filters.len())
            .field("columns", &self.columns.len())
            .finish()
    }
}

fn obj_match(name: casbin::rhai::Dynamic, pattern: casbin::rhai::Dynamic) -> casbin::rhai::Dynamic {
    let name = name.into_string().unwrap_or_default();
    let pattern = pattern.into_string().unwrap_or_default();
    pattern::matches(&name, &pattern).into()
}

impl Policy {
    /// Builds a policy from model and policy text; `file` names the policy in errors.
    pub async fn from_text(model: &str, file: &str, policy: &str) -> Result<Self, PolicyLoadError> {
        Self::from_texts(model, file, policy, None).await
    }

    /// [`Policy::from_text`] with a tags file (its name, for errors, and its text).
    pub async fn from_texts(
        model: &str,
        file: &str,
        policy: &str,
        tags: Option<(&str, &str)>,
    ) -> Result<Self, PolicyLoadError> {
        let tags = match tags {
            Some((name, text)) => tags::parse_tags(name, text).map_err(PolicyLoadError::Line)?,
            None => Vec::new(),
        };
        let parsed = parse::parse(file, policy).map_err(PolicyLoadError::Line)?;
        let model = casbin::DefaultModel::from_str(model)
            .await
            .map_err(|e| PolicyLoadError::Model(e.to_string()))?;
        let adapter = casbin::StringAdapter::new(parsed.casbin_lines.join("\n"));
        let mut enforcer =
            Enforcer::new(model, adapter)
                .await
                .map_err(|e| PolicyLoadError::Enforcer {
                    file: file.to_string(),
                    message: e.to_string(),
                })?;
        enforcer.add_function(
            "objMatch",
            casbin::function_map::OperatorFunction::Arg2(obj_match),
        );
        let policy = Self {
            enforcer,
            decisions: Default::default(),
            grants: parsed.grants,
            objects: parsed.objects,
            filters: parsed.filters,
            columns: parsed.columns,
            memberships: parsed.memberships,
            tags,
        };
        // Evaluate once so a model whose matcher cannot run fails now, not per query.
        policy
            .enforcer
            .enforce(("", "x.y.z", "select"))
            .map_err(|e| PolicyLoadError::Matcher(e.to_string()))?;
        policy.check_rules_apply().map_err(PolicyLoadError::Line)?;
        lookups::check_no_cycles(&policy.filters).map_err(PolicyLoadError::Line)?;
        Ok(policy)
    }

    /// Refuses row filters and column rules that can never apply: a row filter applies
    /// through the select grant its own subject holds (not one inherited from a role),
    /// and a column rule needs its subject to read the table at all (a grant of its
    /// own or of one of its roles).
    fn check_rules_apply(&self) -> Result<(), String> {
        let granted = |subject: &str, table: &str| {
            self.grants.iter().any(|(sub, pattern, act, allow)| {
                *allow && sub == subject && act == "select" && pattern::overlaps(table, pattern)
            })
        };
        for filter in &self.filters {
            if !granted(&filter.subject, &filter.table) {
                return Err(format!(
                    "{}: the row filter for {} on {} never applies: {} has no select grant \
                     of its own on it (a filter applies through its subject's own `p` \
                     line; roles it inherits from are judged by their own filters)",
                    filter.id, filter.subject, filter.table, filter.subject
                ));
            }
        }
        for rule in &self.columns {
            if let Some(tag) = tags::rule_tag(&rule.column) {
                if !self.tags.iter().any(|t| t.tags.iter().any(|x| x == tag)) {
                    return Err(format!(
                        "{}: the column rule for {} on {} never applies: no column is \
                         tagged {tag} (tags.csv beside the policy)",
                        rule.id, rule.subject, rule.column
                    ));
                }
                continue;
            }
            let table = rule.column.rsplit_once('.').map_or("", |(t, _)| t);
            if !self
                .subjects(&rule.subject)
                .iter()
                .any(|subject| granted(subject, table))
            {
                return Err(format!(
                    "{}: the column rule for {} on {} never applies: neither {} nor its \
                     roles have a select grant on {table}",
                    rule.id, rule.subject, rule.column, rule.subject
                ));
            }
        }
        Ok(())
    }

    /// The number of grants (`p` lines).
    pub fn grant_count(&self) -> usize {
        self.grants.len()
    }

    /// Whether some row filter of `who` (its own or a role's) looks other tables up.
    pub fn has_lookups<'a>(&self, who: impl Into<Subject<'a>>) -> bool {
        if self.filters.iter().all(|f| f.looks_up.is_empty()) {
            return false;
        }
        let subjects = self.subjects(who);
        self.filters
            .iter()
            .any(|f| !f.looks_up.is_empty() && subjects.contains(&f.subject))
    }

    /// The row filters (`p2` lines), in file order.
    pub fn row_filters(&self) -> &[RowFilterRule] {
        &self.filters
    }

    /// The column rules (`p3` lines), in file order.
    pub fn column_rules(&self) -> &[ColumnRule] {
        &self.columns
    }

    /// The tables the policy names without wildcards, with the id of the line naming
    /// them: a deployment checks they exist.
    pub fn literal_tables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.objects
            .iter()
            .filter(|(_, table)| !table.contains(['*', '?']))
            .map(|(id, table)| (id.as_str(), table.as_str()))
    }

    /// Every user and role the policy names: subjects of its rules, and both sides of
    /// its role memberships.
    pub fn principals(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.grants.iter().map(|g| g.0.clone()).collect();
        names.extend(self.filters.iter().map(|f| f.subject.clone()));
        names.extend(self.columns.iter().map(|c| c.subject.clone()));
        for (member, role) in &self.memberships {
            names.insert(member.clone());
            names.insert(role.clone());
        }
        names
    }

    /// The rules `principal` is subject to, its own and its roles', each as a line of
    /// text without its file position (so that two policies compare by meaning, not
    /// by layout): `member of R`, `ACTION on PATTERN (allow|deny)`, `row filter on
    /// PATTERN: EXPR`, `COLUMN: deny|mask KIND`.
    pub fn effective_rules(&self, principal: &str) -> BTreeSet<String> {
        let subjects = self.subjects(principal);
        let mut rules: BTreeSet<String> = subjects
            .iter()
            .skip(1)
            .map(|role| format!("member of {role}"))
            .collect();
        for (subject, object, action, allow) in &self.grants {
            if subjects.contains(subject) {
                let effect = if *allow { "allow" } else { "deny" };
                rules.insert(format!("{action} on {object} ({effect})"));
            }
        }
        for filter in self
            .filters
            .iter()
            .filter(|f| subjects.contains(&f.subject))
        {
            rules.insert(format!(
                "row filter on {} (through {}): {}",
                filter.table, filter.subject, filter.expression
            ));
        }
        for rule in self
            .columns
            .iter()
            .filter(|r| subjects.contains(&r.subject))
        {
            let action = match &rule.action {
                ColumnAction::Deny => "deny".to_string(),
                ColumnAction::Mask(kind) => format!("mask {kind}"),
            };
            rules.insert(format!("{}: {action}", rule.column));
        }
        rules
    }

    /// The user and every role it holds, directly or through other roles: the `g`
    /// lines' roles, and those its identity provider asserted with theirs.
    pub fn subjects<'a>(&self, who: impl Into<Subject<'a>>) -> Vec<String> {
        let who = who.into();
        let mut subjects = vec![who.user.to_string()];
        let mut roles: BTreeSet<String> = self
            .enforcer
            .get_implicit_roles_for_user(who.user, None)
            .into_iter()
            .collect();
        for role in who.roles {
            roles.insert(role.clone());
            roles.extend(self.enforcer.get_implicit_roles_for_user(role, None));
        }
        roles.remove(who.user);
        subjects.extend(roles);
        subjects
    }

    /// The roles a user holds (without the user itself).
    pub fn roles<'a>(&self, who: impl Into<Subject<'a>>) -> Vec<String> {
        self.subjects(who).into_iter().skip(1).collect()
    }

    /// Whether `who` may perform `action` on `object` (Casbin enforce; deny wins). With
    /// roles asserted at login, each of them is asked too, and an explicit deny for any
    /// of the subjects refuses.
    pub fn allows<'a>(&self, who: impl Into<Subject<'a>>, object: &str, action: &str) -> bool {
        let who = who.into();
        if who.roles.is_empty() {
            return self.enforce(who.user, object, action);
        }
        let subjects = self.subjects(who);
        let denied = self.grants.iter().any(|(sub, pattern, act, allow)| {
            !*allow && act == action && subjects.contains(sub) && pattern::matches(object, pattern)
        });
        !denied
            && std::iter::once(who.user)
                .chain(who.roles.iter().map(String::as_str))
                .any(|subject| self.enforce(subject, object, action))
    }

    fn enforce(&self, subject: &str, object: &str, action: &str) -> bool {
        let key = (subject.to_string(), object.to_string(), action.to_string());
        if let Some(allowed) = self
            .decisions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return *allowed;
        }
        let allowed = self
            .enforcer
            .enforce((subject, object, action))
            .unwrap_or_else(|e| {
                // Failing to evaluate is a denial, never an open door.
                tracing::error!(error = %e, subject, object, action, "policy evaluation failed");
                false
            });
        let mut decisions = self.decisions.write().unwrap_or_else(|e| e.into_inner());
        if decisions.len() >= MAX_DECISIONS {
            decisions.clear();
        }
        decisions.insert(key, allowed);
        allowed
    }

    /// How `who` may read `table` (`catalog.schema.table`).
    ///
    /// Combination rule: if any of the user's subjects that is granted the table has no
    /// row filter on it, all rows are visible; otherwise the rows of the OR of the
    /// filters of the granted subjects.
    pub fn table_access<'a>(&self, who: impl Into<Subject<'a>>, table: &str) -> TableAccess {
        let who = who.into();
        if !self.allows(who, table, "select") {
            return TableAccess::Denied;
        }
        let mut filters = Vec::new();
        for subject in self.subjects(who) {
            // Only a subject's own grant counts here: roles it inherits from are
            // subjects of their own in this loop.
            if !self.grants_directly(&subject, table, "select") {
                continue;
            }
            let own: Vec<&RowFilterRule> = self
                .filters
                .iter()
                .filter(|f| f.subject == subject && pattern::matches(table, &f.table))
                .collect();
            if own.is_empty() {
                return TableAccess::AllRows;
            }
            filters.extend(own.into_iter().cloned());
        }
        if filters.is_empty() {
            // Allowed by Casbin, yet no subject holds a grant of its own: only possible
            // with a custom model. Stay closed.
            return TableAccess::Denied;
        }
        TableAccess::Filtered(filters)
    }

    fn grants_directly(&self, subject: &str, object: &str, action: &str) -> bool {
        self.grants.iter().any(|(sub, pattern, act, allow)| {
            *allow && sub == subject && act == action && pattern::matches(object, pattern)
        })
    }

    /// The rule for one column, if any: deny beats mask; among masks the first in the
    /// file applies.
    pub fn column_rule<'a>(
        &self,
        who: impl Into<Subject<'a>>,
        table: &str,
        column: &str,
    ) -> Option<&ColumnRule> {
        self.column_rule_for(&self.subjects(who), table, column)
    }

    /// Whether any column of `table` has a mask or a denial for one of `subjects`.
    pub fn has_column_rules(&self, subjects: &[String], table: &str) -> bool {
        self.columns.iter().any(|r| {
            subjects.contains(&r.subject)
                && match tags::rule_tag(&r.column) {
                    Some(tag) => tags::table_may_carry(&self.tags, table, tag),
                    None => r
                        .column
                        .rsplit_once('.')
                        .is_some_and(|(table_pattern, _)| pattern::matches(table, table_pattern)),
                }
        })
    }

    /// The tags of a column (`catalog.schema.table`, `column`).
    pub fn column_tags(&self, table: &str, column: &str) -> BTreeSet<String> {
        tags::tags_of(&self.tags, &format!("{table}.{column}"))
    }

    /// The tags file's lines.
    pub fn tags(&self) -> &[tags::ColumnTag] {
        &self.tags
    }

    /// [`Policy::column_rule`] for subjects already resolved with [`Policy::subjects`]
    /// (resolve once per table, not once per column).
    pub fn column_rule_for(
        &self,
        subjects: &[String],
        table: &str,
        column: &str,
    ) -> Option<&ColumnRule> {
        let name = format!("{table}.{column}");
        let mine = |r: &&ColumnRule| subjects.contains(&r.subject);
        // Rules naming the column (or a pattern of it) first, then rules by its tags.
        let named =
            self.columns.iter().filter(mine).filter(|r| {
                tags::rule_tag(&r.column).is_none() && pattern::matches(&name, &r.column)
            });
        let column_tags = if self.tags.is_empty() {
            BTreeSet::new()
        } else {
            tags::tags_of(&self.tags, &name)
        };
        let tagged = self
            .columns
            .iter()
            .filter(mine)
            .filter(|r| tags::rule_tag(&r.column).is_some_and(|tag| column_tags.contains(tag)));
        let mut rules = named.chain(tagged);
        let first = rules.next()?;
        if first.action == ColumnAction::Deny {
            return Some(first);
        }
        // A denial, named or by tag, beats any mask; among masks the named one, else
        // the first by tag in the file.
        Some(
            rules
                .find(|r| r.action == ColumnAction::Deny)
                .unwrap_or(first),
        )
    }
}
