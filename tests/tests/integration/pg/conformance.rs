//! PostgreSQL conformance: the statements of `tests/conformance/queries.sql` run on
//! lakegate and on a real PostgreSQL server holding the same table
//! (`tests/conformance/setup.sql`); rows and column type OIDs must be equal, or both
//! must fail with the same SQLSTATE, or lakegate refuses with its documented 0A000.
//! Known differences are marked in the file and must still differ.

use std::path::Path;

use lakegate_tests::{TestGateway, seed_new_data_dir, test_config, text_rows};
use tokio_postgres::Client;

#[derive(Debug, PartialEq)]
enum Answer {
    /// Column type OIDs and text rows.
    Rows(Vec<u32>, Vec<Vec<Option<String>>>),
    Error(String, String),
}

/// What the file expects of a statement.
#[derive(Debug, PartialEq)]
enum Expect {
    Same,
    Refused,
    Differs(String),
}

fn file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
}

fn statement(line: &str) -> (String, Expect) {
    match line.rsplit_once(" -- ") {
        Some((sql, "0A000")) => (sql.trim().to_string(), Expect::Refused),
        Some((sql, note)) => match note.strip_prefix("differs:") {
            Some(why) => (sql.trim().to_string(), Expect::Differs(why.trim().into())),
            None => (line.to_string(), Expect::Same),
        },
        None => (line.to_string(), Expect::Same),
    }
}

async fn answer(client: &Client, sql: &str) -> Answer {
    let error = |e: tokio_postgres::Error| match e.as_db_error() {
        Some(db) => Answer::Error(db.code().code().to_string(), db.message().to_string()),
        None => Answer::Error(String::new(), e.to_string()),
    };
    let types = match client.prepare(sql).await {
        Ok(statement) => statement
            .columns()
            .iter()
            .map(|c| c.type_().oid())
            .collect::<Vec<_>>(),
        Err(e) => return error(e),
    };
    match client.simple_query(sql).await {
        Ok(messages) => Answer::Rows(types, text_rows(&messages)),
        Err(e) => error(e),
    }
}

/// A numeric's text without trailing fraction zeros (`1.50` and `1.5` are one value).
fn normalized_numeric(text: &str) -> String {
    match text.split_once('.') {
        Some((integer, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                integer.to_string()
            } else {
                format!("{integer}.{fraction}")
            }
        }
        None => text.to_string(),
    }
}

fn same_value(oid: u32, a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a != b => match oid {
            1700 => normalized_numeric(a) == normalized_numeric(b),
            700 | 701 => match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => false,
            },
            _ => false,
        },
        _ => a == b,
    }
}

/// Why lakegate's answer differs from PostgreSQL's, if it does.
fn difference(postgres: &Answer, lakegate: &Answer) -> Option<String> {
    match (postgres, lakegate) {
        (Answer::Rows(want_types, want), Answer::Rows(types, got)) => {
            if want_types != types {
                return Some(format!("types {types:?}, PostgreSQL {want_types:?}"));
            }
            if want.len() != got.len() {
                return Some(format!("{} rows, PostgreSQL {}", got.len(), want.len()));
            }
            for (w, g) in want.iter().zip(got) {
                let equal = w.len() == g.len()
                    && w.iter()
                        .zip(g)
                        .zip(types)
                        .all(|((a, b), oid)| same_value(*oid, a, b));
                if !equal {
                    return Some(format!("row {g:?}, PostgreSQL {w:?}"));
                }
            }
            None
        }
        (Answer::Error(code, _), Answer::Error(got, _)) if code == got => None,
        (want, got) => Some(format!("{got:?}, PostgreSQL {want:?}")),
    }
}

async fn setup(postgres: &Client, lakegate: &Client) {
    for line in lines(&file("setup.sql")) {
        match line.strip_prefix("pg:") {
            Some(sql) => {
                postgres.batch_execute(sql).await.expect(sql);
            }
            None => {
                postgres.batch_execute(line).await.expect(line);
                lakegate.batch_execute(line).await.expect(line);
            }
        }
    }
}

#[tokio::test]
async fn statements_answer_as_in_postgres() {
    let Some(server) = lakegate_tests::clients::postgres_server() else {
        return;
    };
    let gw =
        TestGateway::start_with(test_config(&seed_new_data_dir("lakegate-conformance-"))).await;
    let lakegate = gw.connect_as("admin", "admin").await.expect("admin");
    let postgres = server.connect().await;
    setup(&postgres, &lakegate).await;
    // Both sessions in UTC, as the gateway's are.
    postgres
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .expect("UTC");
    let text = file("queries.sql");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in lines(&text) {
        count += 1;
        let (sql, expect) = statement(line);
        let theirs = answer(&postgres, &sql).await;
        let ours = answer(&lakegate, &sql).await;
        let differs = difference(&theirs, &ours);
        match (expect, differs) {
            (Expect::Same, None) => {}
            (Expect::Same, Some(why)) => failures.push(format!("{sql}\n    {why}")),
            (Expect::Refused, _) => {
                if !matches!(&ours, Answer::Error(code, _) if code == "0A000") {
                    failures.push(format!("{sql}\n    not refused with 0A000: {ours:?}"));
                }
            }
            (Expect::Differs(_), Some(_)) => {}
            (Expect::Differs(why), None) => failures.push(format!(
                "{sql}\n    now answers as PostgreSQL does: remove the mark ({why})"
            )),
        }
    }
    assert!(count >= 200, "{count} statements");
    assert!(
        failures.is_empty(),
        "{} of {count} statements differ from PostgreSQL:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
