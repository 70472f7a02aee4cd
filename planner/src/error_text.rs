//! DataFusion and Arrow errors that have no variant of their own, classified by their
//! text: the one table of such matches. Every entry names a statement that provokes it,
//! and the tests below run each one through DataFusion, so an upgrade that rewords a
//! message fails here instead of sending a client the wrong SQLSTATE.

use crate::error_kind::ErrorKind;

/// The DataFusion error variant a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// `DataFusionError::Plan`.
    Plan,
    /// `DataFusionError::NotImplemented`.
    NotImplemented,
    /// `DataFusionError::Execution`, or Arrow's cast, parse and argument errors.
    Data,
    /// `DataFusionError::Internal`: DataFusion's own checks that a planner rule
    /// should have made earlier, some of which user input reaches.
    Internal,
    /// An error of another library passed through (`DataFusionError::External`).
    External,
}

/// One text match.
#[derive(Debug)]
pub(crate) struct TextRule {
    /// The variant the message comes in.
    pub(crate) variant: Variant,
    /// The message starts with this.
    pub(crate) starts_with: &'static str,
    /// And contains this.
    pub(crate) contains: &'static str,
    /// What it is.
    pub(crate) kind: ErrorKind,
    /// A statement that provokes it (after the tests' `CREATE TABLE t (a INT NOT NULL,
    /// b VARCHAR)`).
    #[cfg_attr(not(test), expect(dead_code, reason = "the tests run it"))]
    pub(crate) example: &'static str,
}

impl TextRule {
    fn matches(&self, variant: Variant, message: &str) -> bool {
        self.variant == variant
            && message.starts_with(self.starts_with)
            && message.contains(self.contains)
    }
}

/// The text matches, first match wins.
pub(crate) static TEXT_RULES: &[TextRule] = &[
    TextRule {
        variant: Variant::Plan,
        starts_with: "table '",
        contains: "' not found",
        kind: ErrorKind::UndefinedTable,
        example: "SELECT * FROM no_such_table",
    },
    TextRule {
        variant: Variant::Plan,
        starts_with: "Invalid function",
        contains: "",
        kind: ErrorKind::UndefinedFunction,
        example: "SELECT no_such_function(1)",
    },
    TextRule {
        variant: Variant::Plan,
        starts_with: "",
        contains: "Cannot infer common argument type",
        kind: ErrorKind::DatatypeMismatch,
        example: "SELECT a FROM t WHERE a = make_array(1)",
    },
    TextRule {
        variant: Variant::Plan,
        starts_with: "",
        contains: "No function matches the given name and argument types",
        kind: ErrorKind::DatatypeMismatch,
        example: "SELECT substr(1, 2, 3, 4)",
    },
    TextRule {
        variant: Variant::Plan,
        starts_with: "Column in SELECT must be in GROUP BY or an aggregate function",
        contains: "",
        kind: ErrorKind::Grouping,
        example: "SELECT b, count(*) FROM t",
    },
    TextRule {
        variant: Variant::Plan,
        starts_with: "Column in HAVING must be in GROUP BY or an aggregate function",
        contains: "",
        kind: ErrorKind::Grouping,
        example: "SELECT count(*) FROM t GROUP BY a HAVING b = 'x'",
    },
    TextRule {
        variant: Variant::Data,
        starts_with: "",
        contains: "is declared as non-nullable but contains null values",
        kind: ErrorKind::NotNullViolation,
        example: "INSERT INTO t VALUES (NULL, 'x')",
    },
    TextRule {
        variant: Variant::Data,
        starts_with: "Cannot cast string",
        contains: "",
        kind: ErrorKind::InvalidTextRepresentation,
        example: "SELECT CAST(b AS INT) FROM (VALUES ('abc')) v(b)",
    },
    TextRule {
        variant: Variant::Data,
        starts_with: "Invalid input syntax for type interval",
        contains: "",
        kind: ErrorKind::InvalidDatetimeFormat,
        example: "SELECT CAST(b AS INTERVAL) FROM (VALUES ('ALGERIA')) v(b)",
    },
    TextRule {
        variant: Variant::Internal,
        starts_with: "Failed to coerce types",
        contains: "",
        kind: ErrorKind::UndefinedFunction,
        example: "SELECT * FROM (VALUES (true)) t(x) WHERE x BETWEEN 1 AND x",
    },
    TextRule {
        // A call with no matching signature inside a join's condition or its filter,
        // found when the rewritten plan is coerced again (PostgreSQL: "function
        // round(integer, unknown, unknown) does not exist").
        variant: Variant::Internal,
        starts_with: "",
        contains: "failed to match any signature",
        kind: ErrorKind::UndefinedFunction,
        example: "SELECT count(*) FROM t x FULL JOIN t y ON x.a = y.a \
                  WHERE x.a IS NOT NULL AND round(y.a, '-infinity', 'x') IS NULL",
    },
    TextRule {
        variant: Variant::External,
        starts_with: "regex parse error",
        contains: "",
        kind: ErrorKind::InvalidRegularExpression,
        example: "SELECT regexp_replace(b, '%_\\', 'x') FROM (VALUES ('a')) v(b)",
    },
    TextRule {
        variant: Variant::NotImplemented,
        starts_with: "",
        contains: "does not support logical expression",
        kind: ErrorKind::FeatureNotSupported,
        example: "SELECT a FROM t WHERE a > (SELECT max(x.a) FROM t x WHERE x.a < t.a)",
    },
];

/// The kind of a message in `variant`, if a rule knows it.
pub(crate) fn kind_by_text(variant: Variant, message: &str) -> Option<&'static TextRule> {
    TEXT_RULES
        .iter()
        .find(|rule| rule.matches(variant, message))
}
