//! SQL fuzz: thousands of random statements (`lakegate_tests::sqlfuzz`: random
//! functions, casts, operators and literals over the TPC-H schema, joins, and valid
//! generated queries mutated token by token), as the admin and as the analyst whose
//! tables carry row filters and masks. Every statement is answered or refused with a
//! SQLSTATE within the statement timeout; an internal error (XX000) carries a
//! reference; nothing panics; no connection is lost; the server serves afterwards.
//!
//! Bounded for CI: `LAKEGATE_SQL_FUZZ_STATEMENTS` (default 2000) from seed
//! `LAKEGATE_SQL_FUZZ_SEED` (default 1); a failure prints the statement to replay.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lakegate_tests::panics::{count_panics, panics};
use lakegate_tests::sqlfuzz::SqlFuzz;
use lakegate_tests::{TestGateway, query_text};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The statement timeout each session runs under (restored after every SET).
const TIMEOUT: &str = "SET statement_timeout = 3000";

/// The gateway runs on threads with the stack the binary gives them (tokio's test
/// runtime has 2 MiB).
#[test]
fn random_statements_are_answered_or_refused_and_never_break_the_server() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fuzz());
}

async fn fuzz() {
    count_panics();
    let statements = env_or("LAKEGATE_SQL_FUZZ_STATEMENTS", 2000);
    let seed = env_or("LAKEGATE_SQL_FUZZ_SEED", 1);
    let gw = TestGateway::start().await;
    let sessions = [
        gw.connect_as("admin", "admin").await.expect("admin"),
        gw.connect_as("analyst", "analyst").await.expect("analyst"),
    ];
    for session in &sessions {
        session.simple_query(TIMEOUT).await.expect("timeout");
    }
    // Each statement printed before it runs, to find one that takes the process down.
    let trace = std::env::var_os("LAKEGATE_SQL_FUZZ_TRACE").is_some();
    let mut fuzz = SqlFuzz::new(seed);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut internal = Vec::new();
    let started = Instant::now();
    for n in 0..statements {
        let sql = fuzz.statement();
        let session = &sessions[(n % 2) as usize];
        if trace {
            eprintln!("#{n} {sql}");
        }
        let answer = tokio::time::timeout(Duration::from_secs(60), session.simple_query(&sql))
            .await
            .unwrap_or_else(|_| panic!("#{n} (seed {seed}) had no answer in 60 s: {sql}"));
        let outcome = match answer {
            Ok(_) => "answered".to_string(),
            Err(error) => {
                let db = error.as_db_error().unwrap_or_else(|| {
                    panic!("#{n} (seed {seed}) lost its connection ({error}): {sql}")
                });
                let code = db.code().code().to_string();
                if code == "XX000" {
                    assert!(
                        db.message().contains("reference"),
                        "#{n} (seed {seed}): an internal error without a reference: {}: {sql}",
                        db.message()
                    );
                    internal.push(format!("#{n} {sql}"));
                }
                code
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
        if sql.trim_start().to_ascii_uppercase().starts_with("SET") {
            session.simple_query(TIMEOUT).await.expect("timeout again");
        }
        // A statement may leave a transaction block open or failed; close it.
        session.simple_query("ROLLBACK").await.unwrap_or_else(|e| {
            panic!("#{n} (seed {seed}) left the session unusable ({e}): {sql}")
        });
        assert_eq!(panics(), 0, "#{n} (seed {seed}) panicked: {sql}");
    }
    eprintln!(
        "seed {seed}: {statements} statements in {:.1?}: {outcomes:?}",
        started.elapsed()
    );
    for statement in internal.iter().take(20) {
        eprintln!("internal error: {statement}");
    }
    // The server still serves, on the old sessions and a new one.
    let fresh = gw.connect().await;
    for session in sessions.iter().chain([&fresh]) {
        assert_eq!(
            query_text(session, "SELECT 1").await,
            vec![vec![Some("1".to_string())]]
        );
    }
    assert!(
        outcomes.get("answered").copied().unwrap_or(0) > 0,
        "nothing was answered: the generator writes only errors"
    );
}
