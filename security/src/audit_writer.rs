//! The audit trail's writer: one thread owns the file. Sessions hand it serialized
//! records and wait for its acknowledgement without holding any lock. It writes every
//! record waiting at once and flushes them together (group commit), then acknowledges
//! each with how the write went. A statement's result completes only on a good
//! acknowledgement, so a trail that cannot be written withholds results (fail closed).
//!
//! While writes fail the trail is unhealthy ([`Health`]: statements are refused and the
//! gateway is not ready); the writer tries again every second, and the first write that
//! succeeds begins with a `trail_resumed` record saying since when it could not write.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;

/// Records written in one batch at most.
const MAX_BATCH: usize = 1024;

/// How many rotated files are kept (`audit.jsonl.1` … `.N`).
pub(crate) const KEEP_ROTATED: usize = 5;

/// How often a trail that cannot be written is tried again with no records waiting.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Whether the trail can be written, as its last write found. Every statement asks:
/// the flag answers without a lock while the trail is healthy.
#[derive(Debug, Default)]
pub(crate) struct Health {
    failing: AtomicBool,
    detail: Mutex<Option<Failing>>,
}

/// Since when the trail could not be written, and the last error.
#[derive(Debug, Clone)]
pub(crate) struct Failing {
    pub(crate) since: String,
    pub(crate) error: String,
}

impl Health {
    /// `Some` while the trail cannot be written.
    pub(crate) fn failing(&self) -> Option<Failing> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failed(&self, error: &std::io::Error) {
        let mut state = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        let since = state.take().map_or_else(now, |failing| failing.since);
        *state = Some(Failing {
            since,
            error: error.to_string(),
        });
        self.failing.store(true, Ordering::Release);
    }

    fn succeeded(&self) {
        let mut state = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        self.failing.store(false, Ordering::Release);
        *state = None;
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The record that opens the first write after a failure.
fn resumed_line(failing: &Failing) -> Vec<u8> {
    let mut line = serde_json::json!({
        "time": now(),
        "decision": "",
        "outcome": "trail_resumed",
        "error": format!(
            "the audit trail could not be written from {} on: {}",
            failing.since, failing.error
        ),
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

/// One record on its way to the file, with whom to tell how it went.
struct Pending {
    line: Vec<u8>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The sending end: the writer thread stops when it is dropped, after writing what
/// it was handed.
pub(crate) struct Writer {
    queue: mpsc::Sender<Pending>,
    pub(crate) health: Arc<Health>,
}

/// Whether a record reached the file (written and flushed to the operating system).
pub struct AuditAck(Ack);

enum Ack {
    Done(Option<String>),
    Waiting(oneshot::Receiver<Result<(), String>>),
}

impl AuditAck {
    /// A record that needs no writing (the trail is off).
    pub(crate) fn done() -> Self {
        Self(Ack::Done(None))
    }

    pub(crate) fn failed(message: String) -> Self {
        Self(Ack::Done(Some(message)))
    }
}

impl Future for AuditAck {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.0 {
            Ack::Done(error) => error.take().map_or(Ok(()), Err),
            Ack::Waiting(receiver) => match Pin::new(receiver).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(result)) => result,
                Poll::Ready(Err(_)) => Err("the audit writer stopped".to_string()),
            },
        };
        Poll::Ready(result.map_err(std::io::Error::other))
    }
}

impl Writer {
    /// Opens (creating) the file at `path` and starts its writer thread.
    pub(crate) fn start(path: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        let sink = Sink::open(&path)?;
        let (queue, records) = mpsc::channel();
        let health = Arc::new(Health::default());
        let writing = health.clone();
        std::thread::Builder::new()
            .name("lakegate-audit".into())
            .spawn(move || write_loop(records, path, max_bytes, Some(sink), &writing))?;
        Ok(Self { queue, health })
    }

    /// Hands `line` (one JSON record and its newline) to the writer.
    pub(crate) fn submit(&self, line: Vec<u8>) -> AuditAck {
        let (done, receiver) = oneshot::channel();
        match self.queue.send(Pending { line, done }) {
            Ok(()) => AuditAck(Ack::Waiting(receiver)),
            Err(_) => AuditAck::failed("the audit writer stopped".into()),
        }
    }
}

struct Sink {
    file: File,
    written: u64,
}

impl Sink {
    fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self { file, written })
    }
}

/// The writer thread: waits for a record, takes every other one waiting, writes and
/// flushes them in one go, acknowledges each, rotates when the file is full. While the
/// trail cannot be written it tries again every [`RETRY_EVERY`] even with nothing to
/// write.
fn write_loop(
    records: mpsc::Receiver<Pending>,
    path: PathBuf,
    max_bytes: u64,
    sink: Option<Sink>,
    health: &Health,
) {
    let mut sink = sink;
    let mut batch = Vec::new();
    let mut bytes = Vec::new();
    loop {
        let failing = health.failing();
        let first = match &failing {
            None => records.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(_) => records.recv_timeout(RETRY_EVERY),
        };
        match first {
            Ok(first) => batch.push(first),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while !batch.is_empty() && batch.len() < MAX_BATCH {
            match records.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        bytes.clear();
        if let Some(failing) = &failing {
            bytes.extend_from_slice(&resumed_line(failing));
        }
        for pending in &batch {
            bytes.extend_from_slice(&pending.line);
        }
        let result = write_batch(&mut sink, &path, max_bytes, &bytes);
        match &result {
            Ok(()) if failing.is_some() => {
                tracing::warn!(path = %path.display(), "the audit trail can be written again");
                health.succeeded();
            }
            Ok(()) => {}
            Err(error) => {
                if failing.is_none() {
                    tracing::error!(
                        %error,
                        path = %path.display(),
                        records = batch.len(),
                        "cannot write the audit trail; statements are refused until it can"
                    );
                }
                health.failed(error);
            }
        }
        for pending in batch.drain(..) {
            let _ = pending
                .done
                .send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
    }
}

fn write_batch(
    sink: &mut Option<Sink>,
    path: &Path,
    max_bytes: u64,
    bytes: &[u8],
) -> std::io::Result<()> {
    // A file lost to a failed rotation is opened again for the next records.
    if sink.is_none() {
        *sink = Some(Sink::open(path)?);
    }
    let Some(open) = sink.as_mut() else {
        return Err(std::io::Error::other("the audit file is not open"));
    };
    if let Err(error) = open.file.write_all(bytes).and_then(|()| open.file.flush()) {
        // Whatever part was written stays; the file is reopened for the next batch.
        *sink = None;
        return Err(error);
    }
    open.written += bytes.len() as u64;
    if open.written >= max_bytes {
        // The records are in the file either way: a failed rotation or reopening is
        // logged, and the next batch opens the file again.
        *sink = None;
        match rotate(path).and_then(|()| Sink::open(path)) {
            Ok(fresh) => *sink = Some(fresh),
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "cannot rotate the audit trail");
            }
        }
    }
    Ok(())
}

/// `audit.jsonl` → `audit.jsonl.1`, shifting older files and dropping the oldest.
fn rotate(path: &Path) -> std::io::Result<()> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    let _ = std::fs::remove_file(numbered(KEEP_ROTATED));
    for n in (1..KEEP_ROTATED).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}
