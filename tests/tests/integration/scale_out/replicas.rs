//! Two replicas over one data directory with one Flight SQL secret file: a bearer
//! token and a ticket issued by one are redeemed by the other, as a load balancer that
//! sends each call anywhere needs; a replica with another secret refuses them; keys
//! rotate through the file without a restart; a prepared statement bound at one replica
//! runs at another. Replicas sharing a coordination store (SQLite, and a live
//! PostgreSQL) share budgets, `max_concurrent` slots, running queries and kills; the
//! history of two live replicas holds each query once.

use std::path::Path;
use std::time::{Duration, SystemTime};

use arrow::array::RecordBatch;
use lakegate_tests::postgres_server::PostgresServer;
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};
use tonic::Code;

use crate::flight::sql::{fetch, to_status};

const FIRST: &str = "the first shared secret of this deployment, long enough";
const SECOND: &str = "the second shared secret of this deployment, long enough";

fn write_secret(path: &Path, text: &str, age: u64) {
    std::fs::write(path, text).expect("secret");
    // Each rewrite gets a later modification time, however fast the test runs.
    let when = SystemTime::now() + Duration::from_secs(age);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .expect("mtime");
}

/// Two replicas holding the first secret, in a directory of their own (its secret file
/// path given, for rotations).
async fn replicas_sharing_a_secret() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    TestGateway,
    TestGateway,
) {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("flight.secret");
    write_secret(&secret, &format!("{FIRST}\n"), 0);
    let a = replica(&secret).await;
    let b = replica(&secret).await;
    (dir, secret, a, b)
}

async fn replica(secret: &Path) -> TestGateway {
    let mut config = test_config(seeded_data_dir());
    config.flight.secret_file = Some(secret.display().to_string());
    TestGateway::start_with(config).await
}

/// A coordination store in `dir` (SQLite).
fn sqlite_store(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("coordination.db").display())
}

/// A coordination store in a throw-away PostgreSQL cluster (kept alive by the first
/// element), or `None` (skipped) where PostgreSQL is not installed and the run does not
/// require every client.
fn postgres_store() -> Option<(PostgresServer, String)> {
    let server = lakegate_tests::clients::postgres_server()?;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    Some((server, url))
}

