//! `system.runtime.queries`: the queries queued and running now, with their figures so
//! far and their progress, read from the registry of running queries.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::query_registry::{QueryRegistry, QueryState};

/// A running query's progress is estimated from its plan (reading manifests) only once
/// it has run this long; shorter queries show no progress rather than pay for one.
const ESTIMATE_PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// The table behind `system.runtime.queries`.
#[derive(Debug)]
pub struct RuntimeQueriesTable {
    running: Arc<QueryRegistry>,
    schema: SchemaRef,
}

impl RuntimeQueriesTable {
    /// The queries of `running`, as a table.
    pub fn new(running: Arc<QueryRegistry>) -> Self {
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        let long = |name: &str, nullable| Field::new(name, DataType::Int64, nullable);
        let double = |name: &str, nullable| Field::new(name, DataType::Float64, nullable);
        let schema = Arc::new(Schema::new(vec![
            text("query_id", false),
            text("state", false),
            text("user_name", false),
            text("roles", true),
            text("protocol", false),
            long("session_id", false),
            text("client_addr", false),
            text("query", true),
            Field::new(
                "started_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
            double("elapsed_ms", false),
            double("queue_ms", false),
            long("bytes_scanned", true),
            long("files_scanned", true),
            long("rows_scanned", true),
            double("cpu_ms", true),
            long("peak_memory_bytes", true),
            long("estimated_bytes", true),
            double("progress", true),
        ]));
        Self { running, schema }
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let queries = self.running.list();
        for query in &queries {
            if query.state() == QueryState::Running && query.elapsed() >= ESTIMATE_PROGRESS_AFTER {
                query.ensure_estimate().await;
            }
        }
        let n = queries.len();
        let mut query_id = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut user = StringBuilder::new();
        let mut roles = StringBuilder::new();
        let mut protocol = StringBuilder::new();
        let mut session = Int64Builder::with_capacity(n);
        let mut client = StringBuilder::new();
        let mut sql = StringBuilder::new();
        let mut started =
            TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00".to_string());
        let mut elapsed = Float64Builder::with_capacity(n);
        let mut queued = Float64Builder::with_capacity(n);
        let mut bytes = Int64Builder::with_capacity(n);
        let mut files = Int64Builder::with_capacity(n);
        let mut rows = Int64Builder::with_capacity(n);
        let mut cpu = Float64Builder::with_capacity(n);
        let mut memory = Int64Builder::with_capacity(n);
        let mut estimated = Int64Builder::with_capacity(n);
        let mut progress = Float64Builder::with_capacity(n);
        for query in &queries {
            query_id.append_value(&query.who.id);
            state.append_value(query.state().name());
            user.append_value(&query.who.user);
            roles.append_option((!query.who.roles.is_empty()).then(|| query.who.roles.join(",")));
            protocol.append_value(&query.who.protocol);
            session.append_value(query.who.session_id as i64);
            client.append_value(&query.who.client);
            sql.append_option(query.who.sql.as_deref());
            started.append_value(query.started_at.timestamp_micros());
            elapsed.append_value(query.elapsed().as_secs_f64() * 1000.0);
            queued.append_value(query.queued().as_secs_f64() * 1000.0);
            match &query.meter {
                Some(meter) => {
                    let now = meter.live();
                    bytes.append_value(now.bytes_scanned as i64);
                    files.append_value(now.files_scanned as i64);
                    rows.append_value(now.rows_scanned as i64);
                    cpu.append_value(now.cpu_ms);
                    memory.append_value(now.peak_memory_bytes as i64);
                }
                None => {
                    bytes.append_null();
                    files.append_null();
                    rows.append_null();
                    cpu.append_null();
                    memory.append_null();
                }
            }
            estimated.append_option(query.estimated_bytes().map(|b| b as i64));
            progress.append_option(query.progress());
        }
        // The other replicas' queries (replicas sharing a store): what they published,
        // without live figures.
        let now_ms = chrono::Utc::now().timestamp_millis();
        for other in self.running.others().await {
            query_id.append_value(&other.query_id);
            state.append_value(&other.state);
            user.append_value(&other.user);
            roles.append_option(other.roles.as_deref());
            protocol.append_value(&other.protocol);
            session.append_value(other.session_id);
            client.append_value(&other.client);
            sql.append_option(other.sql.as_deref());
            started.append_value(other.started_ms * 1000);
            elapsed.append_value((now_ms - other.started_ms).max(0) as f64);
            queued.append_value(0.0);
            bytes.append_null();
            files.append_null();
            rows.append_null();
            cpu.append_null();
            memory.append_null();
            estimated.append_null();
            progress.append_null();
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(query_id.finish()),
            Arc::new(state.finish()),
            Arc::new(user.finish()),
            Arc::new(roles.finish()),
            Arc::new(protocol.finish()),
            Arc::new(session.finish()),
            Arc::new(client.finish()),
            Arc::new(sql.finish()),
            Arc::new(started.finish()),
            Arc::new(elapsed.finish()),
            Arc::new(queued.finish()),
            Arc::new(bytes.finish()),
            Arc::new(files.finish()),
            Arc::new(rows.finish()),
            Arc::new(cpu.finish()),
            Arc::new(memory.finish()),
            Arc::new(estimated.finish()),
            Arc::new(progress.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[async_trait]
impl TableProvider for RuntimeQueriesTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch().await?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, &[], limit)
            .await
    }
}
