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

/// Whether some name matches both patterns (each may hold wildcards).
pub fn overlaps(a: &str, b: &str) -> bool {
    let left: Vec<&str> = a.split('.').collect();
    let right: Vec<&str> = b.split('.').collect();
    left.len() == right.len()
        && left
            .iter()
            .zip(&right)
            .all(|(l, r)| segments_overlap(l.as_bytes(), r.as_bytes()))
}

fn segments_overlap(a: &[u8], b: &[u8]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            segments_overlap(rest, b) || (!b.is_empty() && segments_overlap(a, &b[1..]))
        }
        (_, Some((b'*', rest))) => {
            segments_overlap(a, rest) || (!a.is_empty() && segments_overlap(&a[1..], b))
        }
        (None, _) | (_, None) => false,
        (Some((x, a_rest)), Some((y, b_rest))) => {
            (*x == b'?' || *y == b'?' || x == y) && segments_overlap(a_rest, b_rest)
        }
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
    fn overlapping_patterns_share_a_name() {
        assert!(overlaps("lake.tpch.region", "lake.tpch.*"));
        assert!(overlaps("lake.*.orders", "lake.tpch.*"));
        assert!(overlaps("lake.tpch.cust*", "lake.tpch.*mer"));
        assert!(overlaps("lake.tpch.n?tion", "lake.tpch.nation"));
        assert!(!overlaps("lake.tpch.region", "system.*.*"));
        assert!(!overlaps("lake.tpch.cust*", "lake.tpch.ord*"));
        assert!(!overlaps("lake.tpch", "lake.tpch.*"));
    }

    #[test]
    fn validates_forms() {
        assert!(validate("lake.tpch.*", 3).is_ok());
        assert!(validate("lake.tpch", 3).is_err());
        assert!(validate("lake..x", 3).is_err());
        assert!(validate("lake.tp ch.x", 3).is_err());
    }
}
