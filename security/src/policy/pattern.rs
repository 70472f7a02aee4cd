//! Object patterns: dotted names where a segment may use `*` and `?` wildcards.
//!
//! `lake.tpch.*` matches every table of `lake.tpch`; `lake.*.customer` every schema's
//! `customer`; `lake.tpch.customer.c_*` columns starting with `c_`. A wildcard never
//! crosses a dot, and a pattern matches only names with as many segments as it has.

/// Whether `name` matches `pattern`.
pub fn matches(name: &str, pattern: &str) -> bool {
    let names: Vec<&str> = name.split('.').collect();
    let patterns: Vec<&str> = pattern.split('.').collect();
    names.len() == patterns.len()
        && names
            .iter()
            .zip(&patterns)
            .all(|(n, p)| segment_matches(n.as_bytes(), p.as_bytes()))
}

fn segment_matches(name: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| segment_matches(&name[i..], rest)),
        Some((b'?', rest)) => !name.is_empty() && segment_matches(&name[1..], rest),
        Some((c, rest)) => name.first() == Some(c) && segment_matches(&name[1..], rest),
    }
}

/// Checks a pattern's form: non-empty segments of identifier characters and wildcards.
pub fn validate(pattern: &str, segments: usize) -> Result<(), String> {
    let parts: Vec<&str> = pattern.split('.').collect();
    if parts.len() != segments {
        return Err(format!(
            "pattern {pattern:?} must have {segments} dot-separated parts"
        ));
    }
    for part in parts {
        if part.is_empty()
            || !part
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '*' | '?' | '-'))
        {
            return Err(format!("pattern {pattern:?} has an invalid part {part:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stay_within_segments() {
        assert!(matches("lake.tpch.customer", "lake.tpch.*"));
        assert!(matches("lake.tpch.customer", "lake.*.customer"));
        assert!(matches("lake.tpch.customer", "lake.tpch.cust*"));
        assert!(matches(
            "lake.tpch.customer.c_phone",
            "lake.tpch.customer.c_*"
        ));
        assert!(!matches("lake.tpch.customer.c_phone", "lake.tpch.*"));
        assert!(!matches("lake.tpch", "lake.tpch.*"));
        assert!(!matches("lake.tpch.orders", "lake.tpch.customer"));
        assert!(matches("lake.tpch.nation", "lake.tpch.n?tion"));
    }

    #[test]
    fn validates_forms() {
        assert!(validate("lake.tpch.*", 3).is_ok());
        assert!(validate("lake.tpch", 3).is_err());
        assert!(validate("lake..x", 3).is_err());
        assert!(validate("lake.tp ch.x", 3).is_err());
    }
}