/// Two replicas over the seeded data directory sharing the coordination store at
/// `store`, each configured further by `tweak`.
async fn two_replicas(
    store: &str,
    tweak: impl Fn(&mut lakegate_gateway::config::Config),
) -> (TestGateway, TestGateway) {
    let store = store.to_string();
    let config = || {
        let mut config = test_config(seeded_data_dir());
        config.finops.shared_store = Some(store.clone());
        tweak(&mut config);
        config
    };
    let a = TestGateway::start_with(config()).await;
    let b = TestGateway::start_with(config()).await;
    (a, b)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn tokens_and_tickets_of_one_replica_are_redeemed_at_another_and_keys_rotate() {
    let (dir, secret, a, b) = replicas_sharing_a_secret().await;

    // Handshake at A; its bearer token and a ticket for a statement, both used at B.
    let mut at_a = a.flight_as("demo", "demo").await.expect("handshake at A");
    let token = at_a.token().cloned().expect("a bearer token");
    let info = at_a
        .execute("SELECT n_name FROM lake.tpch.nation".to_string(), None)
        .await
        .map_err(to_status)
        .expect("GetFlightInfo at A");
    let mut at_b = arrow_flight::sql::client::FlightSqlServiceClient::new(b.flight_channel().await);
    at_b.set_token(token.clone());
    let batches = fetch(&mut at_b, &info)
        .await
        .expect("A's ticket redeemed at B");
    assert_eq!(rows(&batches), 25);

    // A replica with another secret refuses both.
    let other_secret = dir.path().join("other.secret");
    write_secret(&other_secret, &format!("{SECOND}\n"), 0);
    let c = replica(&other_secret).await;
    let mut at_c = arrow_flight::sql::client::FlightSqlServiceClient::new(c.flight_channel().await);
    at_c.set_token(token.clone());
    let refused = fetch(&mut at_c, &info)
        .await
        .expect_err("another deployment's token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");

    // Rotation: the second secret first on both replicas (they now sign with it), the
    // first kept: A's old token and ticket still work at B.
    write_secret(&secret, &format!("{SECOND}\n{FIRST}\n"), 5);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let batches = fetch(&mut at_b, &info)
        .await
        .expect("old ticket during the overlap");
    assert_eq!(rows(&batches), 25);
    let fresh = a
        .flight_as("demo", "demo")
        .await
        .expect("a new handshake at A");
    let new_token = fresh.token().cloned().expect("token");
    // The new token is signed by the second secret: replica C (second secret only)
    // takes it.
    at_c.set_token(new_token.clone());
    let info_c = at_c
        .execute("SELECT count(*) FROM lake.tpch.region".to_string(), None)
        .await
        .map_err(to_status)
        .expect("C accepts a token signed by the second secret");
    assert_eq!(rows(&fetch(&mut at_c, &info_c).await.expect("rows")), 1);

    // The first secret removed: the old token is refused, the new one is not.
    write_secret(&secret, &format!("{SECOND}\n"), 10);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refused = fetch(&mut at_b, &info)
        .await
        .expect_err("the first secret is gone");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    at_b.set_token(new_token);
    let info_b = at_b
        .execute("SELECT count(*) FROM lake.tpch.region".to_string(), None)
        .await
        .map_err(to_status)
        .expect("the new token at B");
    assert_eq!(rows(&fetch(&mut at_b, &info_b).await.expect("rows")), 1);
}

#[tokio::test]
async fn a_prepared_statement_bound_at_one_replica_runs_at_another() {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let (_dir, _secret, a, b) = replicas_sharing_a_secret().await;

    // Prepared and bound at A: the binding comes back in a new handle.
    let mut at_a = a.flight_as("demo", "demo").await.expect("handshake at A");
    let mut statement = at_a
        .prepare(
            "SELECT n_name FROM lake.tpch.nation WHERE n_regionkey = ? ORDER BY n_name".into(),
            None,
        )
        .await
        .map_err(to_status)
        .expect("prepare at A");
    let schema = Arc::new(Schema::new(vec![Field::new("r", DataType::Int64, true)]));
    let binding =
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).expect("binding");
    statement.set_parameters(binding).expect("bind");
    let info = statement
        .execute()
        .await
        .map_err(to_status)
        .expect("bound and described at A");

    // A's ticket is redeemed at B, which never saw the statement.
    let token = at_a.token().cloned().expect("token");
    let mut at_b = arrow_flight::sql::client::FlightSqlServiceClient::new(b.flight_channel().await);
    at_b.set_token(token.clone());
    let batches = fetch(&mut at_b, &info).await.expect("A's ticket at B");
    assert_eq!(rows(&batches), 5, "the five nations of region 1");

    // The bound handle itself is described at B (GetFlightInfo), then executed there.
    let descriptor = info.flight_descriptor.clone().expect("descriptor");
    let mut raw =
        arrow_flight::flight_service_client::FlightServiceClient::new(b.flight_channel().await);
    let mut request = tonic::Request::new(descriptor.clone());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let info_b = raw
        .get_flight_info(request)
        .await
        .expect("the handle described at B")
        .into_inner();
    let at_b_rows = fetch(&mut at_b, &info_b).await.expect("rows at B");
    assert_eq!(rows(&at_b_rows), 5);
    assert_eq!(
        format!("{:?}", at_b_rows),
        format!("{:?}", batches),
        "the same rows whichever replica described the handle"
    );

    // Another user cannot use the handle at either replica.
    let admin = b.flight_as("admin", "admin").await.expect("admin at B");
    let mut request = tonic::Request::new(descriptor.clone());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", admin.token().expect("token"))
            .parse()
            .expect("header"),
    );
    let refused = raw
        .get_flight_info(request)
        .await
        .expect_err("another user's handle");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");

    // Closed at A, the handle is unknown at A.
    statement
        .close()
        .await
        .map_err(to_status)
        .expect("close at A");
    let closed = fetch(&mut at_a, &info).await.expect_err("closed at A");
    assert_eq!(closed.code(), Code::NotFound, "{closed}");
}

#[tokio::test]
async fn a_budget_spent_through_one_replica_refuses_at_another() {
    let dir = tempfile::tempdir().expect("dir");
    budget_spent_at_a_refuses_at_b(dir.path(), &sqlite_store(dir.path())).await;
}

