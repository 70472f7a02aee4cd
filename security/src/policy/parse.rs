//! Reads and validates policy text line by line, so every error names its line.

use super::pattern;
use super::{ColumnAction, ColumnRule, MaskKind, RowFilterRule};

/// What one policy file holds, split by kind.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// `p` and `g` lines for Casbin, in Casbin's CSV form.
    pub(crate) casbin_lines: Vec<String>,
    /// `p` lines: (subject, object pattern, action, allow?).
    pub(crate) grants: Vec<(String, String, String, bool)>,
    /// Every table pattern a line names, with the line's id.
    pub(crate) objects: Vec<(String, String)>,
    pub(crate) filters: Vec<RowFilterRule>,
    pub(crate) columns: Vec<ColumnRule>,
    /// `g` lines: (member, role).
    pub(crate) memberships: Vec<(String, String)>,
}

/// Splits a CSV line; fields may be double-quoted to hold commas (`""` escapes `"`).
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if current.trim().is_empty() => {
                current.clear();
                quoted = true;
                was_quoted = true;
            }
            (',', false) => {
                fields.push(finish(&current, was_quoted));
                current.clear();
                was_quoted = false;
            }
            (c, _) => current.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(finish(&current, was_quoted));
    Ok(fields)
}

fn finish(field: &str, quoted: bool) -> String {
    if quoted {
        field.to_string()
    } else {
        field.trim().to_string()
    }
}

pub(crate) fn parse(file: &str, text: &str) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = format!("{file}:{}", index + 1);
        let fields = split(line).map_err(|e| format!("{id}: {e}"))?;
        let error = |message: String| format!("{id}: {message}");
        let need = |n: usize| {
            if fields.len() == n {
                Ok(())
            } else {
                Err(error(format!(
                    "a {} line has {} fields, found {}",
                    fields[0],
                    n - 1,
                    fields.len() - 1
                )))
            }
        };
        match fields[0].as_str() {
            "p" => {
                need(5)?;
                pattern::validate(&fields[2], 3).map_err(error)?;
                if !matches!(
                    fields[3].as_str(),
                    "select" | "describe" | "insert" | "create" | "admin"
                ) {
                    return Err(error(format!(
                        "unknown action {:?} (select, describe, insert, create, admin)",
                        fields[3]
                    )));
                }
                if !matches!(fields[4].as_str(), "allow" | "deny") {
                    return Err(error(format!(
                        "unknown effect {:?} (allow or deny)",
                        fields[4]
                    )));
                }
                parsed.casbin_lines.push(csv(&fields));
                parsed.objects.push((id.clone(), fields[2].clone()));
                parsed.grants.push((
                    fields[1].clone(),
                    fields[2].clone(),
                    fields[3].clone(),
                    fields[4] == "allow",
                ));
            }
            "g" => {
                need(3)?;
                parsed.casbin_lines.push(csv(&fields));
                parsed
                    .memberships
                    .push((fields[1].clone(), fields[2].clone()));
            }
            "p2" => {
                need(4)?;
                pattern::validate(&fields[2], 3).map_err(error)?;
                if fields[3].is_empty() {
                    return Err(error("a row filter needs an expression".into()));
                }
                parsed.objects.push((id.clone(), fields[2].clone()));
                // The tables the filter looks up must exist too.
                let looks_up = super::lookups::lookup_tables(&fields[3]).map_err(error)?;
                for looked_up in &looks_up {
                    parsed.objects.push((id.clone(), looked_up.clone()));
                }
                parsed.filters.push(RowFilterRule {
                    id: id.clone(),
                    subject: fields[1].clone(),
                    table: fields[2].clone(),
                    expression: fields[3].clone(),
                    looks_up,
                });
            }
            "p3" => {
                if fields.len() != 4 && fields.len() != 5 {
                    return Err(error(format!(
                        "a p3 line is `p3, subject, catalog.schema.table.column, deny` or `…, mask, KIND`, found {} fields",
                        fields.len() - 1
                    )));
                }
                let by_tag = super::tags::rule_tag(&fields[2]);
                match by_tag {
                    Some(tag) if !super::tags::valid_tag(tag) => {
                        return Err(error(format!(
                            "{tag:?} is not a tag name (letters, digits, _ and -)"
                        )));
                    }
                    Some(_) => {}
                    None => pattern::validate(&fields[2], 4).map_err(error)?,
                }
                let action = match (fields[3].as_str(), fields.get(4).map(String::as_str)) {
                    ("deny", None | Some("")) => ColumnAction::Deny,
                    ("mask", Some(kind)) if !kind.is_empty() => {
                        ColumnAction::Mask(MaskKind::parse(kind).map_err(error)?)
                    }
                    (other, _) => {
                        return Err(error(format!(
                            "column action must be `deny` or `mask, KIND`, found {other:?}"
                        )));
                    }
                };
                if by_tag.is_none() {
                    let table = fields[2].rsplit_once('.').map(|(t, _)| t.to_string());
                    parsed.objects.push((id.clone(), table.unwrap_or_default()));
                }
                parsed.columns.push(ColumnRule {
                    id: id.clone(),
                    subject: fields[1].clone(),
                    column: fields[2].clone(),
                    action,
                });
            }
            other => {
                return Err(error(format!(
                    "unknown policy type {other:?} (p, p2, p3 or g)"
                )));
            }
        }
    }
    Ok(parsed)
}

fn csv(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains(',') || f.contains('"') {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        assert_eq!(
            split(r#"p2, role:a, lake.tpch.nation, "n_name IN ('A', 'B')""#).expect("split"),
            vec!["p2", "role:a", "lake.tpch.nation", "n_name IN ('A', 'B')"]
        );
        assert!(split(r#"p2, a, "open"#).is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("policy.csv", "# c\np, a, lake.tpch.*, select\n").expect_err("arity");
        assert!(err.starts_with("policy.csv:2:"), "{err}");
        let err = parse("policy.csv", "px, a, b\n").expect_err("type");
        assert!(err.contains("unknown policy type"), "{err}");
        let err = parse(
            "policy.csv",
            "p3, a, lake.tpch.customer.c_phone, mask, scramble\n",
        )
        .expect_err("mask");
        assert!(err.contains("scramble"), "{err}");
        let err = parse("policy.csv", "p, a, lake.tpch, select, allow\n").expect_err("pattern");
        assert!(err.contains("3 dot-separated"), "{err}");
    }

    #[test]
    fn sorts_lines_by_kind() {
        let parsed = parse(
            "policy.csv",
            "p, role:a, lake.tpch.*, select, allow\n\
             g, ann, role:a\n\
             p2, role:a, lake.tpch.nation, \"n_regionkey = 3\"\n\
             p3, role:a, lake.tpch.customer.c_phone, mask, show-last-4\n\
             p3, role:a, lake.tpch.customer.c_acctbal, deny\n",
        )
        .expect("parses");
        assert_eq!(parsed.casbin_lines.len(), 2);
        assert_eq!(parsed.filters[0].id, "policy.csv:3");
        assert_eq!(parsed.columns.len(), 2);
        assert_eq!(parsed.columns[1].action, ColumnAction::Deny);
    }
}
