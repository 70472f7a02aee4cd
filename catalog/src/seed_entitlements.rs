//! Demo data for row filters that look things up: `security.entitlements`, which nations
//! each demo user may see (the analyst: EUROPE's five), read by the demo policy's
//! customer and supplier filters. Written next to the TPC-H tables when missing.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableCreation};

use crate::iceberg::LakeCatalog;
use crate::seed::TableAppender;
use crate::{CatalogError, Result};

/// Namespace (schema) of the demo entitlements table.
pub const ENTITLEMENTS_SCHEMA: &str = "security";
/// Name of the demo entitlements table.
pub const ENTITLEMENTS_TABLE: &str = "entitlements";

/// `(user_name, nationkey)`: the analyst's EUROPE (FRANCE, GERMANY, ROMANIA, RUSSIA,
/// UNITED KINGDOM).
const ROWS: &[(&str, i64)] = &[
    ("analyst", 6),
    ("analyst", 7),
    ("analyst", 19),
    ("analyst", 22),
    ("analyst", 23),
];

/// Writes `security.entitlements` into `lake` unless it already has a snapshot.
/// Returns the rows written (0 when it was present).
pub async fn seed_entitlements(lake: &LakeCatalog) -> Result<u64> {
    if let Some(table) = lake
        .load_table(ENTITLEMENTS_SCHEMA, ENTITLEMENTS_TABLE)
        .await?
        && table.metadata().current_snapshot().is_some()
    {
        return Ok(0);
    }
    let catalog = lake.iceberg();
    let namespace = NamespaceIdent::new(ENTITLEMENTS_SCHEMA.to_string());
    if !catalog
        .namespace_exists(&namespace)
        .await
        .map_err(CatalogError::iceberg("checking the entitlements namespace"))?
    {
        catalog
            .create_namespace(&namespace, Default::default())
            .await
            .map_err(CatalogError::iceberg("creating the entitlements namespace"))?;
    }
    let ident = iceberg::TableIdent::new(namespace.clone(), ENTITLEMENTS_TABLE.to_string());
    if catalog
        .table_exists(&ident)
        .await
        .map_err(CatalogError::iceberg("checking the entitlements table"))?
    {
        // An interrupted earlier seed: no snapshot.
        catalog
            .purge_table(&ident)
            .await
            .map_err(CatalogError::iceberg(
                "dropping an empty entitlements table",
            ))?;
    }
    let schema = Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::required(
                1,
                "user_name",
                Type::Primitive(PrimitiveType::String),
            )),
            Arc::new(NestedField::required(
                2,
                "nationkey",
                Type::Primitive(PrimitiveType::Long),
            )),
        ])
        .build()
        .map_err(CatalogError::iceberg("building the entitlements schema"))?;
    let creation = TableCreation::builder()
        .name(ENTITLEMENTS_TABLE.to_string())
        .schema(schema)
        .build();
    let table = catalog
        .create_table(&namespace, creation)
        .await
        .map_err(CatalogError::iceberg("creating the entitlements table"))?;
    let mut appender = TableAppender::new(&table).await?;
    let batch = RecordBatch::try_new(
        appender.arrow_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(ROWS.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(ROWS.iter().map(|r| r.1))),
        ],
    )
    .map_err(|e| CatalogError::Config {
        catalog: lake.name().to_string(),
        message: format!("building the entitlements rows: {e}"),
    })?;
    appender.write(batch).await?;
    appender.commit(catalog.as_ref()).await?;
    lake.refresh_listing().await?;
    Ok(ROWS.len() as u64)
}