/// Budgets, slots, running queries and kills, shared through a PostgreSQL database, as
/// replicas on machines without a shared file system do.
#[tokio::test]
async fn replicas_share_budgets_slots_and_kills_through_postgresql() {
    let Some((_server, store)) = postgres_store() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    budget_spent_at_a_refuses_at_b(dir.path(), &store).await;
    role_limit_of_one_holds_across_replicas(&store).await;
    kill_from_b_stops_a_query_of_a(&store).await;
}

async fn budget_spent_at_a_refuses_at_b(dir: &Path, store: &str) {
    use lakegate_planner::{Budget, BudgetMode, BudgetPeriod, PriceList};
    let store = store.to_string();
    let replica_config = |name: &str| {
        let mut config = test_config(seeded_data_dir());
        config.finops.history.dir = Some(dir.join(name).display().to_string());
        config.finops.prices = PriceList {
            unit: "bytes".into(),
            per_tb_scanned: 1e12,
            per_cpu_hour: 0.0,
        };
        // One read of nation (3.4 kB and its manifests) spends it.
        config.finops.budgets = vec![Budget {
            subject: "role:analyst".into(),
            period: BudgetPeriod::Day,
            limit: 3500.0,
            mode: BudgetMode::Hard,
        }];
        config.finops.shared_store = Some(store.clone());
        config
    };
    let a = TestGateway::start_with(replica_config("a")).await;
    let b = TestGateway::start_with(replica_config("b")).await;
    let sql = "SELECT count(*) FROM lake.tpch.nation";
    let at_a = a
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at A");
    at_a.simple_query(sql).await.expect("within the budget");
    // B never ran a query for the analyst, but refuses: A's spend is shared (written a
    // few milliseconds after the query ends).
    let at_b = b
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at B");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        match at_b.simple_query(sql).await {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "B never saw A's spending"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let db = error.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "53400");
    assert!(
        db.message()
            .contains("budget of 3500 bytes for role:analyst is spent"),
        "{}",
        db.message()
    );
    // Without the shared store each replica would count alone: a third replica on its
    // own still admits the analyst.
    let mut alone = replica_config("c");
    alone.finops.shared_store = None;
    let c = TestGateway::start_with(alone).await;
    let at_c = c
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at C");
    at_c.simple_query(sql)
        .await
        .expect("C counts only its own spending");
}

#[tokio::test]
async fn a_role_limit_of_one_query_holds_across_replicas() {
    let dir = tempfile::tempdir().expect("dir");
    role_limit_of_one_holds_across_replicas(&sqlite_store(dir.path())).await;
}

