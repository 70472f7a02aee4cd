//! Answers to Flight SQL metadata commands (`CommandGet*`), built from the principal's
//! own session so that only what the principal may read is listed.

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::metadata::{GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder};
use arrow_flight::sql::{
    Command, CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables,
};
use lakegate_planner::{QueryService, Session, TableFilter};
use tonic::Status;

use super::sql_info::{sql_info, xdbc_type_info};
use super::status::{server_arrow_status, to_status};

/// Table types the gateway lists.
const TABLE_TYPES: &[&str] = &["LOCAL TEMPORARY", "SYSTEM TABLE", "TABLE", "VIEW"];

/// `CommandGetPrimaryKeys`' result schema.
static PRIMARY_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
});

/// `CommandGetExportedKeys`, `CommandGetImportedKeys` and `CommandGetCrossReference`'s
/// result schema.
static FOREIGN_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
});

/// Whether a command is a metadata command this module answers.
pub(crate) fn is_metadata(command: &Command) -> bool {
    matches!(
        command,
        Command::CommandGetCatalogs(_)
            | Command::CommandGetDbSchemas(_)
            | Command::CommandGetTables(_)
            | Command::CommandGetTableTypes(_)
            | Command::CommandGetSqlInfo(_)
            | Command::CommandGetPrimaryKeys(_)
            | Command::CommandGetExportedKeys(_)
            | Command::CommandGetImportedKeys(_)
            | Command::CommandGetCrossReference(_)
            | Command::CommandGetXdbcTypeInfo(_)
    )
}

/// The static tables (SqlInfo, XdbcTypeInfo) built once.
pub(crate) struct StaticInfo {
    sql_info: arrow_flight::sql::metadata::SqlInfoData,
    xdbc: arrow_flight::sql::metadata::XdbcTypeInfoData,
}

impl std::fmt::Debug for StaticInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticInfo")
    }
}

impl StaticInfo {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sql_info: sql_info()?,
            xdbc: xdbc_type_info()?,
        })
    }

    /// The result schema of a metadata command.
    pub(crate) fn schema(&self, command: &Command) -> Result<SchemaRef, Status> {
        Ok(match command {
            Command::CommandGetCatalogs(c) => (*c).into_builder().schema(),
            Command::CommandGetDbSchemas(c) => c.clone().into_builder().schema(),
            Command::CommandGetTables(c) => c.clone().into_builder().schema(),
            Command::CommandGetTableTypes(c) => (*c).into_builder().schema(),
            Command::CommandGetSqlInfo(_) => self.sql_info.schema(),
            Command::CommandGetXdbcTypeInfo(_) => self.xdbc.schema(),
            Command::CommandGetPrimaryKeys(_) => PRIMARY_KEYS_SCHEMA.clone(),
            Command::CommandGetExportedKeys(_)
            | Command::CommandGetImportedKeys(_)
            | Command::CommandGetCrossReference(_) => FOREIGN_KEYS_SCHEMA.clone(),
            other => {
                return Err(Status::invalid_argument(format!(
                    "{} is not a metadata command",
                    other.type_url()
                )));
            }
        })
    }

    /// Answers a metadata command for the session's principal.
    pub(crate) async fn answer(
        &self,
        service: &QueryService,
        session: &Session,
        command: Command,
    ) -> Result<RecordBatch, Status> {
        match command {
            Command::CommandGetCatalogs(c) => catalogs(service, session, c),
            Command::CommandGetDbSchemas(c) => schemas(service, session, c).await,
            Command::CommandGetTables(c) => tables(service, session, c).await,
            Command::CommandGetTableTypes(c) => table_types(c),
            Command::CommandGetSqlInfo(c) => built(self.sql_info.record_batch(c.info)),
            Command::CommandGetXdbcTypeInfo(c) => built(self.xdbc.record_batch(c.data_type)),
            // Iceberg tables declare no primary or foreign keys: empty, but well-formed.
            Command::CommandGetPrimaryKeys(_) => {
                Ok(RecordBatch::new_empty(PRIMARY_KEYS_SCHEMA.clone()))
            }
            Command::CommandGetExportedKeys(_)
            | Command::CommandGetImportedKeys(_)
            | Command::CommandGetCrossReference(_) => {
                Ok(RecordBatch::new_empty(FOREIGN_KEYS_SCHEMA.clone()))
            }
            other => Err(Status::invalid_argument(format!(
                "{} is not a metadata command",
                other.type_url()
            ))),
        }
    }
}

fn built(result: arrow_flight::error::Result<RecordBatch>) -> Result<RecordBatch, Status> {
    result.map_err(|e| server_arrow_status("building the metadata result", e))
}

fn catalogs(
    service: &QueryService,
    session: &Session,
    command: CommandGetCatalogs,
) -> Result<RecordBatch, Status> {
    let mut builder: GetCatalogsBuilder = command.into_builder();
    for name in service.list_catalogs(session) {
        builder.append(name);
    }
    built(builder.build())
}

async fn schemas(
    service: &QueryService,
    session: &Session,
    command: CommandGetDbSchemas,
) -> Result<RecordBatch, Status> {
    let listed = service
        .list_schemas(
            session,
            command.catalog.as_deref(),
            command.db_schema_filter_pattern.as_deref(),
        )
        .await
        .map_err(to_status)?;
    let mut builder: GetDbSchemasBuilder = command.into_builder();
    for (catalog, schema) in listed {
        builder.append(catalog, schema);
    }
    built(builder.build())
}

async fn tables(
    service: &QueryService,
    session: &Session,
    command: CommandGetTables,
) -> Result<RecordBatch, Status> {
    let filter = TableFilter {
        catalog: command.catalog.clone(),
        schema_pattern: command.db_schema_filter_pattern.clone(),
        table_pattern: command.table_name_filter_pattern.clone(),
        table_types: command.table_types.clone(),
    };
    let include_schema = command.include_schema;
    let listed = service
        .list_tables(session, &filter, include_schema)
        .await
        .map_err(to_status)?;
    let mut builder: GetTablesBuilder = command.into_builder();
    let empty = Schema::empty();
    for table in listed {
        let columns = table.columns.as_deref().unwrap_or(&empty);
        if let Err(e) = builder.append(
            &table.catalog,
            &table.schema,
            &table.table,
            table.table_type,
            columns,
        ) {
            return built(Err(e));
        }
    }
    built(builder.build())
}

fn table_types(command: CommandGetTableTypes) -> Result<RecordBatch, Status> {
    let mut builder = command.into_builder();
    for table_type in TABLE_TYPES {
        builder.append(table_type);
    }
    built(builder.build())
}
