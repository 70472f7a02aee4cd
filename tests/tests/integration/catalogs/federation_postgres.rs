//! A live PostgreSQL database as catalog `crm`, next to the Iceberg lakehouse `lake`:
//! filters, aggregates and joins pushed down as SQL (checked in the SQL PostgreSQL
//! logged), cross-source joins, row filters applied to the remote table, rows transferred
//! metered, and the same database without pushdown (`crm_raw`) for comparison.

use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_tests::postgres_server::PostgresServer;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};
use tokio_postgres::error::SqlState;

/// The PostgreSQL server, or `None` (skipped) when it is not installed and the run
/// does not require every client.
fn postgres() -> Option<PostgresServer> {
    lakegate_tests::clients::postgres_server()
}

const ACCOUNTS: &str = "CREATE TABLE accounts (
    id bigint PRIMARY KEY, name text NOT NULL, region text, custkey bigint,
    balance numeric(12,2), opened date, updated timestamptz, active boolean, avatar bytea);
  INSERT INTO accounts
    SELECT i, 'acct ' || i, CASE WHEN i % 3 = 0 THEN 'EU' ELSE 'US' END, i, i * 10.5,
           DATE '2020-01-01' + i, TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL '1 hour',
           i % 2 = 0, '\\x0102'::bytea
    FROM generate_series(1, 2000) i;";

fn postgres_catalog(name: &str, server: &PostgresServer, pushdown: bool) -> CatalogConfig {
    CatalogConfig {
        name: name.into(),
        kind: CatalogType::Postgres,
        uri: Some(server.conn_str()),
        pushdown: Some(pushdown),
        ..Default::default()
    }
}

async fn start(server: &PostgresServer) -> (TestGateway, tempfile::TempDir) {
    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(postgres_catalog("crm", server, true));
    catalogs.push(postgres_catalog("crm_raw", server, false));
    config.catalogs = catalogs;
    let dir = tempfile::tempdir().expect("dir");
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/policy.csv"))
            .expect("demo policy");
    let policy = dir.path().join("policy.csv");
    // The demo policy's tag rules need the demo tags beside it.
    std::fs::write(
        dir.path().join("tags.csv"),
        lakegate_security::policy::DEMO_TAGS,
    )
    .expect("tags");
    std::fs::write(
        &policy,
        format!(
            "{demo}\n\
             p, role:analyst, crm.*.*, select, allow\n\
             p, role:analyst, crm_raw.*.*, select, allow\n\
             p2, role:analyst, crm.public.accounts, \"region = 'EU'\"\n\
             p2, role:analyst, crm_raw.public.accounts, \"region = 'EU'\"\n"
        ),
    )
    .expect("policy");
    config.security.policy = Some(policy.display().to_string());
    (TestGateway::start_with(config).await, dir)
}

/// Rows the last statement read from its sources (`rows_scanned` of the cost notice).
async fn rows_transferred(
    client: &tokio_postgres::Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    sql: &str,
) -> f64 {
    lakegate_tests::statement_figures(client, notices, sql).await["rows_scanned"]
}

