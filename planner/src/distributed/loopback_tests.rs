//! Two workers on loopback run a secured plan cut into stages: the same answer as on
//! the gateway, the policy barrier and the scan counters shipped with their stages, and
//! the counters' figures summed back from the workers' metrics; joins that emit their
//! build side's rows run with both sides hashed, and answer as on the gateway.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion_distributed::{DistributedExt, WorkerResolver};
use lakegate_catalog::CountRowsExec;
use lakegate_catalog::metering::ScanMeter;
use lakegate_security::rules::PolicyBarrierExec;
use url::Url;

use lakegate_security::signer::Signer;
use tokio_util::sync::CancellationToken;

use super::auth::SignedChannels;
use super::{GatewayCodec, serve_worker};

struct Fixed(Vec<Url>);

impl WorkerResolver for Fixed {
    fn get_urls(&self) -> Result<Vec<Url>, datafusion::error::DataFusionError> {
        Ok(self.0.clone())
    }
}

fn part(first: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(first..first + 100)),
            Arc::new(StringArray::from_iter(
                (first..first + 100).map(|i| (i % 7 != 0).then(|| format!("name {}", i % 13))),
            )),
        ],
    )
    .expect("batch")
}

fn signer() -> Signer {
    Signer::from_secret(b"the secret of this test deployment, long enough").expect("keys")
}

async fn start_worker() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_worker(
        listener,
        Arc::new(RuntimeEnv::default()),
        signer(),
        CancellationToken::new(),
    ));
    Url::parse(&format!("http://{addr}")).expect("url")
}

/// `sql`'s physical plan on `ctx`.
async fn physical_plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql)
        .await
        .expect("sql")
        .create_physical_plan()
        .await
        .expect("plan")
}

/// A session whose plans two loopback workers run, a task per file, their metrics
/// sent back.
async fn two_worker_session() -> SessionContext {
    let urls = vec![start_worker().await, start_worker().await];
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_distributed_worker_resolver(Fixed(urls))
        .with_distributed_user_codec(GatewayCodec)
        .with_distributed_channel_resolver(SignedChannels::new(signer()))
        .with_distributed_files_per_task(1)
        .expect("files per task")
        .with_distributed_broadcast_joins(true)
        .expect("broadcast joins")
        .with_distributed_metrics_collection(true)
        .expect("metrics")
        .build();
    SessionContext::new_with_state(state)
}

