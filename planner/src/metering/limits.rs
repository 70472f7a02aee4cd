//! Per-user and per-role limits on what one query may do, from `[[finops.limits]]`.

use serde::{Deserialize, Serialize};

/// One limit line: a user (`alice`) or a role (`role:analyst`) and what it caps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLimit {
    /// A user name, or `role:NAME` for everyone holding the role.
    pub subject: String,
    /// The most one query may read from storage, by its estimate before it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scan_bytes: Option<u64>,
    /// The most queries that run at once for this subject (a role's users together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<usize>,
    /// The most queries that wait for a slot; beyond, queries are refused (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queued: Option<usize>,
    /// The longest a query may take, in milliseconds; a session's `statement_timeout`
    /// may only be shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
}

/// The smallest `max_scan_bytes` among the limits that apply to `user` with `roles`,
/// with the subject it comes from.
pub(crate) fn max_scan_bytes<'a>(
    limits: &'a [QueryLimit],
    user: &str,
    roles: &[String],
) -> Option<(u64, &'a str)> {
    limits
        .iter()
        .filter(|l| applies(l, user, roles))
        .filter_map(|l| l.max_scan_bytes.map(|m| (m, l.subject.as_str())))
        .min_by_key(|(m, _)| *m)
}

/// The smallest `statement_timeout_ms` among the limits that apply.
pub(crate) fn statement_timeout_ms(
    limits: &[QueryLimit],
    user: &str,
    roles: &[String],
) -> Option<u64> {
    limits
        .iter()
        .filter(|l| applies(l, user, roles))
        .filter_map(|l| l.statement_timeout_ms)
        .min()
}

fn applies(limit: &QueryLimit, user: &str, roles: &[String]) -> bool {
    limit.subject == user || roles.contains(&limit.subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_applicable_limit_wins() {
        let limits = vec![
            QueryLimit {
                subject: "role:analyst".into(),
                max_scan_bytes: Some(1000),
                ..QueryLimit::default()
            },
            QueryLimit {
                subject: "ann".into(),
                max_scan_bytes: Some(500),
                ..QueryLimit::default()
            },
            QueryLimit {
                subject: "bob".into(),
                max_scan_bytes: Some(10),
                ..QueryLimit::default()
            },
        ];
        let roles = vec!["role:analyst".to_string()];
        assert_eq!(max_scan_bytes(&limits, "ann", &roles), Some((500, "ann")));
        assert_eq!(
            max_scan_bytes(&limits, "carl", &roles),
            Some((1000, "role:analyst"))
        );
        assert_eq!(max_scan_bytes(&limits, "carl", &[]), None);
    }
}
