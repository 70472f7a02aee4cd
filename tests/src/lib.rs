//! Shared test harness: a real gateway on port 0 over a TPC-H lakehouse seeded once per
//! test binary, and real clients connected to it.

pub mod cancel;
pub mod clients;
pub mod fault_proxy;
pub mod jwt;
pub mod ldap_server;
pub mod panics;
pub mod postgres_server;
pub mod raw_client;
pub mod s3_server;
pub mod sqlfuzz;
pub mod sqlgen;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow_flight::sql::client::FlightSqlServiceClient;
use lakegate_gateway::config::Config;
use lakegate_gateway::server::Gateway;

/// The demo user every test gateway accepts.
pub const USER: &str = "demo";
/// The demo user's password.
pub const PASSWORD: &str = "demo";
/// Scale factor of the shared test data.
pub const SCALE_FACTOR: f64 = 0.01;

/// A data directory with the TPC-H tables, seeded once per test binary.
pub fn seeded_data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| seed_new_data_dir("lakegate-test-"))
}

/// A new data directory (named with `prefix`) with the TPC-H tables, for tests that
/// need a lakehouse of their own (they write, or count what is there).
pub fn seed_new_data_dir(prefix: &str) -> PathBuf {
    seed_data_dir_at(prefix, SCALE_FACTOR)
}

/// A new data directory with the TPC-H tables at a given scale factor.
pub fn seed_data_dir_at(prefix: &str, scale_factor: f64) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
        .keep();
    let mut config = test_config(&dir);
    config.seed.scale_factor = scale_factor;
    // Seeding runs on its own runtime: test runtimes end with their test.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime
            .block_on(lakegate_gateway::server::open_catalogs(&config, false))
            .expect("seed test data");
    })
    .join()
    .expect("seeding thread");
    dir
}

/// Configured users named `names`, each with their own name as the password (SCRAM).
pub fn users_named(names: &[&str]) -> Vec<lakegate_security::UserConfig> {
    names
        .iter()
        .map(|name| lakegate_security::UserConfig {
            name: (*name).into(),
            password: lakegate_security::ScramVerifier::generate(name).to_string(),
            md5: None,
            attributes: Default::default(),
        })
        .collect()
}

/// A configuration for tests: port 0, the shared data, the demo user.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.display().to_string(),
        ..Config::default()
    };
    config.pg.listen = "127.0.0.1:0".into();
    config.flight.listen = "127.0.0.1:0".into();
    config.admin.listen = "127.0.0.1:0".into();
    config.seed.scale_factor = SCALE_FACTOR;
    config.query.target_partitions = 2;
    // Tests that run a query twice and compare what it read need both runs to run;
    // the results cache is tested where it is turned on (answers/results_cache.rs and
    // the .slt files, each run a second time from the cache).
    config.cache.results_mb = 0;
    // Tests log in with wrong passwords on purpose, many times over one gateway; login
    // throttling is tested where it is turned on (integration/pg/limits.rs).
    config.login.max_failures = 0;
    // One audit trail per gateway (one trail has one writer): many test gateways share
    // a data directory, as replicas do.
    static TRAILS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = TRAILS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    config.audit.path = Some(
        data_dir
            .join("audit")
            .join(format!("gateway-{}-{n}.jsonl", std::process::id()))
            .display()
            .to_string(),
    );
    config
}

/// A gateway running inside the test's runtime.
pub struct TestGateway {
    /// The running server.
    pub gateway: Gateway,
}

impl TestGateway {
    /// Starts a gateway over the shared seeded data.
    pub async fn start() -> Self {
        Self::start_with(test_config(seeded_data_dir())).await
    }

    /// Starts a gateway with a given configuration.
    pub async fn start_with(config: Config) -> Self {
        let gateway = Gateway::start(config, false).await.expect("gateway starts");
        Self { gateway }
    }

    /// A libpq-style connection string for a user.
    pub fn conn_str(&self, user: &str, password: &str) -> String {
        let addr = self.gateway.pg_addr();
        format!(
            "host={} port={} user={user} password={password} dbname=lake",
            addr.ip(),
            addr.port()
        )
    }

    /// Connects as the demo user with tokio-postgres.
    pub async fn connect(&self) -> tokio_postgres::Client {
        self.connect_as(USER, PASSWORD)
            .await
            .expect("demo user connects")
    }