/// Registers `name`: the rows of `part(first)` for each of `firsts`, a file each.
async fn register_files(ctx: &SessionContext, dir: &std::path::Path, name: &str, firsts: &[i64]) {
    let table = dir.join(name);
    std::fs::create_dir(&table).expect("dir");
    for (n, first) in firsts.iter().enumerate() {
        let batch = part(*first);
        let file = std::fs::File::create(table.join(format!("{n}.parquet"))).expect("file");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    }
    ctx.register_parquet(
        name,
        table.to_str().expect("path"),
        ParquetReadOptions::default(),
    )
    .await
    .expect("table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_a_secured_plan_as_the_gateway_does() {
    let dir = tempfile::tempdir().expect("dir");
    let ctx = two_worker_session().await;
    register_files(&ctx, dir.path(), "t", &[0, 100]).await;
    let plan = physical_plan(
        &ctx,
        "SELECT left(name, 6) AS prefix, count(*) AS n, sum(id) AS s FROM t \
             WHERE name IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    .await;
    // Secured as the gateway secures a scan: counted, behind the policy barrier.
    let meter = Arc::new(ScanMeter::default());
    let secured = plan
        .transform_up(|node| {
            if node.as_any().is::<DataSourceExec>() {
                let counted = Arc::new(CountRowsExec::new(node, meter.clone()));
                Ok(Transformed::yes(
                    Arc::new(PolicyBarrierExec::new(counted)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .expect("secure")
        .data;
    let here = collect(secured.clone(), ctx.task_ctx())
        .await
        .expect("on the gateway");
    assert_eq!(meter.figures().rows, 200);

    let distributed = super::distribute(&secured, ctx.state().config_options())
        .expect("distributed")
        .expect("the plan was cut into stages");
    let there = collect(distributed.clone(), ctx.task_ctx())
        .await
        .expect("on the workers");
    let text = |batches: &[RecordBatch]| pretty_format_batches(batches).expect("text").to_string();
    assert_eq!(text(&there), text(&here));
    assert_eq!(
        meter.figures().rows,
        200,
        "the gateway's own meter read nothing more"
    );

    // The workers' counters, summed from the metrics their tasks sent back.
    let workers = ScanMeter::default();
    let work = super::add_worker_figures(distributed, &workers).expect("metrics");
    assert!(
        work.cpu_nanos > 0,
        "the workers' operators' compute time came back"
    );
    assert!(
        work.transferred_bytes > 0,
        "the bytes the stages sent across the network were counted"
    );
    assert_eq!(workers.figures().rows, 200);
    assert!(
        workers.figures().data_bytes > 0,
        "the workers' Parquet reads were counted"
    );

    // A plan calling a function of the session (as current_user is) stays on the
    // gateway.
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "session_function",
        vec![DataType::Utf8],
        DataType::Utf8,
        datafusion::logical_expr::Volatility::Stable,
        Arc::new(|args: &[datafusion::logical_expr::ColumnarValue]| Ok(args[0].clone())),
    ));
    let bound = physical_plan(
        &ctx,
        "SELECT session_function(name), count(*) FROM t GROUP BY 1",
    )
    .await;
    assert!(
        super::distribute(&bound, ctx.state().config_options())
            .expect("checked")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_that_emit_their_build_rows_travel_partitioned_with_the_same_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let ctx = two_worker_session().await;
    // Two files each, so every scan spreads over two tasks; ids 150..200 in both.
    register_files(&ctx, dir.path(), "d", &[0, 100]).await;
    register_files(&ctx, dir.path(), "f", &[150, 250]).await;
    // (query, whether a join that collected its build side now hashes both sides)
    let queries = [
        (
            "SELECT d.id, f.id FROM d LEFT JOIN f ON d.id = f.id ORDER BY 1, 2",
            true,
        ),
        (
            "SELECT d.id, f.id FROM d FULL JOIN f ON d.id = f.id ORDER BY 1, 2",
            true,
        ),
        (
            "SELECT id FROM d WHERE NOT EXISTS (SELECT 1 FROM f WHERE f.id = d.id) ORDER BY 1",
            true,
        ),
        // A mark join: the IN under OR marks each row of d.
        (
            "SELECT id FROM d WHERE id < 5 OR id IN (SELECT id FROM f) ORDER BY 1",
            true,
        ),
        // The probe side's rows come out: the build side is broadcast as before.
        (
            "SELECT id FROM d WHERE id IN (SELECT id FROM f WHERE name IS NOT NULL) ORDER BY 1",
            false,
        ),
    ];
    let text = |batches: &[RecordBatch]| pretty_format_batches(batches).expect("text").to_string();
    for (sql, partitioned) in queries {
        let plan = physical_plan(&ctx, sql).await;
        let here = collect(plan.clone(), ctx.task_ctx()).await.expect("here");
        let staged = super::distribute(&plan, ctx.state().config_options())
            .expect("distributed")
            .unwrap_or_else(|| panic!("{sql}: the plan was not cut into stages"));
        let shape = displayable(staged.as_ref()).indent(false).to_string();
        assert_eq!(
            shape.contains("HashJoinExec: mode=Partitioned"),
            partitioned,
            "{sql}:\n{shape}"
        );
        let there = collect(staged, ctx.task_ctx()).await.expect("there");
        assert_eq!(text(&there), text(&here), "{sql}");
    }

    // NOT IN over a nullable column must see every NULL of the subquery (one makes
    // the answer empty), which only a join collecting its build side whole does: such
    // a plan stays on the gateway.
    for (sql, rows) in [
        (
            "SELECT id FROM d WHERE name NOT IN (SELECT name FROM f) ORDER BY 1",
            0,
        ),
        (
            "SELECT id FROM d WHERE name NOT IN \
             (SELECT name FROM f WHERE id < 160 AND name IS NOT NULL) ORDER BY 1",
            53,
        ),
    ] {
        let plan = physical_plan(&ctx, sql).await;
        let here = collect(plan.clone(), ctx.task_ctx()).await.expect("here");
        assert_eq!(
            here.iter().map(|b| b.num_rows()).sum::<usize>(),
            rows,
            "{sql}"
        );
        assert!(
            super::distribute(&plan, ctx.state().config_options())
                .expect("checked")
                .is_none(),
            "{sql}: a null-aware anti join stays on the gateway"
        );
    }
}
