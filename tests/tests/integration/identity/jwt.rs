//! OIDC / JWT logins: tokens signed by keys the test generates (JWKS from a file and
//! from a local HTTPS server), on Postgres wire (psql over TLS; tokio-postgres on a
//! listener that allows tokens without TLS) and Flight SQL (bearer and handshake);
//! claims become the user, its roles and the attributes its row filters bind; every
//! kind of bad token is refused with 28000 / UNAUTHENTICATED and audited.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow_flight::sql::client::FlightSqlServiceClient;
use lakegate_gateway::config::{Config, TlsConfig};
use lakegate_security::jwt::JwtConfig;
use lakegate_tests::jwt::{AUDIENCE, ISSUER, TestIssuer};
use lakegate_tests::{TestGateway, login_failures, seeded_data_dir, test_config};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::flight::sql::run;

/// A self-signed certificate for localhost, as PEM files in `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    (cert.display().to_string(), key.display().to_string())
}

/// A gateway taking tokens of `issuer` only over TLS (optional), and its certificate.
async fn with_tls(dir: &Path, issuer: &TestIssuer) -> (TestGateway, String) {
    let (cert, key) = certificate(dir);
    let mut config = config(dir, issuer, false);
    config.pg.tls = Some(TlsConfig {
        cert: cert.clone(),
        key,
        require: false,
    });
    (TestGateway::start_with(config).await, cert)
}

fn jwt_config(jwks_file: &Path) -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_file: Some(jwks_file.display().to_string()),
        ..JwtConfig::default()
    }
}

/// A gateway taking tokens of `issuer` (JWKS in a file), its audit trail in `dir`.
fn config(dir: &Path, issuer: &TestIssuer, allow_without_tls: bool) -> Config {
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer.jwks()).expect("write jwks");
    let mut config = test_config(seeded_data_dir());
    config.audit.path = Some(dir.join("audit.jsonl").display().to_string());
    config.auth.jwt = Some(JwtConfig {
        allow_without_tls,
        ..jwt_config(&jwks)
    });
    config
}

/// Erin, an analyst by her groups, in Europe by her claims.
fn erin(extra: serde_json::Value) -> serde_json::Value {
    let mut claims = json!({"groups": ["analyst"], "region": "EUROPE", "region_key": 3});
    if let (Some(claims), serde_json::Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    TestIssuer::claims("erin", claims)
}

async fn pg_as(
    gw: &TestGateway,
    user: &str,
    token: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    gw.connect_as(user, token).await
}

fn sqlstate(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_default()
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

#[tokio::test]
async fn tokens_sign_in_on_postgres_wire_with_their_roles_and_attributes() {
    let dir = tempfile::tempdir().expect("dir");
    let issuer = TestIssuer::new("a");
    let gw = TestGateway::start_with(config(dir.path(), &issuer, true)).await;

    // RS256 and ES256 both sign in; the groups claim makes erin an analyst and her
    // region_key claim is what the nation filter binds.
    for token in [
        issuer.rs256(&erin(json!({}))),
        issuer.es256(&erin(json!({}))),
    ] {
        let client = pg_as(&gw, "erin", &token).await.expect("token login");
        assert_eq!(
            count(&client, "SELECT count(*) FROM lake.tpch.nation").await,
            5
        );
        let error = client
            .query("SELECT c_acctbal FROM lake.tpch.customer", &[])
            .await
            .expect_err("denied column");
        assert_eq!(sqlstate(&error), "42501", "{error}");
    }
    // Another region in the claims, other rows.
    let asia = issuer.rs256(&erin(json!({"region": "ASIA", "region_key": 2})));
    let client = pg_as(&gw, "erin", &asia).await.expect("token login");
    let rows = client
        .query("SELECT r_name FROM lake.tpch.region", &[])
        .await
        .expect("region");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "ASIA");
    // Without groups a token user holds no grant.
    let nobody = issuer.rs256(&TestIssuer::claims("frank", json!({})));
    let client = pg_as(&gw, "frank", &nobody).await.expect("token login");
    let error = client
        .query("SELECT 1 FROM lake.tpch.nation", &[])
        .await
        .expect_err("no grant");
    assert_eq!(sqlstate(&error), "42501", "{error}");
    // Users of the configuration keep their passwords (SCRAM).
    gw.connect_as("analyst", "analyst")
        .await
        .expect("configured user");
    let error = gw
        .connect_as(
            "analyst",
            &issuer.rs256(&TestIssuer::claims("analyst", json!({}))),
        )
        .await
        .expect_err("a configured user's password is not a token");
    assert_eq!(sqlstate(&error), "28P01", "{error}");
}

#[tokio::test]
async fn every_bad_token_is_refused_with_28000_and_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let issuer = TestIssuer::new("a");
    let stranger = TestIssuer::new("b");
    let gw = TestGateway::start_with(config(dir.path(), &issuer, true)).await;
    let now = chrono::Utc::now().timestamp();
    let valid = issuer.rs256(&erin(json!({})));
    let mut tampered: Vec<&str> = valid.split('.').collect();
    let forged_claims = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        erin(json!({"groups": ["admin"]})).to_string(),
    );
    tampered[1] = &forged_claims;
    let tampered = tampered.join(".");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            issuer.rs256(&erin(
                json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),
            )),
            "expired",
        ),
        (
            "not yet valid",
            issuer.rs256(&erin(json!({"nbf": now + 3600}))),
            "not valid before",
        ),
        (
            "wrong audience",
            issuer.rs256(&erin(json!({"aud": "another-service"}))),
            "not for this gateway",
        ),
        (
            "wrong issuer",
            issuer.rs256(&erin(json!({"iss": "https://evil.test"}))),
            "not trusted",
        ),
        (
            "unknown key",
            stranger.rs256(&erin(json!({}))),
            "not in the key set",
        ),
        ("tampered", tampered, "signature is not valid"),
        (
            "alg none",
            issuer.sign(
                &json!({"alg": "none", "kid": issuer.rsa_kid}),
                &erin(json!({})),
            ),
            "not accepted",
        ),
        (
            "HMAC with the public key",
            issuer.sign(
                &json!({"alg": "HS256", "kid": issuer.rsa_kid}),
                &erin(json!({})),
            ),
            "not accepted",
        ),
        (
            "another user's token",
            valid.clone(),
            "the token is for user \"erin\"",
        ),
        ("not a token", "hunter2".into(), "not a JWT"),
    ];
    for (name, token, why) in &cases {
        let user = if *name == "another user's token" {
            "mallory"
        } else {
            "erin"
        };
        let error = pg_as(&gw, user, token).await.expect_err(name);
        assert_eq!(sqlstate(&error), "28000", "{name}: {error}");
        let message = error
            .as_db_error()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        assert!(message.contains(why), "{name}: {message}");
    }
    // Every refusal is an audit record.
    let failures = login_failures(&dir.path().join("audit.jsonl"), cases.len()).await;
    assert_eq!(failures.len(), cases.len(), "{failures:#?}");
    assert!(failures.iter().all(|e| {
        e["decision"] == "deny"
            && e["error"]
                .as_str()
                .is_some_and(|t| t.contains("token authentication failed"))
    }));
    // The valid token still signs in.
    pg_as(&gw, "erin", &valid).await.expect("valid token");
}