#[tokio::test]
async fn postgres_tables_are_queried_pushed_down_joined_and_governed() {
    let Some(server) = postgres() else {
        return;
    };
    server
        .connect()
        .await
        .batch_execute(ACCOUNTS)
        .await
        .expect("accounts table");
    let (gw, _policy) = start(&server).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");

    // Every column type, read back as PostgreSQL wrote it.
    let rows = query_text(
        &admin,
        "SELECT id, name, region, balance, opened, updated, active, avatar \
         FROM crm.public.accounts WHERE region = 'EU' AND id < 7 ORDER BY id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![
                Some("3".into()),
                Some("acct 3".into()),
                Some("EU".into()),
                Some("31.50".into()),
                Some("2020-01-04".into()),
                Some("2024-01-01 03:00:00+00".into()),
                Some("f".into()),
                Some("\\x0102".into()),
            ],
            vec![
                Some("6".into()),
                Some("acct 6".into()),
                Some("EU".into()),
                Some("63.00".into()),
                Some("2020-01-07".into()),
                Some("2024-01-01 06:00:00+00".into()),
                Some("t".into()),
                Some("\\x0102".into()),
            ],
        ]
    );
    // The filter ran in PostgreSQL.
    let pushed = server.statements();
    assert!(
        pushed
            .iter()
            .any(|s| s.contains("FROM \"public\".\"accounts\"")
                && s.contains("'EU'")
                && s.contains("WHERE")),
        "{pushed:?}"
    );

    // Aggregates run there too.
    let totals = query_text(
        &admin,
        "SELECT region, count(*), sum(balance) FROM crm.public.accounts GROUP BY region ORDER BY 1",
    )
    .await;
    assert_eq!(
        totals,
        vec![
            vec![
                Some("EU".into()),
                Some("666".into()),
                Some("6996496.50".into())
            ],
            vec![
                Some("US".into()),
                Some("1334".into()),
                Some("14014003.50".into())
            ],
        ]
    );
    assert!(
        server
            .statements()
            .iter()
            .any(|s| s.contains("GROUP BY") && s.contains("\"accounts\"")),
        "aggregate not pushed down"
    );

    // A cross-source join: PostgreSQL accounts with Iceberg customers, the account
    // filter pushed to PostgreSQL, visible in EXPLAIN.
    let join = "SELECT count(*), sum(c.c_acctbal) FROM crm.public.accounts a \
                JOIN lake.tpch.customer c ON a.custkey = c.c_custkey \
                WHERE a.region = 'EU' AND a.id <= 300";
    let expected = query_text(
        &admin,
        "SELECT count(*), sum(c_acctbal) FROM lake.tpch.customer \
         WHERE c_custkey <= 300 AND c_custkey % 3 = 0",
    )
    .await;
    assert_eq!(query_text(&admin, join).await, expected);
    let plan = query_text(&admin, &format!("EXPLAIN {join}")).await;
    let physical = plan
        .iter()
        .find(|r| r[0].as_deref() == Some("physical_plan"))
        .and_then(|r| r[1].clone())
        .expect("physical plan");
    assert!(
        physical.contains("VirtualExecutionPlan") && physical.contains("WHERE"),
        "{physical}"
    );
    assert!(
        physical.contains("IcebergTableScan") || physical.contains("DataSourceExec"),
        "{physical}"
    );

    // Rows transferred: 100 with pushdown, all 2000 without.
    let (client, mut notices) = gw.connect_metered_admin().await;
    let sql = |catalog: &str| {
        format!("SELECT name FROM {catalog}.public.accounts WHERE region = 'EU' AND id <= 300")
    };
    assert_eq!(
        rows_transferred(&client, &mut notices, &sql("crm")).await,
        100.0
    );
    assert_eq!(
        rows_transferred(&client, &mut notices, &sql("crm_raw")).await,
        2000.0
    );
    assert_eq!(
        query_text(&admin, &sql("crm_raw")).await,
        query_text(&admin, &sql("crm")).await
    );

    // The analyst's row filter applies to the remote table, with or without pushdown.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    for catalog in ["crm", "crm_raw"] {
        let regions = query_text(
            &analyst,
            &format!("SELECT region, count(*) FROM {catalog}.public.accounts GROUP BY 1"),
        )
        .await;
        assert_eq!(
            regions,
            vec![vec![Some("EU".into()), Some("666".into())]],
            "{catalog}"
        );
    }
    // The demo reader has no grant on crm.
    let demo = gw.connect().await;
    let err = demo
        .simple_query("SELECT * FROM crm.public.accounts")
        .await
        .expect_err("no grant");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");

    // An error in the data raised by PostgreSQL is the query's (22xxx), not internal.
    let err = admin
        .simple_query("SELECT 1 / (id - id) FROM crm.public.accounts WHERE id = 1")
        .await
        .expect_err("division by zero");
    let state = err.code().map(|c| c.code().to_string()).unwrap_or_default();
    assert!(state.starts_with("22"), "{state}: {err:?}");

    // Tables are looked up in the database when a statement names them.
    let err = admin
        .simple_query("SELECT * FROM crm.public.nope")
        .await
        .expect_err("no such table");
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    server
        .connect()
        .await
        .batch_execute("CREATE TABLE late (x int); INSERT INTO late VALUES (1), (2)")
        .await
        .expect("late table");
    assert_eq!(
        query_text(&admin, "SELECT sum(x) FROM crm.public.late").await,
        vec![vec![Some("3".into())]]
    );
}
