//! The real `gateway` binary as a separate process: bounded memory while streaming a
//! large result, cancelled queries that stop working, graceful shutdown on SIGTERM, and
//! a writer killed in the middle of an INSERT, and a second process refused the audit
//! trail the first one writes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::{StreamExt, pin_mut};

struct Server {
    child: Child,
    addr: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 over a new data directory.
fn start(scale_factor: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), scale_factor);
    server._dir = Some(dir);
    server
}

/// `gateway serve` on ports 0 over `dir`, seeding at `scale_factor` when empty.
fn serve(dir: &std::path::Path, scale_factor: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .args([
            "serve",
            "--pg-listen",
            "127.0.0.1:0",
            "--flight-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .env("GATEWAY_SEED__SCALE_FACTOR", scale_factor)
        .env("GATEWAY_ADMIN__LISTEN", "127.0.0.1:0");
    command
}

/// Starts the binary on port 0 over `dir` and waits for the line that reports the
/// bound address.
fn start_in(dir: &std::path::Path, scale_factor: &str) -> Server {
    let mut child = serve(dir, scale_factor)
        .env("GATEWAY_QUERY__TARGET_PARTITIONS", "2")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("pg_addr=").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("gateway reports its address");
    Server {
        child,
        addr,
        _dir: None,
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn connect(server: &Server) -> tokio_postgres::Client {
    connect_as(server, "demo").await
}

/// Connects as a demo user (whose password is its name).
async fn connect_as(server: &Server, user: &str) -> tokio_postgres::Client {
    let (host, port) = server.addr.rsplit_once(':').expect("host:port");
    let (client, connection) = tokio_postgres::connect(
        &format!("host={host} port={port} user={user} password={user} dbname=lake"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

#[tokio::test]
async fn streaming_lineitem_keeps_server_memory_bounded() {
    let server = start("0.1");
    let client = connect(&server).await;
    // Warm up: plan and run once so one-time allocations are in the baseline.
    client
        .query_one("SELECT count(*) FROM lake.tpch.lineitem", &[])
        .await
        .expect("count");
    let baseline = rss_kib(server.child.id());
    let stream = client
        .simple_query_raw("SELECT * FROM lake.tpch.lineitem")
        .await
        .expect("stream");
    pin_mut!(stream);
    // RSS samples every 20,000 rows; lineitem at SF 0.1 has about 600,000.
    let (mut rows, mut bytes, mut samples) = (0u64, 0u64, Vec::new());
    while let Some(message) = stream.next().await {
        let tokio_postgres::SimpleQueryMessage::Row(row) = message.expect("message") else {
            continue;
        };
        rows += 1;
        bytes += (0..row.len())
            .map(|i| row.get(i).map_or(0, str::len) as u64)
            .sum::<u64>();
        if rows % 20_000 == 0 {
            samples.push(rss_kib(server.child.id()).saturating_sub(baseline));
        }
    }
    assert!(rows > 500_000, "{rows}");
    let result_kib = bytes / 1024;
    let peak_kib = samples.iter().copied().max().unwrap_or(0);
    // The scan's working set (row groups being fetched and decoded, batches in flight,
    // encoded frames) is taken in the first rows: 20-30 MiB in the debug build. After
    // the first quarter of the rows the server must not grow with the result.
    let settled_kib = samples.get(samples.len() / 4).copied().unwrap_or(0);
    let late_growth_kib = peak_kib.saturating_sub(settled_kib);
    eprintln!(
        "rows={rows} result={result_kib} KiB peak growth={peak_kib} KiB \
         growth after the first quarter={late_growth_kib} KiB"
    );
    // Holding the whole result (as Arrow or as encoded rows) would take more than its
    // text size; a buffer kept per batch would grow by most of it after the first quarter.
    assert!(
        peak_kib < result_kib,
        "server grew {peak_kib} KiB while streaming {result_kib} KiB"
    );
    assert!(
        late_growth_kib * 4 < result_kib,
        "server kept growing: {late_growth_kib} KiB after the first quarter of {result_kib} KiB"
    );
}

/// CPU time the process has used (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: state is field 3; utime and stime are 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

#[tokio::test]
async fn a_cancelled_query_stops_using_the_cpu() {
    let server = start("0.01");
    let client = connect(&server).await;
    client
        .batch_execute("SET statement_timeout = 1000")
        .await
        .expect("timeout");
    // A nested-loop join whose probe batches each take seconds of CPU.
    let error = client
        .simple_query(
            "SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b \
             WHERE a.l_comment < b.l_comment",
        )
        .await
        .expect_err("cancelled by the timeout");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");
    // Let in-flight batches finish, then watch the idle server for two seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(server.child.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(server.child.id()) - before;
    // 100 ticks are one core-second; an idle server uses next to none.
    assert!(
        used < 50,
        "server used {used} ticks of CPU after the query was cancelled"
    );
    let row = client.query_one("SELECT 1", &[]).await.expect("usable");
    assert_eq!(row.get::<_, i32>(0), 1);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut server = start("0.01");
    let client = connect(&server).await;
    client.simple_query("SELECT 1").await.expect("serving");
    drop(client);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = server.child.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

#[tokio::test]
async fn a_writer_killed_mid_insert_leaves_the_table_readable_at_a_committed_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), "0.01");
    let admin = connect_as(&server, "admin").await;
    admin
        .simple_query("CREATE TABLE lake.tpch.killed AS SELECT * FROM lake.tpch.lineitem")
        .await
        .expect("create table as");
    let lineitem = count(&admin, "SELECT count(*) FROM lake.tpch.lineitem").await;
    let copies = 20;
    let values: Vec<String> = (1..=copies).map(|i| format!("({i})")).collect();
    let insert = format!(
        "INSERT INTO lake.tpch.killed SELECT l.* FROM lake.tpch.lineitem l, (VALUES {}) v(x)",
        values.join(", ")
    );
    let mut rows = lineitem;
    let mut snapshots = 1;
    let mut unchanged = 0;
    // SIGKILL at several points of the INSERT: while it reads and writes data files,
    // and (at the longer delays) possibly while it commits.
    for delay in [300u64, 1_500, 4_000] {
        let writer = connect_as(&server, "admin").await;
        let statement = insert.clone();
        let running = tokio::spawn(async move { writer.simple_query(&statement).await });
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        let _ = running.await;
        server = start_in(dir.path(), "0.01");
        let client = connect_as(&server, "admin").await;
        let now = count(&client, "SELECT count(*) FROM lake.tpch.killed").await;
        let now_snapshots = count(
            &client,
            "SELECT count(*) FROM lake.tpch.\"killed$snapshots\"",
        )
        .await;
        // Atomic: all of the statement's rows or none, with its snapshot or without.
        if now == rows {
            assert_eq!(now_snapshots, snapshots, "after {delay} ms");
            unchanged += 1;
        } else {
            assert_eq!(now, rows + lineitem * copies, "after {delay} ms");
            assert_eq!(now_snapshots, snapshots + 1, "after {delay} ms");
        }
        // Every row is readable: the data files the snapshot lists are all there.
        client
            .query_one("SELECT sum(l_quantity) FROM lake.tpch.killed", &[])
            .await
            .expect("full scan after restart");
        rows = now;
        snapshots = now_snapshots;
    }
    assert!(unchanged >= 1, "no kill landed before the commit");
}

#[test]
fn demo_accounts_are_announced_and_kept_off_the_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = |pg_listen: &str, extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .args(["serve", "--pg-listen", pg_listen])
            .args(["--flight-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("GATEWAY_SEED__SCALE_FACTOR", "0.01")
            .env("GATEWAY_ADMIN__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in extra {
            command.env(key, value);
        }
        command.spawn().expect("spawn gateway")
    };
    // On every interface with the demo accounts: refused before anything binds.
    let refused = serve("0.0.0.0:0", &[]).wait_with_output().expect("exit");
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("pg.listen") && stderr.contains("allow_demo_users"),
        "{stderr}"
    );
    // Allowing the demo accounts still leaves passwords in clear: refused too.
    let plain = serve("0.0.0.0:0", &[("GATEWAY_AUTH__ALLOW_DEMO_USERS", "true")])
        .wait_with_output()
        .expect("exit");
    assert!(!plain.status.success(), "{plain:?}");
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("allow_insecure_listeners"), "{stderr}");
    // On loopback: serves, with a warning that the demo accounts are live.
    let mut child = serve("127.0.0.1:0", &[]);
    let stderr = child.stderr.take().expect("stderr");
    let mut warned = false;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        warned |= line.contains("WARN") && line.contains("demo accounts");
        if line.contains("pg_addr=") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        warned,
        "no warning about the demo accounts before the listener"
    );
}

#[test]
fn a_second_gateway_process_is_refused_the_audit_trail_the_first_writes() {
    let server = start("0.001");
    let dir = server._dir.as_ref().expect("data dir").path().to_path_buf();
    let second = serve(&dir, "0.001").output().expect("second gateway runs");
    assert!(!second.status.success(), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("give each replica its own [audit] path"),
        "{stderr}"
    );
    // With its own trail it starts beside the first.
    let mut third = serve(&dir, "0.001")
        .env(
            "GATEWAY_AUDIT__PATH",
            dir.join("audit").join("replica-b.jsonl"),
        )
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("third gateway");
    let stderr = third.stderr.take().expect("stderr");
    let listening = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("pg_addr="));
    let _ = third.kill();
    let _ = third.wait();
    assert!(listening, "a replica with its own trail starts");
    drop(server);
}
