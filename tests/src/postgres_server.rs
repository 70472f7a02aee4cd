//! A throw-away PostgreSQL cluster from the Debian package (`postgresql`), started for a
//! test or benchmark on a free port and stopped on drop. It logs every statement it
//! receives, so a test can check the SQL the gateway pushed down. A test of source
//! faults stops it (as an administrator's fast shutdown does) and starts it again on the
//! same port and data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running cluster; `postgres` (trust authentication) owns it.
pub struct PostgresServer {
    child: Option<Child>,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    bin: PathBuf,
    settings: Vec<String>,
    dir: tempfile::TempDir,
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The newest installed server's `bin` directory (`/usr/lib/postgresql/<n>/bin`).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Runs `program` as the `postgres` OS user (the server refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl PostgresServer {
    /// Starts a cluster; `None` when no PostgreSQL server is installed.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts a cluster with extra server settings (`name=value`).
    pub fn start_with(settings: &[&str]) -> Option<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("lakegate-pg-")
            .tempdir()
            .expect("temp dir");
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .expect("chown runs");
        assert!(chown.success(), "chown of the PostgreSQL directory failed");
        let data = dir.path().join("data");
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(initdb.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.path().join("postgres.log");
        let mut server = Self {
            child: None,
            port,
            log,
            bin,
            settings: settings.iter().map(|s| s.to_string()).collect(),
            dir,
        };
        server.launch();
        Some(server)
    }

    /// Starts the postmaster on the cluster's data and port.
    fn launch(&mut self) {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "log_statement=all",
                "-c",
                "max_parallel_workers_per_gather=0",
            ])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
    }

    /// Stops the server as an administrator's fast shutdown does (SIGINT): sessions are
    /// terminated, running queries fail, and the port stops accepting connections.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The postmaster's own PID (the child may be `runuser` around it).
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_string))
            .unwrap_or_else(|| child.id().to_string());
        let signalled = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(signalled.success(), "signalling PostgreSQL failed");
        let _ = child.wait();
    }

    /// Starts a stopped server again on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.launch();
    }

    /// A libpq connection string for the `postgres` superuser.
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Connects, waiting for the server to accept connections.
    pub async fn connect(&self) -> tokio_postgres::Client {
        for _ in 0..200 {
            if let Ok((client, connection)) =
                tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls).await
            {
                tokio::spawn(connection);
                return client;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "PostgreSQL did not accept connections on port {}",
            self.port
        );
    }

    /// The statements the server has logged so far.
    pub fn statements(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("statement: ").map(|(_, s)| s.to_string()))
            .collect()
    }
}
