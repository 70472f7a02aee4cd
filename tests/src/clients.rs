//! What a test needs from outside Rust (Python with client packages, a PostgreSQL
//! server, Java): found, or skipped with a message, or, under
//! `LAKEGATE_REQUIRE_CLIENTS=1` (as `.ci/run` sets it), a failure.

use crate::postgres_server::PostgresServer;

/// Reports a missing client: a panic when every client is required (CI), a skip
/// message otherwise (a developer's machine).
pub fn missing(what: &str) {
    let message = format!("client test skipped: {what} (run .ci/run to install the clients)");
    if std::env::var("LAKEGATE_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{message}");
    }
    eprintln!("{message}");
}

/// The Python (`LAKEGATE_PYTHON`, else `python3`) if it imports every module of
/// `modules` (comma-separated, as in an `import` statement).
pub async fn python_with(modules: &str) -> Option<String> {
    let python = std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = tokio::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .await
        .ok()?;
    probe.status.success().then_some(python)
}

/// A PostgreSQL server of the test's own, or `None` (reported by [`missing`]) when
/// none is installed.
pub fn postgres_server() -> Option<PostgresServer> {
    postgres_server_with(&[])
}

/// [`postgres_server`] with extra server settings (`name=value`).
pub fn postgres_server_with(settings: &[&str]) -> Option<PostgresServer> {
    let server = PostgresServer::start_with(settings);
    if server.is_none() {
        missing("PostgreSQL server (Debian package postgresql)");
    }
    server
}
