//! The one principal-filtered listing of tables: Flight SQL's `CommandGetCatalogs`,
//! `CommandGetDbSchemas` and `CommandGetTables` answer from it, and pg_catalog and
//! information_schema build their rows from it. Every catalog it reads is already the
//! principal's view, so nothing hidden by policy is listed.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::CatalogProvider;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

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

/// Catalogs of `ctx`, sorted: those with at least one schema holding a table the
/// principal may read (the system schemas every catalog has aside).
pub fn catalogs(ctx: &SessionContext) -> Vec<String> {
    let mut names: Vec<String> = ctx
        .catalog_names()
        .into_iter()
        .filter(|name| {
            ctx.catalog(name)
                .is_some_and(|catalog| catalog.schema_names().iter().any(|s| !is_system_schema(s)))
        })
        .collect();
    names.sort();
    names
}

/// (catalog, schema) pairs of `ctx`, sorted, narrowed to one catalog and a schema
/// pattern.
pub fn schemas(
    ctx: &SessionContext,
    catalog: Option<&str>,
    schema_pattern: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in catalogs(ctx) {
        if catalog.is_some_and(|c| c != name) {
            continue;
        }
        let Some(provider) = ctx.catalog(&name) else {
            continue;
        };
        for schema in provider.schema_names() {
            if schema_pattern.is_none_or(|p| like(p, &schema)) {
                out.push((name.clone(), schema));
            }
        }
    }
    out.sort();
    out
}

/// Tables of `ctx` narrowed by `filter`, sorted by catalog, schema and name; with
/// `columns`, each table's readable columns (denied columns are already removed).
pub async fn tables(
    ctx: &SessionContext,
    filter: &TableFilter,
    columns: bool,
) -> Result<Vec<ListedTable>> {
    let mut out = Vec::new();
    let schemas = schemas(
        ctx,
        filter.catalog.as_deref(),
        filter.schema_pattern.as_deref(),
    );
    for (catalog, schema) in schemas {
        if let Some(provider) = ctx.catalog(&catalog) {
            out.extend(schema_tables(&catalog, &provider, &schema, filter, columns).await?);
        }
    }
    Ok(out)
}

/// The readable tables of one catalog's own schemas (its system schemas aside), with
/// their columns, sorted by schema and name.
pub async fn catalog_tables(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
) -> Result<Vec<ListedTable>> {
    let mut schemas = provider.schema_names();
    schemas.sort();
    let mut out = Vec::new();
    for schema in schemas.iter().filter(|s| !is_system_schema(s)) {
        out.extend(schema_tables(catalog, provider, schema, &TableFilter::default(), true).await?);
    }
    Ok(out)
}

/// The tables of one schema of a catalog, narrowed by `filter`'s table pattern and
/// types. A system schema's tables are listed by name (`SYSTEM TABLE`), read only for
/// their columns.
async fn schema_tables(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
    schema: &str,
    filter: &TableFilter,
    columns: bool,
) -> Result<Vec<ListedTable>> {
    let Some(tables) = provider.schema(schema) else {
        return Ok(Vec::new());
    };
    let system = is_system_schema(schema);
    let mut names = tables.table_names();
    names.sort();
    let mut out = Vec::new();
    for table in names {
        if filter
            .table_pattern
            .as_deref()
            .is_some_and(|p| !like(p, &table))
        {
            continue;
        }
        let found = if columns || !system {
            tables.table(&table).await?
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
            catalog: catalog.to_string(),
            schema: schema.to_string(),
            table,
            table_type,
            columns: if columns {
                found.map(|t| t.schema())
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// Whether `name` is a schema every catalog has (`information_schema`, `pg_catalog`).
pub fn is_system_schema(name: &str) -> bool {
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
