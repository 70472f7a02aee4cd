//! LDAP logins against a real OpenLDAP server (slapd, started by the test): a bind DN
//! template over ldaps:// and search-then-bind with a service account over StartTLS;
//! groups become policy roles and entry attributes the values row filters bind; wrong
//! passwords, unknown and ambiguous users and names that try to inject are refused with
//! 28000 / UNAUTHENTICATED and audited; a directory outage refuses logins without taking
//! the gateway down, and logins work again when it is back. psql, psycopg and ADBC.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow_flight::sql::client::FlightSqlServiceClient;
use lakegate_gateway::config::{Config, TlsConfig};
use lakegate_security::ldap::LdapConfig;
use lakegate_tests::ldap_server::{BASE, LdapServer, SEARCH_DN, SEARCH_PASSWORD};
use lakegate_tests::{TestGateway, login_failures, seeded_data_dir, test_config};

use crate::flight::sql::run;

/// slapd, or `None` (reported: a failure under `LAKEGATE_REQUIRE_CLIENTS=1`).
fn directory() -> Option<LdapServer> {
    let server = LdapServer::start();
    if server.is_none() {
        lakegate_tests::clients::missing("slapd (apt-get install slapd)");
    }
    server
}

/// Attributes of the entry that the demo analyst's filters bind.
fn attributes() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("region".to_string(), "l".to_string()),
        ("region_key".to_string(), "departmentNumber".to_string()),
    ])
}

/// Bind DN template over ldaps://, groups read as the user.
fn template(server: &LdapServer) -> LdapConfig {
    LdapConfig {
        url: format!("ldaps://127.0.0.1:{}", server.ldaps_port),
        ca_file: Some(server.ca_file.clone()),
        bind_dn: Some(format!("uid={{user}},ou=people,{BASE}")),
        group_base: Some(format!("ou=groups,{BASE}")),
        attributes: attributes(),
        timeout_seconds: 3,
        ..LdapConfig::default()
    }
}

/// Search, then bind, with the service account, over ldap:// with StartTLS.
fn search(server: &LdapServer) -> LdapConfig {
    LdapConfig {
        url: format!("ldap://127.0.0.1:{}", server.ldap_port),
        start_tls: true,
        ca_file: Some(server.ca_file.clone()),
        search_base: Some(format!("ou=people,{BASE}")),
        search_filter: "(uid={user})".into(),
        search_bind_dn: Some(SEARCH_DN.into()),
        search_bind_password: Some(SEARCH_PASSWORD.into()),
        group_base: Some(format!("ou=groups,{BASE}")),
        attributes: attributes(),
        timeout_seconds: 3,
        ..LdapConfig::default()
    }
}

/// A gateway with `ldap`, Postgres wire TLS (not required) and its audit trail in `dir`;
/// the certificate's PEM file.
async fn gateway(dir: &Path, ldap: LdapConfig) -> (TestGateway, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    let mut config: Config = test_config(seeded_data_dir());
    config.audit.path = Some(dir.join("audit.jsonl").display().to_string());
    config.pg.tls = Some(TlsConfig {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        require: false,
    });
    config.auth.ldap = Some(ldap);
    let cert = cert.display().to_string();
    (TestGateway::start_with(config).await, cert)
}

/// psql over TLS as `user`: its output, or its error text.
async fn psql(
    gw: &TestGateway,
    cert: &str,
    user: &str,
    password: &str,
    sql: &str,
) -> Result<String, String> {
    let port = gw.gateway.pg_addr().port();
    let output = tokio::process::Command::new("psql")
        .arg(format!(
            "host=localhost hostaddr=127.0.0.1 port={port} user={user} dbname=lake \
             sslmode=verify-full sslrootcert={cert}"
        ))
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql runs (apt-get install postgresql-client)");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).to_string())
    }
}

#[tokio::test]
async fn directory_users_sign_in_with_their_groups_and_attributes_and_bad_logins_are_refused() {
    let Some(server) = directory() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let (gw, cert) = gateway(dir.path(), template(&server)).await;
    // Alice: an analyst by her group, in EUROPE (region_key 3) by her entry.
    let nations = "SELECT count(*) FROM lake.tpch.nation";
    assert_eq!(
        psql(&gw, &cert, "alice", "wonderland", nations).await,
        Ok("5".into())
    );
    assert_eq!(
        psql(
            &gw,
            &cert,
            "alice",
            "wonderland",
            "SELECT r_name FROM lake.tpch.region"
        )
        .await,
        Ok("EUROPE".into())
    );
    // Bob is in no group: no role, no grant.
    let denied = psql(&gw, &cert, "bob", "builder", nations)
        .await
        .expect_err("bob has no grant");
    assert!(denied.contains("permission denied"), "{denied}");
    // Refusals: wrong password, unknown user, empty password, names that try to
    // reach other entries through the DN or a filter.
    for (user, password) in [
        ("alice", "looking-glass"),
        ("zed", "anything"),
        ("alice", ""),
        ("alice,ou=people", "wonderland"),
        ("*", "wonderland"),
        ("alice)(uid=*", "wonderland"),
    ] {
        let error = psql(&gw, &cert, user, password, nations)
            .await
            .expect_err(user);
        assert!(
            error.contains("LDAP authentication failed") || error.contains("password"),
            "{user}: {error}"
        );
    }
    // Directory passwords are taken only over TLS.
    let error = gw
        .connect_as("alice", "wonderland")
        .await
        .expect_err("no TLS");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert_eq!(
        error.as_db_error().map(|e| e.code().code().to_string()),
        Some("28000".to_string()),
        "{error}"
    );
    assert!(message.contains("only over TLS"), "{message}");
    // Configured users still sign in as before.
    assert!(gw.connect_as("demo", "demo").await.is_ok());
    // Each refused password is audited as a failed login.
    let failures = login_failures(&dir.path().join("audit.jsonl"), 2).await;
    assert!(
        failures.iter().any(|e| e["user"] == "alice"
            && e["error"]
                .as_str()
                .is_some_and(|m| m.contains("LDAP authentication failed"))),
        "{failures:?}"
    );
    assert!(failures.iter().any(|e| e["user"] == "zed"), "{failures:?}");
}

