//! TLS with SSLRequest negotiation (and SCRAM-SHA-256-PLUS over it), TLS misconfiguration
//! as a start-up error, and the per-listener password methods: SCRAM, MD5, cleartext.

use std::path::Path;

use lakegate_gateway::config::{AuthMethod, TlsConfig};
use lakegate_gateway::server::Gateway;
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for localhost, written as PEM files in `dir`.
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    (cert.display().to_string(), key.display().to_string())
}

async fn psql(conn: &str, sql: &str) -> (bool, String, String) {
    let output = tokio::process::Command::new("psql")
        .arg(conn)
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql runs (apt-get install postgresql-client)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// The authentication request code the server answers a startup with
/// (3 cleartext, 5 MD5, 10 SASL).
/// A connection that has sent its startup packet as `user`.
async fn started_as(gw: &TestGateway, user: &str) -> TcpStream {
    let mut socket = TcpStream::connect(gw.gateway.pg_addr())
        .await
        .expect("connect");
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "lake"] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    socket.write_all(&packet).await.expect("startup");
    socket
}

async fn auth_request(gw: &TestGateway, user: &str) -> i32 {
    let mut socket = started_as(gw, user).await;
    let mut header = [0u8; 9];
    socket.read_exact(&mut header).await.expect("answer");
    assert_eq!(header[0], b'R', "an authentication request");
    i32::from_be_bytes([header[5], header[6], header[7], header[8]])
}

#[tokio::test]
async fn tls_is_negotiated_and_required() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = certificate(dir.path(), "server");
    let mut config = test_config(seeded_data_dir());
    config.pg.tls = Some(TlsConfig {
        cert: cert.clone(),
        key,
        require: true,
    });
    let gw = TestGateway::start_with(config).await;
    let port = gw.gateway.pg_addr().port();
    let secure = format!(
        "host=localhost hostaddr=127.0.0.1 port={port} user=demo password=demo dbname=lake \
         sslmode=verify-full sslrootcert={cert}"
    );
    let (ok, out, err) = psql(&secure, "SELECT count(*) FROM lake.tpch.region").await;
    assert!(ok, "{err}");
    assert_eq!(out, "5");
    // SCRAM-SHA-256-PLUS: libpq refuses to authenticate without channel binding.
    let (ok, out, err) = psql(
        &format!("{secure} channel_binding=require"),
        "SELECT 'bound'",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "bound");
    let plain =
        format!("host=127.0.0.1 port={port} user=demo password=demo dbname=lake sslmode=disable");
    let (ok, _, err) = psql(&plain, "SELECT 1").await;
    assert!(!ok);
    assert!(err.contains("accepts only TLS"), "{err}");
}

#[tokio::test]
async fn optional_tls_serves_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = certificate(dir.path(), "server");
    let mut config = test_config(seeded_data_dir());
    config.pg.tls = Some(TlsConfig {
        cert,
        key,
        require: false,
    });
    let gw = TestGateway::start_with(config).await;
    let port = gw.gateway.pg_addr().port();
    for mode in ["require", "disable"] {
        let conn = format!(
            "host=127.0.0.1 port={port} user=demo password=demo dbname=lake sslmode={mode}"
        );
        let (ok, out, err) = psql(&conn, "SELECT 1").await;
        assert!(ok, "sslmode={mode}: {err}");
        assert_eq!(out, "1");
    }
}

#[tokio::test]
async fn tls_misconfiguration_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = certificate(dir.path(), "one");
    let (_, other_key) = certificate(dir.path(), "two");
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let missing = dir.path().join("missing.key").display().to_string();
    for (cert, key, expected) in [
        (cert.clone(), missing.clone(), "missing.key"),
        (
            garbage.display().to_string(),
            key.clone(),
            "no certificate in",
        ),
        (cert.clone(), other_key, "does not fit"),
    ] {
        let mut config = test_config(seeded_data_dir());
        config.pg.tls = Some(TlsConfig {
            cert,
            key,
            require: true,
        });
        let Err(error) = Gateway::start(config, false).await else {
            panic!("a TLS misconfiguration must be a start-up error ({expected})");
        };
        let message = format!("{error:#}");
        assert!(message.contains(expected), "{message}");
    }
}

