//! Runs the SQL datafusion-federation generates on a live PostgreSQL server over
//! tokio-postgres, and turns the rows into Arrow batches.
//!
//! Rows travel in PostgreSQL's text format (the simple query protocol streams them)
//! and are cast to each column's Arrow type with Arrow's own parsers, a batch at a time.
//! The session is set to UTC, ISO dates and hex bytea first, so every value has one
//! spelling.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, RecordBatchOptions, StringBuilder,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::unparser::dialect::{Dialect, PostgreSqlDialect};
use datafusion_federation::sql::SQLExecutor;
use futures::StreamExt;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::{SourceError, SourceFault};

/// Rows per Arrow batch read from PostgreSQL.
const BATCH_ROWS: usize = 8192;

/// Idle sessions kept for reuse, per database.
const IDLE_SESSIONS: usize = 4;

/// One PostgreSQL database, as datafusion-federation's executor.
#[derive(Debug, Clone)]
pub struct PostgresExecutor {
    /// The catalog's name, for errors and logs.
    catalog: String,
    config: tokio_postgres::Config,
    /// host:port/dbname: sub-plans over the same database may be joined there.
    context: String,
    /// Sessions that finished their last query, ready for the next.
    idle: Arc<std::sync::Mutex<Vec<Client>>>,
}

/// A failure of the source. Errors in the data (SQLSTATE class 22, such as a division by
/// zero pushed down) are the query's; a connection that cannot be made or breaks (the
/// server down, restarted, or terminating sessions) is a [`SourceError`] the client sees
/// as PostgreSQL's postgres_fdw reports it; anything else is the gateway's or the source's.
fn remote_query(catalog: &str, what: &str, e: tokio_postgres::Error) -> DataFusionError {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("22") => {
            DataFusionError::Execution(format!("PostgreSQL source {catalog}: {}", db.message()))
        }
        _ => remote(catalog, what, e),
    }
}

