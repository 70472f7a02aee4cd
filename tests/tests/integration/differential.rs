//! Differential SQL testing: random but valid queries over the TPC-H schema
//! (`lakegate_tests::sqlgen`) run through the gateway and through PostgreSQL holding
//! the same rows, and their answers compared (as multisets unless the query orders its
//! rows; numbers with a relative tolerance, since the engines choose different scales
//! and float formats). And ternary logic partitioning, which needs no reference: for
//! any predicate p, `count(*)` equals the counts `WHERE p`, `WHERE NOT p` and
//! `WHERE p IS NULL` added up.
//!
//! Bounded for CI: `LAKEGATE_DIFF_QUERIES` queries (default 300) from seed
//! `LAKEGATE_DIFF_SEED` (default 1) at SF 0.01. Every mismatch is printed with its SQL.

use std::time::Instant;

use lakegate_tests::sqlgen::{QueryGen, TABLES};
use lakegate_tests::{TestGateway, query_text, text_rows};

type Rows = Vec<Vec<Option<String>>>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// PostgreSQL's type for a column the gateway describes.
fn postgres_type(data_type: &str, precision: Option<&str>, scale: Option<&str>) -> String {
    match data_type {
        "numeric" => format!(
            "numeric({}, {})",
            precision.unwrap_or("38"),
            scale.unwrap_or("0")
        ),
        "text" | "character varying" | "character" => "text COLLATE \"C\"".into(),
        other => other.into(),
    }
}

/// Creates each TPC-H table in PostgreSQL as the gateway describes it, and copies the
/// gateway's rows into it.
async fn load_postgres(lake: &tokio_postgres::Client, pg: &tokio_postgres::Client) {
    use futures::{SinkExt, TryStreamExt};
    for table in TABLES {
        let columns = query_text(
            lake,
            &format!(
                "SELECT column_name, data_type, numeric_precision, numeric_scale \
                 FROM information_schema.columns WHERE table_catalog = 'lake' \
                 AND table_schema = 'tpch' AND table_name = '{}' ORDER BY ordinal_position",
                table.name
            ),
        )
        .await;
        assert!(!columns.is_empty(), "no columns for {}", table.name);
        let definitions: Vec<String> = columns
            .iter()
            .map(|c| {
                let name = c[0].as_deref().expect("column name");
                let data_type = c[1].as_deref().expect("data type");
                format!(
                    "{name} {}",
                    postgres_type(data_type, c[2].as_deref(), c[3].as_deref())
                )
            })
            .collect();
        pg.batch_execute(&format!(
            "CREATE TABLE {} ({})",
            table.name,
            definitions.join(", ")
        ))
        .await
        .expect("create table");
        let source = lake
            .copy_out(&format!("COPY lake.tpch.{} TO STDOUT", table.name))
            .await
            .expect("copy out");
        let sink = pg
            .copy_in(&format!("COPY {} FROM STDIN", table.name))
            .await
            .expect("copy in");
        futures::pin_mut!(source);
        futures::pin_mut!(sink);
        while let Some(chunk) = source.try_next().await.expect("a chunk") {
            sink.send(chunk).await.expect("send");
        }
        sink.finish().await.expect("copied");
    }
    pg.batch_execute("ANALYZE").await.expect("analyze");
}

/// Runs `sql` with the simple protocol: its rows as text, or the error's message.
async fn run(client: &tokio_postgres::Client, sql: &str) -> Result<Rows, String> {
    match client.simple_query(sql).await {
        Ok(messages) => Ok(text_rows(&messages)),
        Err(error) => Err(error.as_db_error().map_or_else(
            || error.to_string(),
            |e| format!("{}: {}", e.code().code(), e.message()),
        )),
    }
}

/// Whether two cells hold the same value: equal text, or numbers within a relative
/// 1e-6 (avg and division scales differ between the engines).
fn same_cell(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        _ => false,
    }
}