type Client = FlightSqlServiceClient<tonic::transport::Channel>;

async fn nations(client: &mut Client) -> Result<i64, tonic::Status> {
    let batches = run(client, "SELECT count(*) FROM lake.tpch.nation").await?;
    Ok(batches[0].column(0).as_primitive::<Int64Type>().value(0))
}

#[tokio::test]
async fn search_then_bind_over_starttls_on_flight_sql_and_an_outage() {
    let Some(mut server) = directory() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let (gw, cert) = gateway(dir.path(), search(&server)).await;
    // Flight SQL: the handshake checks the password; the bearer token it returns
    // carries the directory principal to every later call.
    let mut alice = gw.flight_as("alice", "wonderland").await.expect("alice");
    assert_eq!(nations(&mut alice).await.expect("nations"), 5);
    assert_eq!(nations(&mut alice).await.expect("again"), 5);
    let refused = gw
        .flight_as("alice", "looking-glass")
        .await
        .expect_err("wrong password");
    assert!(
        refused.to_string().contains("LDAP authentication failed"),
        "{refused}"
    );
    // Two entries answer to carol: refused rather than one picked.
    let error = psql(&gw, &cert, "carol", "singer", "SELECT 1")
        .await
        .expect_err("ambiguous");
    assert!(error.contains("2 directory entries"), "{error}");
    // Postgres wire through the same search.
    assert_eq!(
        psql(
            &gw,
            &cert,
            "alice",
            "wonderland",
            "SELECT count(*) FROM lake.tpch.nation"
        )
        .await,
        Ok("5".into())
    );

    // The directory goes away: logins are refused as unavailable (not counted as the
    // user's failures), the gateway keeps serving its own users and open sessions.
    server.stop();
    let error = psql(&gw, &cert, "alice", "wonderland", "SELECT 1")
        .await
        .expect_err("directory down");
    assert!(error.contains("unavailable"), "{error}");
    assert_eq!(nations(&mut alice).await.expect("open session"), 5);
    assert!(gw.connect_as("demo", "demo").await.is_ok());
    // Back again: logins work again (pooled connections to the old server dropped).
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match psql(&gw, &cert, "alice", "wonderland", "SELECT 1").await {
            Ok(out) => {
                assert_eq!(out, "1");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no login after the restart: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_wrong_search_account_refuses_logins_as_unavailable_and_a_bad_config_stops_the_start() {
    let Some(server) = directory() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let wrong = LdapConfig {
        search_bind_password: Some("not-the-password".into()),
        ..search(&server)
    };
    let (gw, _cert) = gateway(dir.path(), wrong).await;
    let status = gw
        .flight_as("alice", "wonderland")
        .await
        .expect_err("the search account is refused");
    assert!(status.to_string().contains("search account"), "{status}");
    // Configuration mistakes stop the start, naming the setting.
    let mut config = test_config(seeded_data_dir());
    config.auth.ldap = Some(LdapConfig {
        url: format!("ldap://127.0.0.1:{}", server.ldap_port),
        ..template(&server)
    });
    let error = lakegate_gateway::server::Gateway::start(config, false)
        .await
        .expect_err("plaintext ldap");
    assert!(format!("{error:#}").contains("start_tls"), "{error:#}");
}

#[tokio::test]
async fn python_and_adbc_sign_in_with_directory_passwords() {
    let (Some(python), Some(_)) = (
        lakegate_tests::clients::python_with("psycopg").await,
        crate::clients::drivers::flight_python().await,
    ) else {
        crate::clients::drivers::missing("Python with psycopg and the ADBC Flight SQL driver");
        return;
    };
    let Some(server) = directory() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let (gw, cert) = gateway(dir.path(), search(&server)).await;
    let pg = gw.gateway.pg_addr();
    let flight = gw.gateway.flight_addr().expect("Flight SQL");
    let output = tokio::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/ldap_clients.py"))
        .args([
            pg.ip().to_string(),
            pg.port().to_string(),
            cert,
            flight.port().to_string(),
        ])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
}
