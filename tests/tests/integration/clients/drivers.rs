//! The client-compatibility suite: the drivers BI tools and notebooks use, run as real
//! programs against a gateway on port 0 — psycopg 3, psycopg2, SQLAlchemy and pandas,
//! psqlODBC through unixODBC and pyodbc (tests/clients/python_clients.py), and pgjdbc
//! (tests/clients/JdbcClients.java). Each checks its rows against expected values.
//!
//! `.ci/run` installs the clients and sets `LAKEGATE_REQUIRE_CLIENTS=1`, so a missing
//! client fails CI. Elsewhere a missing client skips its test with a message saying
//! what to install.

use std::path::{Path, PathBuf};

use lakegate_tests::TestGateway;
use tokio::process::Command;

/// The JDBC driver of Debian's `libpostgresql-jdbc-java`.
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

pub(crate) use lakegate_tests::clients::missing;

/// The Python with the client packages: `LAKEGATE_PYTHON`, else `python3`.
async fn python() -> Option<String> {
    lakegate_tests::clients::python_with("psycopg, psycopg2, sqlalchemy, pandas, pyodbc").await
}

fn report(name: &str, output: &std::process::Output) -> String {
    format!(
        "{name} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn python_clients() {
    let Some(python) = python().await else {
        missing("Python with psycopg, psycopg2, SQLAlchemy, pandas and pyodbc");
        return;
    };
    let gw = TestGateway::start().await;
    let addr = gw.gateway.pg_addr();
    let output = Command::new(python)
        .arg(clients_dir().join("python_clients.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "{}",
        report("python_clients.py", &output)
    );
    assert!(stdout.contains("13 passed, 0 failed"), "{stdout}");
}

#[tokio::test]
async fn pgjdbc() {
    let javac = Command::new("javac").arg("-version").output().await;
    if !matches!(javac, Ok(ref o) if o.status.success()) || !Path::new(PGJDBC_JAR).exists() {
        missing("javac and libpostgresql-jdbc-java");
        return;
    }
    let classes = tempfile::tempdir().expect("temp dir");
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .args(["-cp", PGJDBC_JAR])
        .arg(clients_dir().join("JdbcClients.java"))
        .output()
        .await
        .expect("javac runs");
    assert!(compiled.status.success(), "{}", report("javac", &compiled));
    let gw = TestGateway::start().await;
    let addr = gw.gateway.pg_addr();
    let classpath = format!("{PGJDBC_JAR}:{}", classes.path().display());
    let output = Command::new("java")
        .args(["-cp", &classpath, "JdbcClients"])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .await
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "{}",
        report("JdbcClients", &output)
    );
    assert!(stdout.contains("all passed"), "{stdout}");
}

/// The Python with the Flight SQL client packages, if installed.
pub(crate) async fn flight_python() -> Option<String> {
    let python = std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args([
            "-c",
            "import adbc_driver_flightsql.dbapi, adbc_driver_manager, pyarrow, pandas",
        ])
        .output()
        .await
        .ok()?;
    probe.status.success().then_some(python)
}

/// Writes the rows of `sql` (read over Postgres wire) as tab-separated text.
async fn write_expected(client: &tokio_postgres::Client, dir: &Path, name: &str, sql: &str) {
    let rows = lakegate_tests::query_text(client, sql).await;
    let text: Vec<String> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "\\N".into()))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect();
    std::fs::write(dir.join(format!("{name}.tsv")), text.join("\n")).expect("write expected");
}

#[tokio::test]
async fn flight_clients() {
    let Some(python) = flight_python().await else {
        missing("Python with adbc-driver-flightsql, adbc-driver-manager, pyarrow and pandas");
        return;
    };
    let gw = TestGateway::start().await;
    let pg = gw.connect().await;
    let expected = tempfile::tempdir().expect("dir");
    write_expected(&pg, expected.path(), "q1", &lakegate_tests::tpch_query(1)).await;
    write_expected(
        &pg,
        expected.path(),
        "lineitem_count",
        "SELECT count(*) FROM lake.tpch.lineitem",
    )
    .await;
    write_expected(
        &pg,
        expected.path(),
        "orders_1998",
        "SELECT count(*) FROM lake.tpch.orders \
         WHERE o_orderdate >= DATE '1998-01-01' AND o_totalprice > 100000.5",
    )
    .await;
    write_expected(
        &pg,
        expected.path(),
        "semantic_by_nation",
        "SELECT n_name, sum(o_totalprice), count(*) FROM lake.tpch.orders \
         JOIN lake.tpch.customer ON o_custkey = c_custkey \
         JOIN lake.tpch.nation ON c_nationkey = n_nationkey GROUP BY 1 ORDER BY 1",
    )
    .await;
    // The analyst's rows of the statements ADBC once refused (masked columns).
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let script = std::fs::read_to_string(clients_dir().join("flight_clients.py")).expect("script");
    for (i, sql) in analyst_statements(&script).iter().enumerate() {
        write_expected(&analyst, expected.path(), &format!("analyst_{i}"), sql).await;
    }
    let addr = gw.gateway.flight_addr().expect("Flight SQL is enabled");
    let output = Command::new(python)
        .arg(clients_dir().join("flight_clients.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(expected.path())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "{}",
        report("flight_clients.py", &output)
    );
    assert!(stdout.contains("11 passed, 0 failed"), "{stdout}");
}

/// The statements of `ANALYST_STATEMENTS` in flight_clients.py, one per line there.
fn analyst_statements(script: &str) -> Vec<String> {
    let start = script
        .find("ANALYST_STATEMENTS = [")
        .expect("ANALYST_STATEMENTS in flight_clients.py");
    script[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.trim() != "]")
        .map(|line| {
            line.trim()
                .trim_end_matches(',')
                .trim_matches('"')
                .to_string()
        })
        .collect()
}
