//! Catalog listings for metadata APIs (Flight SQL `CommandGet*`): catalogs, schemas and
//! tables as one principal's session sees them, so that nothing hidden by policy is listed.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::TableType;

use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};
use lakegate_catalog::CatalogRegistry;

/// One table of a listing.
#[derive(Debug, Clone)]
pub struct ListedTable {
    /// Catalog name.
    pub catalog: String,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// `TABLE`, `VIEW`, `SYSTEM TABLE` or `LOCAL TEMPORARY`.
    pub table_type: &'static str,
    /// The columns the principal may read, when asked for.
    pub columns: Option<SchemaRef>,
}

/// What a table listing is narrowed to; patterns are SQL LIKE patterns (`%`, `_`).
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    /// Exact catalog name.
    pub catalog: Option<String>,
    /// Schema name pattern.
    pub schema_pattern: Option<String>,
    /// Table name pattern.
    pub table_pattern: Option<String>,
    /// Table types to keep (empty: all).
    pub table_types: Vec<String>,
}

/// Listings of one session's catalogs, refreshed from the registry first.
pub(crate) struct Listing<'a> {
    pub(crate) registry: &'a CatalogRegistry,
}

impl Listing<'_> {
    /// Catalogs the session sees, sorted: those with at least one schema holding a
    /// table the principal may read (the system schemas every catalog has aside).
    pub fn list_catalogs(&self, session: &Session) -> Vec<String> {
        let mut names: Vec<String> = session
            .ctx
            .catalog_names()
            .into_iter()
            .filter(|name| {
                session.ctx.catalog(name).is_some_and(|catalog| {
                    catalog.schema_names().iter().any(|s| !is_system_schema(s))
                })
            })
            .collect();
        names.sort();
        names
    }

    /// (catalog, schema) pairs the session sees, sorted.
    pub async fn list_schemas(
        &self,
        session: &Session,
        catalog: Option<&str>,
        schema_pattern: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.refresh().await?;
        let mut out = Vec::new();
        for name in self.list_catalogs(session) {
            if catalog.is_some_and(|c| c != name) {
                continue;
            }
            let Some(provider) = session.ctx.catalog(&name) else {
                continue;
            };
            for schema in provider.schema_names() {
                if schema_pattern.is_none_or(|p| like(p, &schema)) {
                    out.push((name.clone(), schema));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Tables the session sees, sorted by catalog, schema and name; with `columns`,
    /// each table's readable columns (denied columns are already removed).
    pub async fn list_tables(
        &self,
        session: &Session,
        filter: &TableFilter,
        columns: bool,
    ) -> Result<Vec<ListedTable>> {
        let schemas = self
            .list_schemas(
                session,
                filter.catalog.as_deref(),
                filter.schema_pattern.as_deref(),
            )
            .await?;
        let mut out = Vec::new();
        for (catalog, schema) in schemas {
            let Some(provider) = session
                .ctx
                .catalog(&catalog)
                .and_then(|c| c.schema(&schema))
            else {
                continue;
            };
            let system = is_system_schema(&schema);
            let mut names = provider.table_names();
            names.sort();
            for table in names {
                if filter
                    .table_pattern
                    .as_deref()
                    .is_some_and(|p| !like(p, &table))
                {
                    continue;
                }
                let needs_provider = columns || !system;
                let found = if needs_provider {
                    provider.table(&table).await.map_err(QueryError::from)?
                } else {
                    None
                };
                let table_type = match (&found, system) {
                    (_, true) => "SYSTEM TABLE",
                    (Some(t), false) => match t.table_type() {
                        TableType::Base => "TABLE",
                        TableType::View => "VIEW",
                        TableType::Temporary => "LOCAL TEMPORARY",
                    },
                    (None, false) => continue,
                };
                if !filter.table_types.is_empty()
                    && !filter
                        .table_types
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(table_type))
                {
                    continue;
                }
                out.push(ListedTable {
                    catalog: catalog.clone(),
                    schema: schema.clone(),
                    table,
                    table_type,
                    columns: if columns {
                        found.map(|t| t.schema())
                    } else {
                        None
                    },
                });
            }
        }
        Ok(out)
    }

    async fn refresh(&self) -> Result<()> {
        self.registry
            .refresh_listings()
            .await
            .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))
    }
}

fn is_system_schema(name: &str) -> bool {
    matches!(name, "information_schema" | "pg_catalog")
}

/// SQL LIKE: `%` matches any run, `_` any one character, `\` escapes the next one.
pub fn like(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with backtracking to the last `%`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let (token, width) = match pattern.get(p) {
            Some('\\') if p + 1 < pattern.len() => (Some(pattern[p + 1]), 2),
            Some('%') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('_') => (None, 1),
            Some(&c) => (Some(c), 1),
            None => (Some('\u{0}'), 0),
        };
        let matches = width > 0 && token.is_none_or(|c| c == text[t]);
        if matches {
            p += width;
            t += 1;
        } else if let Some((after, from)) = star {
            p = after;
            t = from + 1;
            star = Some((after, from + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("line%", "lineitem"));
        assert!(like("l_neitem", "lineitem"));
        assert!(!like("l_neitem", "lneitem"));
        assert!(like("%item", "lineitem"));
        assert!(like("%e%e%", "lineitem"));
        assert!(!like("orders", "order"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
        assert!(like("tpch", "tpch"));
    }
}