#[tokio::test]
async fn md5_listeners_challenge_users_with_md5_credentials() {
    let mut config = test_config(seeded_data_dir());
    config.pg.auth = AuthMethod::Md5;
    let gw = TestGateway::start_with(config).await;
    assert_eq!(auth_request(&gw, "demo").await, 5, "MD5 challenge");
    let client = gw.connect().await;
    let row = client.query_one("SELECT 1", &[]).await.expect("query");
    assert_eq!(row.get::<_, i32>(0), 1);
    let Err(error) = gw.connect_as("demo", "wrong").await else {
        panic!("a wrong password must be refused");
    };
    assert_eq!(error.code().map(|c| c.code()), Some("28P01"), "{error}");
    let (ok, out, err) = psql(&gw.conn_str("analyst", "analyst"), "SELECT 3").await;
    assert!(ok, "{err}");
    assert_eq!(out, "3");
}

#[tokio::test]
async fn cleartext_listeners_check_the_stored_verifier() {
    let mut config = test_config(seeded_data_dir());
    config.pg.auth = AuthMethod::Password;
    let gw = TestGateway::start_with(config).await;
    assert_eq!(auth_request(&gw, "demo").await, 3, "cleartext request");
    let (ok, out, err) = psql(&gw.conn_str("demo", "demo"), "SELECT 2").await;
    assert!(ok, "{err}");
    assert_eq!(out, "2");
    let (ok, _, err) = psql(&gw.conn_str("demo", "wrong"), "SELECT 2").await;
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
    let (ok, _, err) = psql(&gw.conn_str("nobody", "demo"), "SELECT 2").await;
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
}

#[tokio::test]
async fn scram_is_the_default_method() {
    let gw = TestGateway::start().await;
    assert_eq!(auth_request(&gw, "demo").await, 10, "SASL");
}

/// Reads one backend message: its type and body.
async fn read_message(socket: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 5];
    socket
        .read_exact(&mut header)
        .await
        .expect("message header");
    let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; length - 4];
    socket.read_exact(&mut body).await.expect("message body");
    (header[0], body)
}

/// The server-first message of a SCRAM exchange started as `user` (`r=…,s=…,i=…`).
async fn scram_server_first(gw: &TestGateway, user: &str) -> String {
    let mut socket = started_as(gw, user).await;
    let (kind, body) = read_message(&mut socket).await;
    assert_eq!((kind, &body[..4]), (b'R', &10i32.to_be_bytes()[..]), "SASL");
    let client_first = b"n,,n=,r=clientnonce0123456789";
    let mut initial = b"SCRAM-SHA-256\0".to_vec();
    initial.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
    initial.extend_from_slice(client_first);
    let mut message = vec![b'p'];
    message.extend_from_slice(&((initial.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(&initial);
    socket
        .write_all(&message)
        .await
        .expect("SASLInitialResponse");
    let (kind, body) = read_message(&mut socket).await;
    assert_eq!(
        (kind, &body[..4]),
        (b'R', &11i32.to_be_bytes()[..]),
        "SASLContinue"
    );
    String::from_utf8(body[4..].to_vec()).expect("server-first is text")
}

fn salt_of(server_first: &str) -> &str {
    server_first
        .split(',')
        .find_map(|part| part.strip_prefix("s="))
        .expect("a salt")
}

#[tokio::test]
async fn scram_does_not_tell_unknown_users_from_known_ones() {
    let gw = TestGateway::start().await;
    // An unknown user is challenged like a known one, with a salt that is the same at
    // every attempt (a random one would tell it apart) and its own.
    let known = scram_server_first(&gw, "demo").await;
    let first = scram_server_first(&gw, "nobody").await;
    let again = scram_server_first(&gw, "nobody").await;
    assert!(first.contains(",i=4096"), "{first}");
    assert_eq!(known.contains(",i=4096"), first.contains(",i=4096"));
    assert_eq!(salt_of(&first), salt_of(&again));
    assert_ne!(
        salt_of(&first),
        salt_of(&scram_server_first(&gw, "somebody").await)
    );
    // And refused the same way as a wrong password, at the end of the exchange.
    let Err(wrong) = gw.connect_as("demo", "wrong").await else {
        panic!("a wrong password must be refused");
    };
    let Err(unknown) = gw.connect_as("nobody", "wrong").await else {
        panic!("an unknown user must be refused");
    };
    assert_eq!(wrong.code().map(|c| c.code()), Some("28P01"), "{wrong}");
    assert_eq!(
        unknown.code().map(|c| c.code()),
        wrong.code().map(|c| c.code())
    );
    let text = |e: &tokio_postgres::Error| {
        e.as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default()
    };
    assert_eq!(text(&unknown), text(&wrong).replace("demo", "nobody"));
}
