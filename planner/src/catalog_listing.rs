//! Catalog listings for metadata APIs (Flight SQL `CommandGet*`): the registry's
//! listings refreshed, then pg_compat's one principal-filtered listing of the session.

use lakegate_catalog::CatalogRegistry;
use lakegate_pg_compat::listing::{self, ListedTable, TableFilter};

use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

/// Listings of one session's catalogs, refreshed from the registry first.
pub(crate) struct Listing<'a> {
    pub(crate) registry: &'a CatalogRegistry,
}

impl Listing<'_> {
    /// Catalogs the session sees, sorted.
    pub(crate) fn list_catalogs(&self, session: &Session) -> Vec<String> {
        listing::catalogs(&session.ctx)
    }

    /// (catalog, schema) pairs the session sees, sorted.
    pub(crate) async fn list_schemas(
        &self,
        session: &Session,
        catalog: Option<&str>,
        schema_pattern: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.refresh().await?;
        Ok(listing::schemas(&session.ctx, catalog, schema_pattern))
    }

    /// Tables the session sees, sorted; with `columns`, their readable columns.
    pub(crate) async fn list_tables(
        &self,
        session: &Session,
        filter: &TableFilter,
        columns: bool,
    ) -> Result<Vec<ListedTable>> {
        self.refresh().await?;
        Ok(listing::tables(&session.ctx, filter, columns).await?)
    }

    async fn refresh(&self) -> Result<()> {
        self.registry
            .refresh_listings()
            .await
            .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))
    }
}
