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
fn resumed_record(failing: &Failing) -> Vec<u8> {
    serde_json::json!({
        "time": now(),
        "decision": "",
        "outcome": "trail_resumed",
        "error": format!(
            "the audit trail could not be written from {} on: {}",
            failing.since, failing.error
        ),
    })
    .to_string()
    .into_bytes()
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

/// How the writer keeps the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keeping {
    /// Rotate when the file grows past this many bytes.
    pub(crate) max_bytes: u64,
    /// Remove rotated files last written longer ago than this (0: never).
    pub(crate) retention_days: u64,
    /// Sync each batch to the disk before acknowledging it.
    pub(crate) fsync: bool,
}

impl Writer {
    /// Opens (creating) the file at `path`, removes rotated files past their retention,
    /// and starts its writer thread, continuing the file's hash chain.
    pub(crate) fn start(path: PathBuf, keeping: Keeping) -> std::io::Result<Self> {
        let lock = exclusive(&path)?;
        let sink = Sink::open(&path)?;
        crate::audit_files::expire(&path, keeping.retention_days)?;
        let head = crate::audit_chain::head(&path)?;
        let (queue, records) = mpsc::channel();
        let health = Arc::new(Health::default());
        let writing = health.clone();
        std::thread::Builder::new()
            .name("lakegate-audit".into())
            .spawn(move || {
                let mut state = State {
                    path,
                    keeping,
                    sink: Some(sink),
                    head,
                    _lock: lock,
                };
                write_loop(records, &mut state, &writing)
            })?;
        Ok(Self { queue, health })
    }

    /// Hands `line` (one JSON object, without a newline) to the writer.
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

/// What the writer thread owns.
struct State {
    path: PathBuf,
    keeping: Keeping,
    sink: Option<Sink>,
    /// The chain's head: the link of the last record written.
    head: [u8; 32],
    /// This writer's hold on the trail (see [`exclusive`]).
    _lock: std::fs::File,
}

/// Locks the trail at `path` for this process (`<path>.lock`): two gateways appending
/// to one trail would interleave records and break its hash chain, so a second gateway
/// process (a replica sharing the data directory) is refused with a message saying
/// what to do. A POSIX record lock belongs to the process: a gateway restarted in the
/// same process (tests, embedding) takes it again at once, while the old writer
/// finishes its last records.
#[allow(unsafe_code)]
fn exclusive(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: `file` is an open descriptor and `lock` a valid `flock` for F_SETLK.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } != 0 {
        let error = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!(
                "the audit trail {} is written by another gateway process (it holds {}: \
                 {error}); give each replica its own [audit] path",
                path.display(),
                lock_path.display()
            ),
        ));
    }
    Ok(file)
}

/// The writer thread: waits for a record, takes every other one waiting, chains,
/// writes and flushes (and syncs) them in one go, acknowledges each, rotates when the
/// file is full. While the trail cannot be written it tries again every
/// [`RETRY_EVERY`] even with nothing to write.
fn write_loop(records: mpsc::Receiver<Pending>, state: &mut State, health: &Health) {
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
        let mut head = state.head;
        let resumed = failing.as_ref().map(resumed_record);
        for record in resumed.iter().chain(batch.iter().map(|p| &p.line)) {
            let (line, next) = crate::audit_chain::chained(&head, record);
            bytes.extend_from_slice(&line);
            head = next;
        }
        let result = write_batch(state, &bytes);
        match &result {
            Ok(()) => {
                state.head = head;
                if failing.is_some() {
                    tracing::warn!(path = %state.path.display(), "the audit trail can be written again");
                    health.succeeded();
                }
            }
            Err(error) => {
                // Part of the batch may be in the file: continue the chain from what
                // is there (a partial line then shows where the write failed).
                state.head = crate::audit_chain::head(&state.path).unwrap_or(state.head);
                if failing.is_none() {
                    tracing::error!(
                        %error,
                        path = %state.path.display(),
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

fn write_batch(state: &mut State, bytes: &[u8]) -> std::io::Result<()> {
    let path = &state.path;
    // A file lost to a failed rotation is opened again for the next records.
    if state.sink.is_none() {
        state.sink = Some(Sink::open(path)?);
    }
    let Some(open) = state.sink.as_mut() else {
        return Err(std::io::Error::other("the audit file is not open"));
    };
    let written = open.file.write_all(bytes).and_then(|()| open.file.flush());
    let synced = match (written, state.keeping.fsync) {
        (Ok(()), true) => open.file.sync_data(),
        (result, _) => result,
    };
    if let Err(error) = synced {
        // Whatever part was written stays; the file is reopened for the next batch.
        state.sink = None;
        return Err(error);
    }
    open.written += bytes.len() as u64;
    if open.written >= state.keeping.max_bytes {
        // The records are in the file either way: a failed rotation or reopening is
        // logged, and the next batch opens the file again.
        state.sink = None;
        match rotate(path).and_then(|()| Sink::open(path)) {
            Ok(fresh) => state.sink = Some(fresh),
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "cannot rotate the audit trail");
            }
        }
        if let Err(error) = crate::audit_files::expire(path, state.keeping.retention_days) {
            tracing::error!(%error, path = %path.display(), "cannot remove expired audit files");
        }
    }
    Ok(())
}

/// `audit.jsonl` → `audit.jsonl.<UTC time of the rotation>`.
fn rotate(path: &Path) -> std::io::Result<()> {
    std::fs::rename(path, crate::audit_files::rotated_name(path))
}