async fn role_limit_of_one_holds_across_replicas(store: &str) {
    use lakegate_planner::QueryLimit;
    let (a, b) = two_replicas(store, |config| {
        config.finops.limits = vec![QueryLimit {
            subject: "role:analyst".into(),
            max_concurrent: Some(1),
            ..QueryLimit::default()
        }];
    })
    .await;
    let at_a = a
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at A");
    let at_b = b
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at B");
    // A slow query holds the role's one slot at A …
    let slow = tokio::spawn(async move {
        at_a.simple_query("SELECT count(*) FROM generate_series(1, 40000000)")
            .await
            .expect("slow query at A");
        std::time::Instant::now()
    });
    let admin = a.connect_as("admin", "admin").await.expect("admin");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let running = lakegate_tests::query_text(
            &admin,
            "SELECT count(*) FROM system.runtime.queries WHERE user_name = 'analyst' \
             AND query LIKE '%generate_series%'",
        )
        .await;
        if running[0][0].as_deref() == Some("1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow query never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // … so a quick one at B waits for it, and ends after it.
    at_b.simple_query("SELECT 1")
        .await
        .expect("quick query at B");
    let quick_done = std::time::Instant::now();
    let slow_done = slow.await.expect("slow task");
    assert!(
        quick_done >= slow_done,
        "B's query ran while A's held the role's only slot"
    );
    // The slot is given back: B runs at once now.
    at_b.simple_query("SELECT 2").await.expect("slot free");
}

#[tokio::test]
async fn every_replica_lists_every_replicas_queries_and_kills_them() {
    let dir = tempfile::tempdir().expect("dir");
    kill_from_b_stops_a_query_of_a(&sqlite_store(dir.path())).await;
}

async fn kill_from_b_stops_a_query_of_a(store: &str) {
    let (a, b) = two_replicas(store, |_| {}).await;
    let at_a = a
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at A");
    let slow = tokio::spawn(async move {
        at_a.simple_query("SELECT count(*) FROM generate_series(1, 4000000000) /* replicas */")
            .await
    });
    // B's admin lists A's query (published within a quarter of a second).
    let admin_b = b.connect_as("admin", "admin").await.expect("admin at B");
    let listed = "SELECT query_id, user_name, state FROM system.runtime.queries \
                  WHERE query LIKE '%/* replicas */%' AND query NOT LIKE '%runtime%'";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let id = loop {
        let rows = lakegate_tests::query_text(&admin_b, listed).await;
        if let Some(row) = rows.first() {
            assert_eq!(row[1].as_deref(), Some("analyst"));
            break row[0].clone().expect("query id");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never listed A's query"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The row filter of the runtime table holds for other replicas' queries too: the
    // demo user at B does not see the analyst's query; the analyst at B does.
    let demo_b = b.connect_as("demo", "demo").await.expect("demo at B");
    assert!(lakegate_tests::query_text(&demo_b, listed).await.is_empty());
    let analyst_b = b
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst at B");
    assert_eq!(
        lakegate_tests::query_text(&analyst_b, listed).await.len(),
        1
    );
    // Nobody else may kill it: the demo user is told it is not running.
    let refused = demo_b
        .simple_query(&format!("CALL system.kill_query('{id}')"))
        .await
        .expect_err("not demo's query");
    assert_eq!(refused.code().map(|c| c.code()), Some("42704"), "{refused}");
    // The owner kills it from B; it stops at A with the kill's message.
    analyst_b
        .simple_query(&format!("CALL system.kill_query('{id}', 'from replica B')"))
        .await
        .expect("kill from B");
    let error = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the query stopped")
        .expect("task")
        .expect_err("killed");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");
    assert!(
        error.as_db_error().is_some_and(
            |e| e.message() == format!("query {id} was killed by analyst: from replica B")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_history_of_two_live_replicas_holds_each_query_exactly_once() {
    let data = lakegate_tests::seed_new_data_dir("lakegate-replicas-");
    let replica_config = |audit: &str| {
        let mut config = test_config(&data);
        // Each replica its own audit trail (one trail, one writer).
        config.audit.path = Some(data.join("audit").join(audit).display().to_string());
        // Small batches: the replicas commit to the one history table many times, at
        // the same moments.
        config.finops.history.flush_rows = 3;
        config.finops.history.flush_seconds = 1;
        config
    };
    // (A second gateway process on one trail is refused: gateway/tests/process.rs.)
    let a = TestGateway::start_with(replica_config("a.jsonl")).await;
    let b = TestGateway::start_with(replica_config("b.jsonl")).await;
    let marker = format!("replicas-history-{}", std::process::id());
    let (at_a, at_b) = (a.connect().await, b.connect().await);
    let run = |client: tokio_postgres::Client, replica: &'static str| {
        let marker = marker.clone();
        async move {
            for i in 0..20 {
                client
                    .simple_query(&format!("SELECT {i} /* {marker} {replica} {i} */"))
                    .await
                    .expect("query");
            }
        }
    };
    tokio::join!(run(at_a, "a"), run(at_b, "b"));
    a.gateway.shutdown().await;
    b.gateway.shutdown().await;
    // A third gateway reads the history both wrote.
    let c = TestGateway::start_with(replica_config("c.jsonl")).await;
    let admin = c.connect_as("admin", "admin").await.expect("admin");
    let rows = lakegate_tests::query_text(
        &admin,
        &format!(
            "SELECT count(*), count(DISTINCT query_id), count(DISTINCT query) \
             FROM system.history.queries WHERE query LIKE '%/* {marker} %'"
        ),
    )
    .await;
    assert_eq!(
        rows[0],
        vec![Some("40".into()), Some("40".into()), Some("40".into())],
        "each of the 40 queries exactly once"
    );
}
