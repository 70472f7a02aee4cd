//! Listener limits with real clients: `max_connections` and the per-user limit (53300),
//! login throttling after failed logins (28000, shared with Flight SQL and audited),
//! the authentication timeout and the idle-session timeout (57P05).

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use lakegate_tests::raw_client::{RawClient, complete_message, startup_packet};
use lakegate_tests::{PASSWORD, TestGateway, USER, seeded_data_dir, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn sqlstate(error: &tokio_postgres::Error) -> Option<String> {
    error.code().map(|c| c.code().to_string())
}

/// The server's message of a refused connection.
fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |e| e.message().to_string())
}

/// Connects until it works (a closed connection's place is given back once the
/// server has seen it close).
async fn connect_eventually(gw: &TestGateway, user: &str) -> tokio_postgres::Client {
    let started = Instant::now();
    loop {
        match gw.connect_as(user, user).await {
            Ok(client) => return client,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                assert_eq!(sqlstate(&e).as_deref(), Some("53300"), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("still refused after 10 s: {e}"),
        }
    }
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_with_53300() {
    let mut config = test_config(seeded_data_dir());
    config.pg.max_connections = 2;
    let gw = TestGateway::start_with(config).await;
    let first = gw.connect().await;
    let second = gw.connect_as("admin", "admin").await.expect("second");
    let error = gw
        .connect_as("analyst", "analyst")
        .await
        .expect_err("third refused");
    assert_eq!(sqlstate(&error).as_deref(), Some("53300"), "{error}");
    assert!(message(&error).contains("too many clients"), "{error}");
    // The two admitted connections still work; closing one makes room.
    first.simple_query("SELECT 1").await.expect("first works");
    second.simple_query("SELECT 1").await.expect("second works");
    drop(first);
    let third = connect_eventually(&gw, "analyst").await;
    third.simple_query("SELECT 1").await.expect("third works");
}

#[tokio::test]
async fn one_user_may_hold_only_max_connections_per_user() {
    let mut config = test_config(seeded_data_dir());
    config.pg.max_connections_per_user = 1;
    let gw = TestGateway::start_with(config).await;
    let demo = gw.connect().await;
    let error = gw
        .connect_as(USER, PASSWORD)
        .await
        .expect_err("second demo refused");
    assert_eq!(sqlstate(&error).as_deref(), Some("53300"), "{error}");
    assert!(
        message(&error).contains("too many connections for role \"demo\""),
        "{error}"
    );
    // Other users are not held to demo's count.
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    admin.simple_query("SELECT 1").await.expect("admin works");
    drop(demo);
    connect_eventually(&gw, USER).await;
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_user_out_on_both_doors_and_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let mut config = test_config(seeded_data_dir());
    config.login.max_failures = 3;
    config.login.lockout_seconds = 60;
    config.audit.path = Some(audit.display().to_string());
    let gw = TestGateway::start_with(config).await;
    for _ in 0..3 {
        let error = gw.connect_as(USER, "wrong").await.expect_err("refused");
        assert_eq!(sqlstate(&error).as_deref(), Some("28P01"), "{error}");
    }
    // Now even the right password is refused, without being checked.
    let error = gw.connect_as(USER, PASSWORD).await.expect_err("locked");
    assert_eq!(sqlstate(&error).as_deref(), Some("28000"), "{error}");
    assert!(
        message(&error).contains("too many failed logins"),
        "{error:?}"
    );
    // Flight SQL shares the throttle.
    let error = gw
        .flight_as(USER, PASSWORD)
        .await
        .expect_err("locked on Flight");
    assert!(
        error.to_string().contains("too many failed logins"),
        "{error}"
    );
    // Other users log in (the address is below its own, higher limit).
    gw.connect_as("admin", "admin")
        .await
        .expect("admin logs in");
    // Every failure and refusal is in the audit trail.
    let started = Instant::now();
    let events = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &serde_json::Value| e["outcome"] == "login_failed")
            .collect();
        if events.len() >= 5 || started.elapsed() > Duration::from_secs(10) {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(events.len(), 5, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["user"] == USER && e["decision"] == "deny")
    );
    let protocols: Vec<&str> = events
        .iter()
        .filter_map(|e| e["protocol"].as_str())
        .collect();
    assert!(
        protocols.contains(&"postgres") && protocols.contains(&"flight-sql"),
        "{protocols:?}"
    );
    assert!(
        events[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("password authentication failed")),
        "{events:#?}"
    );
}

/// Reads backend messages until the server closes the connection; the SQLSTATE of the
/// last ErrorResponse, and how long it took.
async fn until_closed(socket: &mut TcpStream, buffer: &mut BytesMut) -> (Option<String>, Duration) {
    let started = Instant::now();
    let mut code = None;
    loop {
        while let Some((kind, size)) = complete_message(buffer) {
            if kind == b'E' {
                code = buffer[5..size]
                    .split(|&b| b == 0)
                    .find_map(|f| f.strip_prefix(b"C"))
                    .map(|c| String::from_utf8_lossy(c).into_owned());
            }
            buffer.advance(size);
        }
        match tokio::time::timeout(Duration::from_secs(10), socket.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (code, started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after 10 s"),
        }
    }
}

#[tokio::test]
async fn idle_and_unauthenticated_connections_are_closed_on_time() {
    let mut config = test_config(seeded_data_dir());
    config.pg.authentication_timeout_seconds = 1;
    config.pg.idle_session_timeout_seconds = 1;
    let gw = TestGateway::start_with(config).await;
    let addr = gw.gateway.pg_addr();
    // A client that starts but never answers the password request.
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket
        .write_all(&startup_packet(USER, "lake"))
        .await
        .expect("startup");
    let (_, took) = until_closed(&mut socket, &mut BytesMut::new()).await;
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // An authenticated session that sends nothing.
    let (mut socket, mut buffer) = RawClient::connect(addr, USER, PASSWORD, "lake")
        .await
        .expect("login")
        .into_parts();
    let (code, took) = until_closed(&mut socket, &mut buffer).await;
    assert_eq!(code.as_deref(), Some("57P05"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // A session that keeps talking is not idle.
    let client = gw.connect().await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        client
            .simple_query("SELECT 1")
            .await
            .expect("active session");
    }
}
