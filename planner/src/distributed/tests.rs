//! A secured plan encoded as a worker receives it, decoded in a worker's context and run:
//! the same rows, the policy nodes in place, the scan counter reporting its figures as
//! metrics; plans the workers cannot run faithfully are refused.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{Column, lit};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr, collect};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use lakegate_catalog::metering::ScanMeter;
use lakegate_catalog::{CountRowsExec, figures_from_metrics};
use lakegate_security::rules::PolicyBarrierExec;

use super::{GatewayCodec, worker_functions};
use crate::rules::grand_total::GrandTotalExec;

fn rows() -> RecordBatch {
    // Field metadata as Iceberg's Arrow schema carries it: the read schema drops it.
    let id = Field::new("id", DataType::Int64, false).with_metadata(HashMap::from([(
        "PARQUET:field_id".to_string(),
        "1".to_string(),
    )]));
    let schema = Arc::new(Schema::new(vec![
        id,
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..100)),
            Arc::new(StringArray::from_iter(
                (0..100).map(|i| (i % 7 != 0).then(|| format!("name {i}"))),
            )),
        ],
    )
    .expect("batch")
}

/// scan → counter → read schema → policy barrier → filter (`f(name) …`) → grand total.
fn secured_plan(function: Arc<ScalarUDF>) -> Arc<dyn ExecutionPlan> {
    let batch = rows();
    let scan = MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None)
        .expect("scan");
    let counted = Arc::new(CountRowsExec::new(scan, Arc::new(ScanMeter::default())));
    let read = lakegate_catalog::iceberg::without_scan_metadata(counted).expect("read schema");
    let barrier = Arc::new(PolicyBarrierExec::new(read));
    let schema = barrier.schema();
    let name: Arc<dyn PhysicalExpr> = Arc::new(Column::new("name", 1));
    let call = ScalarFunctionExpr::try_new(
        function,
        vec![name, lit(3i64)],
        &schema,
        Arc::new(datafusion::common::config::ConfigOptions::default()),
    )
    .expect("call");
    let predicate = datafusion::physical_expr::expressions::binary(
        Arc::new(call),
        datafusion::logical_expr::Operator::Eq,
        lit("nam"),
        &schema,
    )
    .expect("predicate");
    let filter = Arc::new(FilterExec::try_new(predicate, barrier).expect("filter"));
    let empty = RecordBatch::new_empty(filter.schema());
    Arc::new(GrandTotalExec::new(filter, empty))
}

fn worker_context() -> Arc<TaskContext> {
    let ctx = SessionContext::new();
    for function in worker_functions().scalar.values() {
        ctx.register_udf(function.as_ref().clone());
    }
    ctx.task_ctx()
}

fn left() -> Arc<ScalarUDF> {
    worker_functions()
        .scalar
        .get("left")
        .cloned()
        .expect("left is a worker function")
}

#[tokio::test]
async fn a_secured_plan_decodes_on_a_worker_and_gives_the_same_rows() {
    let plan = secured_plan(left());
    let bytes = physical_plan_to_bytes_with_extension_codec(plan.clone(), &GatewayCodec)
        .expect("the secured plan encodes");
    let worker = worker_context();
    let shipped = physical_plan_from_bytes_with_extension_codec(&bytes, &worker, &GatewayCodec)
        .expect("a worker decodes it");

    // The same nodes, in the same places.
    let names = |plan: &Arc<dyn ExecutionPlan>| {
        let mut names = Vec::new();
        plan.apply(|node| {
            names.push(node.name().to_string());
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walk");
        names
    };
    assert_eq!(names(&shipped), names(&plan));
    assert!(names(&plan).contains(&"PolicyBarrierExec".to_string()));
    assert_eq!(shipped.schema(), plan.schema());

    let here = collect(plan, SessionContext::new().task_ctx())
        .await
        .expect("run here");
    let there = collect(shipped.clone(), worker).await.expect("run there");
    let text = |batches: &[RecordBatch]| pretty_format_batches(batches).expect("text").to_string();
    assert_eq!(text(&there), text(&here));
    assert_eq!(
        there.iter().map(RecordBatch::num_rows).sum::<usize>(),
        85,
        "the 100 rows but the 15 without a name"
    );

    // The worker's counter reports the rows it counted as metrics.
    let mut figures = Vec::new();
    shipped
        .apply(|node| {
            if node.as_any().is::<CountRowsExec>() {
                figures.push(figures_from_metrics(&node.metrics().expect("metrics")));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walk");
    assert_eq!(figures.len(), 1);
    assert_eq!(figures[0].rows, 100);
}

#[test]
fn a_plan_with_a_function_of_the_session_stays_on_the_gateway() {
    // A function the session registered (as it does current_user and the privilege
    // checks), even under a worker function's name: not shipped.
    for name in ["current_user_of_this_session", "left"] {
        let session_bound = Arc::new(create_udf(
            name,
            vec![DataType::Utf8, DataType::Int64],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|args: &[ColumnarValue]| Ok(args[0].clone())),
        ));
        let error =
            physical_plan_to_bytes_with_extension_codec(secured_plan(session_bound), &GatewayCodec)
                .expect_err("refused");
        assert!(
            error.to_string().contains("evaluated for the session"),
            "{name}: {error}"
        );
    }
}