#[tokio::test]
async fn tokens_need_tls_unless_allowed_and_psql_signs_in_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let issuer = TestIssuer::new("a");
    let (gw, cert) = with_tls(dir.path(), &issuer).await;
    let token = issuer.rs256(&erin(json!({})));
    // Without TLS the token is never asked for.
    let error = pg_as(&gw, "erin", &token).await.expect_err("no TLS");
    assert_eq!(sqlstate(&error), "28000", "{error}");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("only over TLS"), "{message}");
    // psql over TLS, the token as its password (PGPASSWORD, as BI tools pass it).
    let port = gw.gateway.pg_addr().port();
    let output = tokio::process::Command::new("psql")
        .arg(format!(
            "host=localhost hostaddr=127.0.0.1 port={port} user=erin dbname=lake \
             sslmode=verify-full sslrootcert={cert}"
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM lake.tpch.nation",
        ])
        .env("PGPASSWORD", &token)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql runs (apt-get install postgresql-client)");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "5");
}

type Client = FlightSqlServiceClient<tonic::transport::Channel>;

async fn nations(client: &mut Client) -> Result<i64, tonic::Status> {
    let batches = run(client, "SELECT count(*) FROM lake.tpch.nation").await?;
    Ok(batches[0].column(0).as_primitive::<Int64Type>().value(0))
}

#[tokio::test]
async fn flight_takes_tokens_as_bearer_and_in_the_handshake() {
    let dir = tempfile::tempdir().expect("dir");
    let issuer = TestIssuer::new("a");
    let gw = TestGateway::start_with(config(dir.path(), &issuer, false)).await;
    let token = issuer.es256(&erin(json!({})));

    // Bearer directly, no handshake.
    let mut client = FlightSqlServiceClient::new(gw.flight_channel().await);
    client.set_header("authorization", format!("Bearer {token}"));
    assert_eq!(nations(&mut client).await.expect("bearer JWT"), 5);

    // Handshake with the token as the password: the session's bearer is the token.
    let mut client = FlightSqlServiceClient::new(gw.flight_channel().await);
    client.handshake("erin", &token).await.expect("handshake");
    assert_eq!(client.token(), Some(&token));
    assert_eq!(nations(&mut client).await.expect("after handshake"), 5);

    // Refusals: expired, tampered, another user's.
    let now = chrono::Utc::now().timestamp();
    let expired = issuer.rs256(&erin(
        json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),
    ));
    let mut client = FlightSqlServiceClient::new(gw.flight_channel().await);
    client.set_header("authorization", format!("Bearer {expired}"));
    let error = nations(&mut client).await.expect_err("expired");
    assert_eq!(error.code(), tonic::Code::Unauthenticated, "{error}");
    assert!(error.message().contains("expired"), "{error}");
    let mut client = FlightSqlServiceClient::new(gw.flight_channel().await);
    let error = client
        .handshake("mallory", &token)
        .await
        .expect_err("another user's token");
    assert!(
        error.to_string().contains("the token is for user"),
        "{error}"
    );
    let failures = login_failures(&dir.path().join("audit.jsonl"), 2).await;
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures.iter().all(|e| e["protocol"] == "flight-sql"),
        "{failures:#?}"
    );
}