fn remote(catalog: &str, what: &str, e: tokio_postgres::Error) -> DataFusionError {
    let message = match e.as_db_error() {
        Some(db) => format!(
            "PostgreSQL source {catalog}: {what}: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        ),
        None => {
            let mut text = format!("PostgreSQL source {catalog}: {what}: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            text
        }
    };
    match connection_fault(what, &e) {
        Some(fault) => DataFusionError::External(Box::new(SourceError { fault, message })),
        None => DataFusionError::External(message.into()),
    }
}

/// Whether `e` is the connection failing rather than the statement: no server to connect
/// to, a session the server terminated (57P01 admin shutdown, 57P02 crash, 57P03 not yet
/// accepting connections, class 08), or a socket that closed.
fn connection_fault(what: &str, e: &tokio_postgres::Error) -> Option<SourceFault> {
    let connecting = what == CONNECTING;
    let broken = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => {
            e.is_closed()
                || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                || connecting
        }
    };
    match (broken, connecting) {
        (false, _) => None,
        (true, true) => Some(SourceFault::Unreachable),
        (true, false) => Some(SourceFault::ConnectionLost),
    }
}

const CONNECTING: &str = "connecting";

impl PostgresExecutor {
    /// An executor for the database at `uri` (libpq key=value or a postgres:// URL);
    /// `password`, when given, replaces the URI's.
    pub fn new(catalog: &str, uri: &str, password: Option<String>) -> Result<Self, String> {
        let mut config = tokio_postgres::Config::from_str(uri)
            .map_err(|e| format!("bad connection string: {e}"))?;
        if let Some(password) = password {
            config.password(password);
        }
        // A source that does not answer is an error within seconds, not a hung scan
        // (libpq waits forever by default; the URI's connect_timeout wins).
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        let context = format!(
            "{}:{:?}/{}",
            hosts.join(","),
            config.get_ports(),
            config.get_dbname().unwrap_or_default()
        );
        Ok(Self {
            catalog: catalog.to_string(),
            config,
            context,
            idle: Default::default(),
        })
    }

    /// An idle session, or a new one.
    async fn session(&self) -> DFResult<Client> {
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            std::iter::from_fn(|| idle.pop()).find(|c| !c.is_closed())
        };
        match reused {
            Some(client) => Ok(client),
            None => self.connect().await,
        }
    }

    /// Keeps a session whose last query ran to its end for the next one.
    fn release(&self, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_SESSIONS && !client.is_closed() {
            idle.push(client);
        }
    }

    /// A new session, set up so that values have one text form.
    async fn connect(&self) -> DFResult<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| remote(&self.catalog, CONNECTING, e))?;
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(catalog, error = %e, "PostgreSQL connection ended");
            }
        });
        client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex'; \
                 SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3",
            )
            .await
            .map_err(|e| remote(&self.catalog, "setting up the session", e))?;
        Ok(client)
    }

    /// Schemas of the database, without PostgreSQL's own.
    pub async fn schema_names(&self) -> DFResult<Vec<String>> {
        let client = self.session().await?;
        let rows = client
            .query(
                "SELECT schema_name FROM information_schema.schemata \
                 WHERE schema_name NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                 ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| remote(&self.catalog, "listing schemas", e))?;
        self.release(client);
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Tables and views of one schema.
    pub async fn table_names_in(&self, schema: &str) -> DFResult<Vec<String>> {
        let client = self.session().await?;
        let rows = client
            .query(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = $1 ORDER BY 1",
                &[&schema],
            )
            .await
            .map_err(|e| remote(&self.catalog, "listing tables", e))?;
        self.release(client);
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The Arrow schema of `schema.table`, or `None` when it does not exist.
    pub async fn table_schema(&self, schema: &str, table: &str) -> DFResult<Option<SchemaRef>> {
        let client = self.session().await?;
        let rows = client
            .query(
                "SELECT column_name, data_type, numeric_precision, numeric_scale, \
                        is_nullable = 'YES' \
                 FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .await
            .map_err(|e| remote(&self.catalog, "reading columns", e))?;
        self.release(client);
        if rows.is_empty() {
            return Ok(None);
        }
        let fields: Vec<Field> = rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let data_type: String = r.get(1);
                let precision: Option<i32> = r.get(2);
                let scale: Option<i32> = r.get(3);
                Field::new(name, arrow_type(&data_type, precision, scale), r.get(4))
            })
            .collect();
        Ok(Some(Arc::new(Schema::new(fields))))
    }
}

/// The Arrow type a PostgreSQL column is read as; types without one are text.
pub fn arrow_type(data_type: &str, precision: Option<i32>, scale: Option<i32>) -> DataType {
    match data_type {
        "smallint" => DataType::Int16,
        "integer" => DataType::Int32,
        "bigint" => DataType::Int64,
        "real" => DataType::Float32,
        "double precision" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp without time zone" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamp with time zone" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        }
        "bytea" => DataType::Binary,
        "numeric" => match (precision, scale) {
            (Some(p), Some(s)) if (1..=38).contains(&p) && (0..=p).contains(&s) => {
                DataType::Decimal128(p as u8, s as i8)
            }
            // Unconstrained numeric: as wide as Arrow's decimal goes.
            _ => DataType::Decimal128(38, 10),
        },
        _ => DataType::Utf8,
    }
}

/// Builds Arrow batches of `schema` from text rows.
struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<StringBuilder>,
    rows: usize,
}