    /// Connects as any user; the connection task runs in the background.
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.conn_str(user, password), tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

impl TestGateway {
    /// Connects as a user and keeps the NOTICE messages the server sends.
    pub async fn connect_with_notices(
        &self,
        user: &str,
        password: &str,
    ) -> (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    ) {
        let (client, mut connection) =
            tokio_postgres::connect(&self.conn_str(user, password), tokio_postgres::NoTls)
                .await
                .expect("connects");
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
                if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                    let _ = sender.send(notice);
                }
            }
        });
        (client, receiver)
    }

    /// Connects as the admin with `gateway.show_cost` on: each query's figures arrive as
    /// a NOTICE (read them with [`statement_figures`]).
    pub async fn connect_metered_admin(
        &self,
    ) -> (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    ) {
        let (client, notices) = self.connect_with_notices("admin", "admin").await;
        client
            .simple_query("SET gateway.show_cost = on")
            .await
            .expect("show cost");
        (client, notices)
    }
}

/// Sends `sql` and waits for the NOTICE it raises (with `gateway.show_cost = on`, its
/// cost notice).
pub async fn statement_notice(
    client: &tokio_postgres::Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    sql: &str,
) -> tokio_postgres::error::DbError {
    client.simple_query(sql).await.expect(sql);
    tokio::time::timeout(std::time::Duration::from_secs(10), notices.recv())
        .await
        .unwrap_or_else(|_| panic!("no notice for {sql}"))
        .expect("connection open")
}

/// The figures of the NOTICE `sql` raises (see [`statement_notice`]).
pub async fn statement_figures(
    client: &tokio_postgres::Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    sql: &str,
) -> HashMap<String, f64> {
    notice_figures(&statement_notice(client, notices, sql).await)
}

/// A test configuration over the shared data with one more catalog (an S3 bucket's,
/// a PostgreSQL source's).
pub fn config_with_catalog(catalog: lakegate_catalog::CatalogConfig) -> Config {
    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(catalog);
    config.catalogs = catalogs;
    config
}

/// The `name=value` pairs of a NOTICE's DETAIL (the cost notice's figures).
pub fn notice_figures(notice: &tokio_postgres::error::DbError) -> HashMap<String, f64> {
    notice
        .detail()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

impl TestGateway {
    /// A plain-text gRPC channel to the Flight SQL listener.
    pub async fn flight_channel(&self) -> tonic::transport::Channel {
        let addr = self.gateway.flight_addr().expect("Flight SQL is enabled");
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("Flight SQL connects")
    }

    /// A Flight SQL client that has completed the handshake as `user`.
    pub async fn flight_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<FlightSqlServiceClient<tonic::transport::Channel>, arrow_flight::error::FlightError>
    {
        let mut client = FlightSqlServiceClient::new(self.flight_channel().await);
        client.handshake(user, password).await?;
        Ok(client)
    }

    /// A Flight SQL client for the demo user.
    pub async fn flight(&self) -> FlightSqlServiceClient<tonic::transport::Channel> {
        self.flight_as(USER, PASSWORD)
            .await
            .expect("demo user handshakes")
    }
}

impl TestGateway {
    /// Runs one command (SQL or a meta-command such as `\dt`) with the real psql as
    /// `user`, unaligned and tuples only, stopping at the first error.
    pub async fn psql(&self, user: &str, password: &str, command: &str) -> std::process::Output {
        let addr = self.gateway.pg_addr();
        tokio::process::Command::new("psql")
            .args([
                "-h",
                &addr.ip().to_string(),
                "-p",
                &addr.port().to_string(),
                "-U",
                user,
                "-d",
                "lake",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                command,
            ])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .await
            .expect("psql must be installed (apt-get install postgresql-client)")
    }
}

/// The SQL of TPC-H query `n`, from `tests/tpch/`.
pub fn tpch_query(n: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tpch/q{n}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The data rows of a simple-protocol response, as text (`None` for NULL).
pub fn text_rows(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Runs SQL over the simple protocol and returns its rows as text; panics on error.
pub async fn query_text(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    text_rows(&messages)
}

/// The rows of `sql` (simple protocol) as one text, values joined by newlines: an
/// EXPLAIN's plan, to search.
pub async fn query_joined(client: &tokio_postgres::Client, sql: &str) -> String {
    query_text(client, sql)
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

impl TestGateway {
    /// GETs `path` from the admin endpoint: (status code, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let addr = self.gateway.admin_addr().expect("admin endpoint");
        http_request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await
    }
}

/// Sends one HTTP/1.1 request (which should ask to close the connection) and returns
/// the status code and body.
pub async fn http_request(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    socket.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the metric line of `metrics` (Prometheus text) that starts with `series`.
pub fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

/// The `login_failed` records of the audit trail at `audit`, once there are at least
/// `at_least` of them (or after ten seconds: the writer flushes shortly after a refusal).
pub async fn login_failures(audit: &Path, at_least: usize) -> Vec<serde_json::Value> {
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(audit).unwrap_or_default();
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &serde_json::Value| e["outcome"] == "login_failed")
            .collect();
        if events.len() >= at_least || started.elapsed() > std::time::Duration::from_secs(10) {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