/// A one-route HTTPS server answering every request with the JWKS it holds now.
async fn jwks_server(cert: &str, key: &str, jwks: Arc<Mutex<String>>) -> (u16, Arc<Mutex<usize>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let served = Arc::new(Mutex::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, jwks, counter) = (acceptor.clone(), jwks.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let mut read = 0;
                while !request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut request[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let body = jwks.lock().expect("jwks").clone();
                *counter.lock().expect("counter") += 1;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, served)
}

fn jwks_union(issuers: &[&TestIssuer]) -> String {
    let keys: Vec<serde_json::Value> = issuers
        .iter()
        .flat_map(|i| {
            serde_json::from_str::<serde_json::Value>(&i.jwks()).expect("jwks")["keys"]
                .as_array()
                .expect("keys")
                .clone()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn keys_come_from_https_and_a_rotated_key_is_fetched_when_first_seen() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = certificate(dir.path());
    let old = TestIssuer::new("2025");
    let new = TestIssuer::new("2026");
    let jwks = Arc::new(Mutex::new(old.jwks()));
    let (port, served) = jwks_server(&cert, &key, jwks.clone()).await;
    let mut config = test_config(seeded_data_dir());
    config.audit.path = Some(dir.path().join("audit.jsonl").display().to_string());
    config.auth.jwt = Some(JwtConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: Some(format!("https://localhost:{port}/jwks.json")),
        jwks_ca_file: Some(cert.clone()),
        allow_without_tls: true,
        ..JwtConfig::default()
    });
    let gw = TestGateway::start_with(config).await;
    assert_eq!(*served.lock().expect("served"), 1, "fetched once at start");
    let client = pg_as(&gw, "erin", &old.rs256(&erin(json!({}))))
        .await
        .expect("old key");
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.nation").await,
        5
    );
    assert_eq!(*served.lock().expect("served"), 1, "served from the cache");

    // The provider rotates: a token signed by the new key is accepted once the set is
    // fetched again, which its unknown kid triggers.
    *jwks.lock().expect("jwks") = jwks_union(&[&old, &new]);
    let client = pg_as(&gw, "erin", &new.es256(&erin(json!({}))))
        .await
        .expect("new key after rotation");
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.nation").await,
        5
    );
    assert_eq!(*served.lock().expect("served"), 2);
    // A key nobody publishes does not make every login fetch the set again.
    let stranger = TestIssuer::new("x");
    for _ in 0..3 {
        pg_as(&gw, "erin", &stranger.rs256(&erin(json!({}))))
            .await
            .expect_err("unknown key");
    }
    assert_eq!(
        *served.lock().expect("served"),
        2,
        "refetches are rate-limited"
    );
}

#[tokio::test]
async fn a_jwks_that_cannot_be_read_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(seeded_data_dir());
    config.auth.jwt = Some(jwt_config(&PathBuf::from(dir.path()).join("missing.json")));
    let Err(error) = lakegate_gateway::server::Gateway::start(config, false).await else {
        panic!("a gateway started without its key set");
    };
    assert!(format!("{error:#}").contains("missing.json"), "{error:#}");
}

#[tokio::test]
async fn python_and_adbc_sign_in_with_tokens() {
    let (Some(python), Some(_)) = (
        lakegate_tests::clients::python_with("psycopg").await,
        crate::clients::drivers::flight_python().await,
    ) else {
        crate::clients::drivers::missing("Python with psycopg and the ADBC Flight SQL driver");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let issuer = TestIssuer::new("a");
    let (gw, cert) = with_tls(dir.path(), &issuer).await;
    let now = chrono::Utc::now().timestamp();
    let expired = issuer.rs256(&erin(
        json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),
    ));
    let pg = gw.gateway.pg_addr();
    let flight = gw.gateway.flight_addr().expect("Flight SQL");
    let output = tokio::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/jwt_clients.py"))
        .args([
            pg.ip().to_string(),
            pg.port().to_string(),
            cert,
            flight.port().to_string(),
        ])
        .env("LAKEGATE_TOKEN", issuer.rs256(&erin(json!({}))))
        .env("LAKEGATE_EXPIRED_TOKEN", expired)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
}
