//! The table a policy governs when a name carries a catalog suffix: time travel's pinned
//! versions (`orders$snapshot=123`, Delta's `orders$timestamp=…`) read `orders`' rows,
//! and metadata tables (`orders$files`) carry its statistics. The suffixes are the
//! catalogs' (`lakegate_catalog::iceberg::names`, `lakegate_catalog::delta`).

/// The base table's name, and whether the suffix names a metadata table rather than a
/// version of the table's rows.
pub fn governed_table(name: &str) -> (&str, bool) {
    match name.split_once('$') {
        Some((base, suffix)) => (
            base,
            !(suffix.starts_with("snapshot=") || suffix.starts_with("timestamp=")),
        ),
        None => (name, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_rows_and_other_suffixes_metadata() {
        assert_eq!(governed_table("orders"), ("orders", false));
        assert_eq!(governed_table("orders$snapshot=42"), ("orders", false));
        assert_eq!(
            governed_table("orders$timestamp=1700000000000"),
            ("orders", false)
        );
        assert_eq!(governed_table("orders$files"), ("orders", true));
        assert_eq!(governed_table("orders$snapshots"), ("orders", true));
    }
}
