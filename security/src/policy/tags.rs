//! Column classification tags (`PII`, `FINANCIAL`…), declared once in a tags file beside
//! the policy (`tags.csv`: `catalog.schema.table.column pattern, TAG[, TAG…]` per line),
//! so that a policy line can mask or deny by tag (`p3, role:analyst, tag:PII, mask,
//! sha256`) and a table created later whose columns match is covered without an edit.

use std::collections::BTreeSet;

use super::pattern;

/// One line of a tags file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnTag {
    /// `file:line`.
    pub id: String,
    /// `catalog.schema.table.column` pattern (`*` and `?` allowed per segment).
    pub column: String,
    /// The tags of every column the pattern matches.
    pub tags: Vec<String>,
}

/// The object of a column rule by tag: `tag:PII` → `PII`.
pub fn rule_tag(object: &str) -> Option<&str> {
    object.strip_prefix("tag:")
}

/// Whether `tag` is a valid tag name: letters, digits, `_` and `-`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads a tags file; an error names `file:line`.
pub fn parse_tags(file: &str, text: &str) -> Result<Vec<ColumnTag>, String> {
    let mut tags = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let id = format!("{file}:{}", index + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 2 {
            return Err(format!(
                "{id}: a tags line is `catalog.schema.table.column, TAG[, TAG…]`"
            ));
        }
        pattern::validate(fields[0], 4).map_err(|e| format!("{id}: {e}"))?;
        let mut names = Vec::new();
        for tag in &fields[1..] {
            if !valid_tag(tag) {
                return Err(format!(
                    "{id}: {tag:?} is not a tag name (letters, digits, _ and -)"
                ));
            }
            names.push(tag.to_string());
        }
        tags.push(ColumnTag {
            id,
            column: fields[0].to_string(),
            tags: names,
        });
    }
    Ok(tags)
}

/// The tags of column `name` (`catalog.schema.table.column`).
pub fn tags_of(tags: &[ColumnTag], name: &str) -> BTreeSet<String> {
    tags.iter()
        .filter(|t| pattern::matches(name, &t.column))
        .flat_map(|t| t.tags.iter().cloned())
        .collect()
}

/// Whether some column of `table` may carry `tag`.
pub(crate) fn table_may_carry(tags: &[ColumnTag], table: &str, tag: &str) -> bool {
    tags.iter().any(|t| {
        t.tags.iter().any(|x| x == tag)
            && t.column
                .rsplit_once('.')
                .is_some_and(|(table_pattern, _)| pattern::overlaps(table, table_pattern))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_files_are_read_and_matched_by_pattern() {
        let tags = parse_tags(
            "tags.csv",
            "# classification\nlake.*.*.*email*, PII\nlake.tpch.customer.c_acctbal, FINANCIAL, PII\n",
        )
        .expect("parses");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].id, "tags.csv:2");
        assert_eq!(
            tags_of(&tags, "lake.crm.contacts.work_email"),
            BTreeSet::from(["PII".to_string()])
        );
        assert_eq!(tags_of(&tags, "lake.tpch.customer.c_acctbal").len(), 2);
        assert!(tags_of(&tags, "lake.tpch.customer.c_name").is_empty());
        assert!(table_may_carry(&tags, "lake.crm.contacts", "PII"));
        assert!(!table_may_carry(&tags, "lake.crm.contacts", "FINANCIAL"));
        for bad in ["lake.x.y, PII", "lake.a.b.c", "lake.a.b.c, P I I"] {
            let err = parse_tags("tags.csv", bad).expect_err(bad);
            assert!(err.starts_with("tags.csv:1:"), "{err}");
        }
    }

    #[tokio::test]
    async fn named_rules_come_before_tag_rules_and_a_denial_beats_any_mask() {
        use crate::policy::{ColumnAction, MaskKind, Policy};
        let policy = Policy::from_texts(
            crate::policy::DEFAULT_MODEL,
            "policy.csv",
            "p, a, lake.s.*, select, allow\n\
             p3, a, lake.s.t.phone, mask, show-last-4\n\
             p3, a, tag:PII, mask, hash\n\
             p3, a, lake.s.t.salary, mask, null\n\
             p3, a, tag:SECRET, deny\n",
            Some((
                "tags.csv",
                "lake.*.*.phone, PII\nlake.*.*.email, PII\nlake.s.t.salary, SECRET\n",
            )),
        )
        .await
        .expect("loads");
        let rule = |column: &str| {
            policy
                .column_rule("a", "lake.s.t", column)
                .map(|r| r.action.clone())
        };
        assert_eq!(rule("phone"), Some(ColumnAction::Mask(MaskKind::ShowLast4)));
        assert_eq!(rule("email"), Some(ColumnAction::Mask(MaskKind::Hash)));
        assert_eq!(rule("salary"), Some(ColumnAction::Deny));
        assert_eq!(rule("name"), None);
        assert!(policy.has_column_rules(&policy.subjects("a"), "lake.other.u"));
        assert_eq!(
            policy.column_tags("lake.s.t", "salary"),
            BTreeSet::from(["SECRET".to_string()])
        );
    }
}
