//! A TCP proxy in front of an HTTP server (the test S3 endpoint) that injects the faults
//! object storage has in production: answers of `503 Slow Down`, a number of failed
//! requests before it recovers, and a server that accepts requests and never answers.
//!
//! The fault applies per connection, chosen when it is accepted; switching the fault
//! closes the connections proxied so far, so that a client's pooled connections see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass bytes both ways.
    None,
    /// Answer every request `503 Slow Down`.
    SlowDown,
    /// Answer the next `n` connections' first request with 503, then pass.
    FailNext(usize),
    /// Read requests and never answer.
    Stall,
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    fault: Arc<watch::Sender<Fault>>,
    failed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`), passing bytes until told otherwise.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let fault = Arc::new(watch::Sender::new(Fault::None));
        let failed = Arc::new(AtomicUsize::new(0));
        let counter = failed.clone();
        let sender = fault.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changes = sender.subscribe();
                let current = *changes.borrow_and_update();
                let fault = match current {
                    Fault::FailNext(_) if Self::take_failure(&sender) => Fault::FailNext(1),
                    Fault::FailNext(_) => Fault::None,
                    other => other,
                };
                let upstream = upstream.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = serve(client, &upstream, fault, &counter) => {}
                        _ = changes.changed() => {}
                    }
                });
            }
        });
        Self {
            endpoint,
            fault,
            failed,
            task,
        }
    }

    /// Switches the fault; open connections are closed.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// Requests answered with an error so far.
    pub fn failed_requests(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Takes one failure of a `FailNext` round; whether this connection fails.
    fn take_failure(fault: &watch::Sender<Fault>) -> bool {
        let mut fails = false;
        fault.send_if_modified(|current| match *current {
            Fault::FailNext(n) if n > 0 => {
                fails = true;
                // Not a change the open connections must see.
                *current = Fault::FailNext(n - 1);
                false
            }
            _ => false,
        });
        fails
    }
}

/// One client connection under `fault`.
async fn serve(mut client: TcpStream, upstream: &str, fault: Fault, failed: &AtomicUsize) {
    match fault {
        Fault::None => pass(client, upstream).await,
        Fault::Stall => {
            let mut buffer = vec![0u8; 64 * 1024];
            while matches!(client.read(&mut buffer).await, Ok(n) if n > 0) {}
        }
        Fault::SlowDown => {
            while read_request(&mut client).await {
                failed.fetch_add(1, Ordering::Relaxed);
                if client.write_all(SLOW_DOWN.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        Fault::FailNext(_) => {
            if read_request(&mut client).await {
                failed.fetch_add(1, Ordering::Relaxed);
                let _ = client.write_all(SLOW_DOWN_CLOSE.as_bytes()).await;
            }
        }
    }
}

const SLOW_DOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

static SLOW_DOWN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{SLOW_DOWN_BODY}",
        SLOW_DOWN_BODY.len()
    )
});

static SLOW_DOWN_CLOSE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{SLOW_DOWN_BODY}",
        SLOW_DOWN_BODY.len()
    )
});

/// Reads one request (head and `Content-Length` body); false at end of stream.
async fn read_request(client: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body).await.is_ok()
}

async fn pass(mut client: TcpStream, upstream: &str) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