impl BatchBuilder {
    fn new(schema: SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|_| StringBuilder::new())
            .collect();
        Self {
            schema,
            columns,
            rows: 0,
        }
    }

    fn push(&mut self, row: &tokio_postgres::SimpleQueryRow) -> DFResult<()> {
        // A scan of no column (count(*)) reads a constant per row; only rows count.
        if self.columns.is_empty() {
            self.rows += 1;
            return Ok(());
        }
        if row.len() != self.columns.len() {
            return Err(DataFusionError::Internal(format!(
                "PostgreSQL returned {} columns, {} expected",
                row.len(),
                self.columns.len()
            )));
        }
        for (i, column) in self.columns.iter_mut().enumerate() {
            column.append_option(row.get(i));
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> DFResult<RecordBatch> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let arrays = self
            .schema
            .fields()
            .iter()
            .zip(self.columns.iter_mut())
            .map(|(field, column)| {
                let text = column.finish();
                let array: ArrayRef = match field.data_type() {
                    DataType::Utf8 => Arc::new(text),
                    DataType::Binary => {
                        let mut binary = BinaryBuilder::new();
                        for value in text.iter() {
                            match value {
                                Some(v) => binary.append_value(hex_bytes(v).ok_or_else(|| {
                                    DataFusionError::Execution(format!(
                                        "column {}: bad bytea value",
                                        field.name()
                                    ))
                                })?),
                                None => binary.append_null(),
                            }
                        }
                        Arc::new(binary.finish())
                    }
                    target => cast_with_options(&text, target, &options).map_err(|e| {
                        DataFusionError::Execution(format!(
                            "column {} from PostgreSQL as {target}: {e}",
                            field.name()
                        ))
                    })?,
                };
                Ok(array)
            })
            .collect::<DFResult<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?)
    }
}

/// `\x0a0b` (PostgreSQL's hex bytea) as bytes.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[async_trait]
impl SQLExecutor for PostgresExecutor {
    fn name(&self) -> &str {
        "postgres"
    }

    fn compute_context(&self) -> Option<String> {
        Some(self.context.clone())
    }

    fn dialect(&self) -> Arc<dyn Dialect> {
        Arc::new(PostgreSqlDialect {})
    }

    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        _filters: &[Arc<dyn PhysicalExpr>],
    ) -> DFResult<SendableRecordBatchStream> {
        tracing::debug!(catalog = %self.catalog, sql = query, "query sent to PostgreSQL");
        let (tx, rx) = tokio::sync::mpsc::channel::<DFResult<RecordBatch>>(2);
        let executor = self.clone();
        let query = query.to_string();
        let batch_schema = schema.clone();
        tokio::spawn(async move {
            let result = async {
                let client = executor.session().await?;
                let stream = client
                    .simple_query_raw(&query)
                    .await
                    .map_err(|e| remote_query(&executor.catalog, "running the query", e))?;
                let mut stream = Box::pin(stream);
                let mut builder = BatchBuilder::new(batch_schema);
                while let Some(message) = stream.next().await {
                    let message =
                        message.map_err(|e| remote_query(&executor.catalog, "reading rows", e))?;
                    if let SimpleQueryMessage::Row(row) = message {
                        builder.push(&row)?;
                        if builder.rows == BATCH_ROWS {
                            let batch = builder.finish()?;
                            if tx.send(Ok(batch)).await.is_err() {
                                // The reader is gone: the session, mid-query, is
                                // dropped with the stream, which ends the query.
                                return Ok(());
                            }
                        }
                    }
                }
                drop(stream);
                executor.release(client);
                if builder.rows > 0 {
                    let _ = tx.send(Ok(builder.finish()?)).await;
                }
                Ok::<_, DataFusionError>(())
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        let batches = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (batch, rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    async fn table_names(&self) -> DFResult<Vec<String>> {
        let mut names = Vec::new();
        for schema in self.schema_names().await? {
            for table in self.table_names_in(&schema).await? {
                names.push(format!("{schema}.{table}"));
            }
        }
        Ok(names)
    }

    async fn get_table_schema(&self, table_name: &str) -> DFResult<SchemaRef> {
        let reference = TableReference::from(table_name);
        let schema = reference.schema().unwrap_or("public");
        self.table_schema(schema, reference.table())
            .await?
            .ok_or_else(|| {
                DataFusionError::Plan(format!("table '{}.{table_name}' not found", self.catalog))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_types_map_to_arrow() {
        assert_eq!(arrow_type("integer", None, None), DataType::Int32);
        assert_eq!(
            arrow_type("numeric", Some(12), Some(2)),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(
            arrow_type("numeric", None, None),
            DataType::Decimal128(38, 10)
        );
        assert_eq!(arrow_type("jsonb", None, None), DataType::Utf8);
        assert_eq!(hex_bytes("\\x0aff"), Some(vec![10, 255]));
        assert_eq!(hex_bytes("0aff"), None);
    }
}
