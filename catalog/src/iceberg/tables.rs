//! Creating and dropping Iceberg tables from SQL (`CREATE TABLE [AS]`), and finding the
//! snapshot a table had at a point in time (`FOR TIMESTAMP AS OF`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use iceberg::arrow::arrow_schema_to_schema_auto_assign_ids;
use iceberg::table::Table;
use iceberg::{NamespaceIdent, TableCreation, TableIdent};

use super::LakeCatalog;
use crate::{CatalogError, Result, WriteError};

impl LakeCatalog {
    /// Creates table `schema.table` with the columns of `columns`, each mapped to the
    /// closest Iceberg type (see [`iceberg_type`]). The namespace must exist.
    pub async fn create_table(&self, schema: &str, table: &str, columns: &Schema) -> Result<Table> {
        let full = format!("{}.{schema}.{table}", self.name());
        let namespace = NamespaceIdent::new(schema.to_string());
        let exists = self
            .iceberg()
            .namespace_exists(&namespace)
            .await
            .map_err(CatalogError::iceberg(format!("looking up schema {schema}")))?;
        if !exists {
            return Err(CatalogError::Write(WriteError::Unsupported {
                message: format!("schema {}.{schema} does not exist", self.name()),
            }));
        }
        if self.load_table(schema, table).await?.is_some() {
            return Err(CatalogError::Write(WriteError::AlreadyExists {
                table: full,
            }));
        }
        let iceberg_schema =
            arrow_schema_to_schema_auto_assign_ids(iceberg_columns(columns)?.as_ref()).map_err(
                CatalogError::iceberg(format!("mapping the columns of {full}")),
            )?;
        let creation = TableCreation::builder()
            .name(table.to_string())
            .schema(iceberg_schema)
            .build();
        let created = self
            .iceberg()
            .create_table(&namespace, creation)
            .await
            .map_err(|e| match e.kind() {
                iceberg::ErrorKind::TableAlreadyExists => {
                    CatalogError::Write(WriteError::AlreadyExists {
                        table: full.clone(),
                    })
                }
                _ => CatalogError::Iceberg {
                    context: format!("creating {full}"),
                    source: Box::new(e),
                },
            })?;
        self.refresh_listing().await?;
        Ok(created)
    }

    /// Drops table `schema.table` (used to undo a CREATE TABLE AS whose query failed).
    pub async fn drop_table(&self, schema: &str, table: &str) -> Result<()> {
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_string()), table.to_string());
        self.iceberg()
            .drop_table(&ident)
            .await
            .map_err(CatalogError::iceberg(format!(
                "dropping {}.{schema}.{table}",
                self.name()
            )))?;
        self.refresh_listing().await
    }

    /// The snapshot that was current at `millis` (Unix epoch milliseconds): the last one
    /// the table's snapshot log made current at or before then.
    pub async fn snapshot_as_of(&self, schema: &str, table: &str, millis: i64) -> Result<i64> {
        let full = format!("{}.{schema}.{table}", self.name());
        let Some(loaded) = self.load_table(schema, table).await? else {
            return Err(CatalogError::Write(WriteError::Unsupported {
                message: format!("table {full} does not exist"),
            }));
        };
        loaded
            .metadata()
            .history()
            .iter()
            .filter(|log| log.timestamp_ms <= millis)
            .max_by_key(|log| log.timestamp_ms)
            .map(|log| log.snapshot_id)
            .ok_or_else(|| {
                let at = chrono::DateTime::from_timestamp_millis(millis)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| millis.to_string());
                CatalogError::Write(WriteError::Unsupported {
                    message: format!("table {full} had no snapshot at {at}"),
                })
            })
    }
}

/// `columns` with every type mapped to one Iceberg stores.
fn iceberg_columns(columns: &Schema) -> Result<SchemaRef> {
    let fields = columns
        .fields()
        .iter()
        .map(|field| {
            let data_type = iceberg_type(field.data_type()).ok_or_else(|| {
                CatalogError::Write(WriteError::Unsupported {
                    message: format!(
                        "column \"{}\" has type {}, which an Iceberg table cannot store; \
                         cast it",
                        field.name(),
                        field.data_type()
                    ),
                })
            })?;
            Ok(Field::new(field.name(), data_type, field.is_nullable()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The Arrow type of the Iceberg type that stores `data_type` without loss, if any:
/// small integers widen to `int`, unsigned ones to the next signed size, times to
/// microseconds, views and large variants to their plain forms.
pub fn iceberg_type(data_type: &DataType) -> Option<DataType> {
    Some(match data_type {
        DataType::Boolean
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Date32
        | DataType::Utf8
        | DataType::Binary
        | DataType::Decimal128(_, _) => data_type.clone(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Date64 => DataType::Date32,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary | DataType::FixedSizeBinary(_) => {
            DataType::Binary
        }
        DataType::Time32(_) | DataType::Time64(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Timestamp(_, tz) => DataType::Timestamp(
            TimeUnit::Microsecond,
            tz.as_ref().map(|_| Arc::from("+00:00")),
        ),
        DataType::Dictionary(_, value) => return iceberg_type(value),
        _ => return None,
    })
}