/// A sort key for unordered comparison: numbers rounded, so that tolerance-equal rows
/// sort alike.
fn sort_key(row: &[Option<String>]) -> Vec<String> {
    row.iter()
        .map(|cell| match cell {
            None => "\u{10FFFF}null".to_string(),
            Some(text) => match text.parse::<f64>() {
                Ok(x) => format!("{:+024.6}", x),
                Err(_) => text.clone(),
            },
        })
        .collect()
}

fn same_rows(mut ours: Rows, mut theirs: Rows, ordered: bool) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!(
            "{} rows against PostgreSQL's {}: first ours {:?}, theirs {:?}",
            ours.len(),
            theirs.len(),
            ours.first(),
            theirs.first()
        ));
    }
    if !ordered {
        ours.sort_by_key(|r| sort_key(r));
        theirs.sort_by_key(|r| sort_key(r));
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a.len() != b.len() || !a.iter().zip(b).all(|(x, y)| same_cell(x, y)) {
            return Err(format!("row {i}: ours {a:?}, PostgreSQL's {b:?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_queries_answer_as_postgresql_does() {
    let Some(server) = lakegate_tests::clients::postgres_server_with(&["log_statement=none"])
    else {
        return;
    };
    let gw = TestGateway::start().await;
    let lake = gw.connect().await;
    let pg = server.connect().await;
    load_postgres(&lake, &pg).await;

    let queries = env_or("LAKEGATE_DIFF_QUERIES", 300);
    let seed = env_or("LAKEGATE_DIFF_SEED", 1);
    let mut generator = QueryGen::new(seed);
    let started = Instant::now();
    let (mut compared, mut both_refused) = (0, 0);
    let mut mismatches = Vec::new();
    for n in 0..queries {
        let query = generator.query();
        // PostgreSQL reads the same tables under its own names.
        let theirs = run(&pg, &query.sql.replace("lake.tpch.", "")).await;
        let ours = run(&lake, &query.sql).await;
        let verdict = match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                compared += 1;
                same_rows(ours, theirs, query.ordered)
            }
            (Err(_), Err(_)) => {
                both_refused += 1;
                Ok(())
            }
            (Err(ours), Ok(_)) => Err(format!("the gateway refused it: {ours}")),
            (Ok(_), Err(theirs)) => Err(format!("PostgreSQL refused it: {theirs}")),
        };
        if let Err(why) = verdict {
            mismatches.push(format!("#{n} {}\n    {why}", query.sql));
        }
    }
    eprintln!(
        "seed {seed}: {queries} queries in {:.1?}: {compared} compared, {both_refused} refused \
         by both, {} mismatches",
        started.elapsed(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ternary_logic_partitions_add_up() {
    let gw = TestGateway::start().await;
    let lake = gw.connect().await;
    let checks = env_or("LAKEGATE_DIFF_QUERIES", 300) / 3;
    let seed = env_or("LAKEGATE_DIFF_SEED", 1);
    let mut generator = QueryGen::new(seed ^ 0x7e5);
    let mut failures = Vec::new();
    for n in 0..checks {
        let (from, p) = generator.partitioned();
        let sql = format!(
            "SELECT (SELECT count(*) FROM {from}), \
             (SELECT count(*) FROM {from} WHERE {p}), \
             (SELECT count(*) FROM {from} WHERE NOT ({p})), \
             (SELECT count(*) FROM {from} WHERE ({p}) IS NULL)"
        );
        match run(&lake, &sql).await {
            Ok(rows) => {
                let counts: Vec<i64> = rows[0]
                    .iter()
                    .map(|c| c.as_deref().and_then(|v| v.parse().ok()).unwrap_or(-1))
                    .collect();
                if counts[0] != counts[1] + counts[2] + counts[3] {
                    failures.push(format!("#{n} {sql}\n    {counts:?}"));
                }
            }
            Err(error) => failures.push(format!("#{n} {sql}\n    refused: {error}")),
        }
    }
    eprintln!(
        "seed {seed}: {checks} partitionings, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "partitions that do not add up:\n{}",
        failures.join("\n")
    );
}
