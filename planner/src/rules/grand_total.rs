//! The grand-total row of an empty grouping set over an empty input.
//!
//! `GROUP BY ROLLUP (a)`, `CUBE (…)` and `GROUPING SETS (…, ())` include the empty
//! grouping set, whose group is the whole input: like an aggregate without GROUP BY it
//! has one row even when the input has none (`SELECT a, count(*) FROM t WHERE false
//! GROUP BY ROLLUP (a)` answers `(NULL, 0)` in PostgreSQL, Trino and the standard).
//! DataFusion 53 answers no row (apache/datafusion#21570 and #22040, fixed upstream
//! after 53 by #22039); found by the differential test.
//!
//! Two parts fix it here. The physical rule [`GrandTotalOnEmptyInput`] puts a
//! [`GrandTotalExec`] above each final aggregation with empty grouping sets: it passes
//! the aggregation's rows through and, only if there were none at all, answers one row
//! per empty grouping set — NULL keys, the grouping id of the empty set, and each
//! aggregate's value over no rows, from a fresh accumulator. It needs all of the
//! aggregation's partitions, so it asks for a single input partition (the rule runs
//! before distribution is enforced). And [`has_empty_grouping_set`] keeps DataFusion's
//! `propagate_empty_relation` from replacing such an aggregation over a known-empty input
//! with an empty relation, which would leave nothing for the exec to stand on. Once
//! DataFusion answers the row itself, the exec sees it and adds nothing.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{ScalarValue, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Aggregate, Expr, GroupingSet};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, Partitioning};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt};

/// The name of DataFusion's rule that must leave these aggregations alone.
pub(crate) const PROPAGATE_EMPTY: &str = "propagate_empty_relation";

/// How many empty grouping sets a logical aggregation has (ROLLUP and CUBE have one).
fn logical_empty_sets(aggregate: &Aggregate) -> usize {
    aggregate
        .group_expr
        .iter()
        .map(|expr| match expr {
            Expr::GroupingSet(GroupingSet::Rollup(_) | GroupingSet::Cube(_)) => 1,
            Expr::GroupingSet(GroupingSet::GroupingSets(sets)) => {
                sets.iter().filter(|set| set.is_empty()).count()
            }
            _ => 0,
        })
        .sum()
}

/// Aggregations DataFusion's `propagate_empty_relation` must leave alone: those with an
/// empty grouping set (see the module documentation).
pub(crate) fn has_empty_grouping_set(aggregate: &Aggregate) -> bool {
    logical_empty_sets(aggregate) > 0
}

/// Puts a [`GrandTotalExec`] above every final aggregation with empty grouping sets.
#[derive(Debug, Default)]
pub(crate) struct GrandTotalOnEmptyInput;

