//! An S3-compatible server on this machine for tests: moto's server (PyPI `moto[s3]`,
//! with Flask), run by the clients' Python (`LAKEGATE_PYTHON`) on a free port and
//! stopped on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running S3 endpoint; any access key is accepted.
pub struct S3Server {
    child: Child,
    /// The endpoint URL, `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts moto's server for a test; `None` (the test is skipped, and says so) when
    /// the Python or moto is not there, which fails the test under
    /// `LAKEGATE_REQUIRE_CLIENTS=1` (as CI runs).
    pub async fn start_for_test() -> Option<Self> {
        let server = Self::start().await;
        if server.is_none() {
            crate::clients::missing("the S3 server (moto, tests/clients/requirements.txt)");
        }
        server
    }

    /// Starts moto's server; `None` when the Python or moto is not there.
    pub async fn start() -> Option<Self> {
        let python = std::env::var("LAKEGATE_PYTHON").ok()?;
        let probe = Command::new(&python)
            .args(["-c", "import moto.server, flask"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !probe.success() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the S3 server did not listen on port {port}");
    }

    /// object_store's options for this endpoint.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_region", "us-east-1".into()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
        ]
    }

    /// The same, as a catalog's `options`.
    pub fn catalog_options(&self) -> std::collections::BTreeMap<String, String> {
        self.options()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// A client of bucket `bucket` (created).
    pub async fn bucket(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        // moto creates a bucket on a plain PUT of its name.
        let client = reqwest_put(&format!("{}/{bucket}", self.endpoint)).await;
        assert!(client, "creating bucket {bucket}");
        let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
        for (key, value) in self.options() {
            builder = builder.with_config(key.parse().expect("option"), value);
        }
        builder.build().expect("S3 client")
    }
}

/// `PUT url` with an empty body; whether it succeeded.
async fn reqwest_put(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200")
}
