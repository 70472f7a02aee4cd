//! The order compaction writes rows in: a table that declares an Iceberg sort order
//! (the seeded TPC-H tables sort by date, then key) gets its compacted files sorted by
//! it, so that compaction keeps the layout its row-group and file pruning relies on.
//! The rows go through DataFusion's external sort, which spills to disk past a bounded
//! memory budget, so a partition of many small files never has to fit in memory.

use std::sync::{Arc, Mutex};

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use iceberg::spec::{NullOrder, SortDirection, Transform};
use iceberg::table::Table;

/// Memory the sort of one partition's rows may hold before it spills.
const SORT_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// The table's default sort order over `schema` (the Arrow schema rows are written
/// with): its leading identity fields, as DataFusion sort expressions. `None` when the
/// table is unsorted or its order starts with a transform (bucket, day, …), whose
/// order a sort of the source column does not give.
pub(super) fn sort_ordering(table: &Table, schema: &SchemaRef) -> Option<LexOrdering> {
    let metadata = table.metadata();
    let iceberg_schema = metadata.current_schema();
    let mut exprs = Vec::new();
    for field in &metadata.default_sort_order().fields {
        if field.transform != Transform::Identity {
            break;
        }
        let Some(name) = iceberg_schema.name_by_field_id(field.source_id) else {
            break;
        };
        let Ok(index) = schema.index_of(name) else {
            break;
        };
        exprs.push(PhysicalSortExpr {
            expr: Arc::new(Column::new(name, index)),
            options: SortOptions {
                descending: field.direction == SortDirection::Descending,
                nulls_first: field.null_order == NullOrder::First,
            },
        });
    }
    LexOrdering::new(exprs)
}

/// `input`'s rows in `ordering`.
pub(super) fn sorted(
    input: SendableRecordBatchStream,
    ordering: LexOrdering,
) -> DFResult<SendableRecordBatchStream> {
    let schema = input.schema();
    let source = Arc::new(OneShot {
        schema: schema.clone(),
        stream: Mutex::new(Some(input)),
    });
    let scan = StreamingTableExec::try_new(schema, vec![source], None, [], false, None)?;
    let sort = SortExec::new(ordering, Arc::new(scan));
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(SORT_MEMORY_BYTES)))
        .build_arc()?;
    let context = TaskContext::default().with_runtime(runtime);
    sort.execute(0, Arc::new(context))
}

/// A stream read once, as the one partition of a plan executed once.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some(stream) => stream,
            None => Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    self.schema.clone(),
                    futures::stream::once(async {
                        Err(DataFusionError::Internal(
                            "compaction's rows were already read".into(),
                        ))
                    }),
                ),
            ),
        }
    }
}