impl PhysicalOptimizerRule for GrandTotalOnEmptyInput {
    fn name(&self) -> &str {
        "lakegate_grand_total_on_empty_input"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(aggregate) = node.as_any().downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            match grand_total_rows(aggregate)? {
                Some(rows) => Ok(Transformed::yes(
                    Arc::new(GrandTotalExec::new(node.clone(), rows)) as _,
                )),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The grouping sets of the aggregation that produces `aggregate`'s groups: its own
/// (single-stage), or its partial stage's (final stage).
fn grouping(aggregate: &AggregateExec) -> Option<&AggregateExec> {
    match aggregate.mode() {
        AggregateMode::Single | AggregateMode::SinglePartitioned => Some(aggregate),
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            let mut input = aggregate.input();
            loop {
                if let Some(partial) = input.as_any().downcast_ref::<AggregateExec>() {
                    return (*partial.mode() == AggregateMode::Partial).then_some(partial);
                }
                // Distribution may already be enforced between the two stages.
                match input.children().as_slice() {
                    [only]
                        if input.name().starts_with("Repartition")
                            || input.name().starts_with("Coalesce") =>
                    {
                        input = only;
                    }
                    _ => return None,
                }
            }
        }
        AggregateMode::Partial | AggregateMode::PartialReduce => None,
    }
}

/// The rows answered for an empty input, or `None` when the aggregation has no empty
/// grouping set (or a shape this rule does not know, which it leaves alone).
fn grand_total_rows(aggregate: &AggregateExec) -> Result<Option<RecordBatch>> {
    let Some(grouped) = grouping(aggregate) else {
        return Ok(None);
    };
    let group_by = grouped.group_expr();
    if !group_by.has_grouping_set() {
        return Ok(None);
    }
    let empty_sets = group_by
        .groups()
        .iter()
        .filter(|set| set.iter().all(|is_null| *is_null))
        .count();
    if empty_sets == 0 {
        return Ok(None);
    }
    let keys = group_by.expr().len();
    let schema = aggregate.schema();
    let aggregates = aggregate.aggr_expr();
    if schema.fields().len() != keys + 1 + aggregates.len()
        || schema.field(keys).name() != Aggregate::INTERNAL_GROUPING_ID
        || keys >= 64
    {
        return Ok(None);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields().iter().take(keys) {
        columns.push(new_null_array(field.data_type(), empty_sets));
    }
    // Every key absent: every bit of the grouping id set.
    let grouping_id = if keys == 0 {
        0
    } else {
        u64::MAX >> (64 - keys)
    };
    columns.push(
        ScalarValue::UInt64(Some(grouping_id))
            .cast_to(schema.field(keys).data_type())?
            .to_array_of_size(empty_sets)?,
    );
    for (expr, field) in aggregates.iter().zip(schema.fields().iter().skip(keys + 1)) {
        let mut value = expr.create_accumulator()?.evaluate()?;
        if value.data_type() != *field.data_type() {
            value = value.cast_to(field.data_type())?;
        }
        columns.push(value.to_array_of_size(empty_sets)?);
    }
    Ok(Some(RecordBatch::try_new(schema, columns)?))
}

/// An aggregation's rows, or its grand-total rows when it had none.
#[derive(Debug)]
pub(crate) struct GrandTotalExec {
    input: Arc<dyn ExecutionPlan>,
    empty_input_rows: RecordBatch,
    properties: Arc<PlanProperties>,
}

impl GrandTotalExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, empty_input_rows: RecordBatch) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            empty_input_rows,
            properties: Arc::new(properties),
        }
    }
}

impl GrandTotalExec {
    /// The rows answered when the input has none.
    pub(crate) fn empty_input_rows(&self) -> &RecordBatch {
        &self.empty_input_rows
    }
}

impl DisplayAs for GrandTotalExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "GrandTotalExec: rows_if_empty={}",
            self.empty_input_rows.num_rows()
        )
    }
}

impl ExecutionPlan for GrandTotalExec {
    fn name(&self) -> &'static str {
        "GrandTotalExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => {
                Ok(Arc::new(Self::new(input, self.empty_input_rows.clone())))
            }
            _ => internal_err!("GrandTotalExec takes exactly one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("GrandTotalExec has one partition, asked for {partition}");
        }
        Ok(Box::pin(GrandTotalStream {
            input: Some(self.input.execute(0, context)?),
            empty_input_rows: Some(self.empty_input_rows.clone()),
            schema: self.input.schema(),
        }))
    }
}

struct GrandTotalStream {
    /// `None` once the input has ended.
    input: Option<SendableRecordBatchStream>,
    /// Taken when a row passes (nothing to add) or when it is answered.
    empty_input_rows: Option<RecordBatch>,
    schema: SchemaRef,
}

impl Stream for GrandTotalStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(input) = self.input.as_mut() else {
            return Poll::Ready(None);
        };
        match input.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                if batch.num_rows() > 0 {
                    self.empty_input_rows = None;
                }
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(None) => {
                self.input = None;
                Poll::Ready(self.empty_input_rows.take().map(Ok))
            }
            other => other,
        }
    }
}

impl RecordBatchStream for GrandTotalStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
