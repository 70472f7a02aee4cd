//! A property test over random frontend message sequences: whatever an authenticated
//! client sends — valid messages in any order, wrong formats, unknown portals, garbage
//! types and lengths — no connection task panics, the server keeps answering, and a
//! connection that survives is still in sync (Sync + Query get their answers).
//!
//! Bounded: a fixed number of sequences from a seeded generator, printed on failure so
//! a run can be replayed (`LAKEGATE_FUZZ_SEED`, `LAKEGATE_FUZZ_CASES`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use lakegate_tests::TestGateway;
use lakegate_tests::raw_client::{RawClient, complete_message, cstr, message};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Panics anywhere but pgwire's message decoders.
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Panics in pgwire 0.42's message decoders: a body shorter than its fields (a Bind
/// whose parameter length overruns the message) makes `bytes` panic while decoding.
/// Tokio contains the panic to that one connection, which closes; the server and every
/// other connection carry on. Counted and reported, not hidden: see the README.
static DECODER_PANICS: AtomicUsize = AtomicUsize::new(0);

const QUERIES: &[&str] = &[
    "SELECT 1",
    "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1",
    "SELECT $1::int + $2::int",
    "SELECT * FROM lake.tpch.region",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "ROLLBACK TO SAVEPOINT s",
    "DECLARE c CURSOR WITH HOLD FOR SELECT r_name FROM lake.tpch.region",
    "FETCH 2 FROM c",
    "CLOSE c",
    "COPY (SELECT 1) TO STDOUT",
    "SET statement_timeout = 5000",
    "SHOW search_path",
    "SELEC broken",
    "SELECT * FROM lake.tpch.nope",
    "",
    ";;",
    "SELECT 1; SELECT 2",
    "DEALLOCATE s1",
    "COPY lake.tpch.nation FROM STDIN",
];

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max);
    (0..len).map(|_| rng.random()).collect()
}

/// A random frontend message, and whether it is well-formed (a valid type with a body
/// that decodes, whatever its content means).
fn random_message(rng: &mut StdRng) -> (Vec<u8>, bool) {
    let kind = rng.random_range(0..12);
    (build_message(rng, kind), kind <= 8)
}

fn build_message(rng: &mut StdRng, kind: u32) -> Vec<u8> {
    let names = ["", "s1", "s2", "c"];
    match kind {
        0 => {
            let mut body = Vec::new();
            cstr(&mut body, pick(rng, &names));
            cstr(&mut body, pick(rng, QUERIES));
            let types = rng.random_range(0..3u16);
            body.extend_from_slice(&(types as i16).to_be_bytes());
            for _ in 0..types {
                let oid: u32 = pick(rng, &[0u32, 16, 20, 23, 25, 1700, 17, 1114, 99_999]);
                body.extend_from_slice(&oid.to_be_bytes());
            }
            message(b'P', &body)
        }
        1 => {
            let mut body = Vec::new();
            cstr(&mut body, pick(rng, &names));
            cstr(&mut body, pick(rng, &names));
            let formats = rng.random_range(0..3u16);
            body.extend_from_slice(&(formats as i16).to_be_bytes());
            for _ in 0..formats {
                body.extend_from_slice(&(rng.random_range(0..3i16)).to_be_bytes());
            }
            let params = rng.random_range(0..3u16);
            body.extend_from_slice(&(params as i16).to_be_bytes());
            for _ in 0..params {
                if rng.random_bool(0.2) {
                    body.extend_from_slice(&(-1i32).to_be_bytes());
                } else {
                    let value: Vec<u8> = if rng.random_bool(0.5) {
                        pick(rng, &["1", "42", "abc", "2024-01-01", "-7", ""])
                            .as_bytes()
                            .to_vec()
                    } else {
                        random_bytes(rng, 9)
                    };
                    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
                    body.extend_from_slice(&value);
                }
            }
            let results = rng.random_range(0..3u16);
            body.extend_from_slice(&(results as i16).to_be_bytes());
            for _ in 0..results {
                body.extend_from_slice(&(rng.random_range(0..2i16)).to_be_bytes());
            }
            message(b'B', &body)
        }
        2 => {
            let mut body = vec![pick(rng, b"SP")];
            cstr(&mut body, pick(rng, &names));
            message(b'D', &body)
        }
        3 => {
            let mut body = Vec::new();
            cstr(&mut body, pick(rng, &names));
            body.extend_from_slice(&(rng.random_range(0..4i32)).to_be_bytes());
            message(b'E', &body)
        }
        4 => {
            let mut body = vec![pick(rng, b"SP")];
            cstr(&mut body, pick(rng, &names));
            message(b'C', &body)
        }
        5 => message(b'S', &[]),
        6 => message(b'H', &[]),
        7 => {
            let mut body = Vec::new();
            cstr(&mut body, pick(rng, QUERIES));
            message(b'Q', &body)
        }
        8 => match rng.random_range(0..3) {
            // COPY messages outside COPY are ignored, as in PostgreSQL.
            0 => message(b'd', &random_bytes(rng, 16)),
            1 => message(b'c', &[]),
            _ => message(b'f', b"fuzz\0"),
        },
        9 => {
            // Any type byte (unknown ones are fatal, as in PostgreSQL), or a Describe
            // of neither a statement nor a portal.
            if rng.random_bool(0.5) {
                message(rng.random(), &random_bytes(rng, 32))
            } else {
                message(b'D', b"Xname\0")
            }
        }
        10 => {
            // A well-typed message with a body that is too short for its type.
            message(pick(rng, b"PBDECQ"), &random_bytes(rng, 3))
        }
        _ => {
            // A body without its terminating NUL.
            message(b'Q', b"SELECT 1")
        }
    }
}

/// What reading up to the next ReadyForQuery found.
enum Answer {
    /// The message types up to and including ReadyForQuery.
    Ready(Vec<u8>),
    Closed,
    /// Nothing more within the wait; the message types so far.
    Silent(Vec<u8>),
}

/// Reads backend messages until ReadyForQuery, for at most `wait`.
async fn read_answer(socket: &mut TcpStream, buffer: &mut BytesMut, wait: Duration) -> Answer {
    let mut kinds = Vec::new();
    loop {
        while let Some((kind, size)) = complete_message(buffer) {
            buffer.advance(size);
            kinds.push(kind);
            if kind == b'Z' {
                return Answer::Ready(kinds);
            }
        }
        match tokio::time::timeout(wait, socket.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Answer::Closed,
            Ok(Ok(_)) => {}
            Err(_) => return Answer::Silent(kinds),
        }
    }
}

/// Reads backend messages until ReadyForQuery, or `None` if the connection closed.
async fn read_until_ready(socket: &mut TcpStream, buffer: &mut BytesMut) -> Option<Vec<u8>> {
    match read_answer(socket, buffer, Duration::from_secs(30)).await {
        Answer::Ready(kinds) => Some(kinds),
        Answer::Closed => None,
        Answer::Silent(kinds) => panic!("no answer within 30 s; answers so far: {kinds:?}"),
    }
}

/// Opens a connection and authenticates as demo/demo with SCRAM-SHA-256.
async fn authenticated(addr: std::net::SocketAddr) -> (TcpStream, BytesMut) {
    RawClient::connect(addr, "demo", "demo", "lake")
        .await
        .expect("authenticated")
        .into_parts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_message_sequences_never_break_the_server() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Our own code never calls the panicking getters of `bytes`; pgwire's message
        // decoders do. (No backtrace here: symbolising one stalls a runtime worker.)
        let in_pgwire_decoder = info
            .location()
            .is_some_and(|l| l.file().contains("/bytes-"));
        if in_pgwire_decoder {
            DECODER_PANICS.fetch_add(1, Ordering::SeqCst);
        } else {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default_hook(info);
        }
    }));
    let seed: u64 = std::env::var("LAKEGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1a6e_6a7e);
    let cases: usize = std::env::var("LAKEGATE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let gw = TestGateway::start().await;
    let addr = gw.gateway.pg_addr();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut survived, mut closed, mut desynced) = (0, 0, 0);
    for case in 0..cases {
        let (mut socket, mut buffer) = authenticated(addr).await;
        let count = rng.random_range(1..16);
        let mut sent = Vec::new();
        let mut well_formed = true;
        let mut raw = Vec::new();
        for _ in 0..count {
            let (bytes, valid) = random_message(&mut rng);
            well_formed &= valid;
            let body: String = String::from_utf8_lossy(&bytes[5..])
                .chars()
                .filter(|c| !c.is_control())
                .take(48)
                .collect();
            sent.push(format!("{}:{body}", bytes[0] as char));
            raw.extend_from_slice(&bytes);
            if socket.write_all(&bytes).await.is_err() {
                break;
            }
        }
        // Back to a known state: Sync, then a simple query that must answer. ROLLBACK
        // first: the sequence may have left a failed transaction block, where SELECT
        // would rightly get 25P02 and no row.
        let mut probe = message(b'S', &[]);
        let mut query = Vec::new();
        cstr(&mut query, "SELECT 1");
        let mut rollback_then_select = Vec::new();
        cstr(&mut rollback_then_select, "ROLLBACK; SELECT 1");
        probe.extend_from_slice(&message(b'Q', &rollback_then_select));
        let _ = socket.write_all(&probe).await;
        let mut answered = false;
        let mut silent = false;
        // Well-formed input must always be answered; malformed input may leave the
        // connection waiting (pgwire 0.42 decodes a body past its declared length and
        // loses the message framing) — that client's loss only, checked below.
        let wait = Duration::from_secs(if well_formed { 30 } else { 3 });
        // Drain until the probe's answer: a DataRow followed by ReadyForQuery.
        for _ in 0..(count + 4) {
            match read_answer(&mut socket, &mut buffer, wait).await {
                Answer::Ready(kinds) if kinds.contains(&b'D') && kinds.ends_with(b"CZ") => {
                    answered = true;
                    break;
                }
                Answer::Ready(_) => continue,
                Answer::Closed => break,
                Answer::Silent(kinds) => {
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    assert!(
                        !well_formed,
                        "case {case} (seed {seed}): no answer to well-formed messages \
                         {sent:?} (bytes {hex}); answers so far {kinds:?}"
                    );
                    silent = true;
                    break;
                }
            }
        }
        if silent {
            desynced += 1;
        }
        if answered {
            survived += 1;
        } else {
            // Only malformed input may cost a client its connection.
            assert!(
                !well_formed,
                "case {case} (seed {seed}): well-formed messages {sent:?} lost the connection"
            );
            // A fatal protocol error may close the connection; the server stays up.
            closed += 1;
            let (mut fresh, mut fresh_buffer) = authenticated(addr).await;
            fresh
                .write_all(&message(b'Q', &query))
                .await
                .expect("query");
            let kinds = read_until_ready(&mut fresh, &mut fresh_buffer)
                .await
                .unwrap_or_else(|| panic!("case {case} (seed {seed}): server stopped answering"));
            assert!(kinds.contains(&b'D'), "case {case}: {kinds:?}");
        }
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            0,
            "case {case} (seed {seed}) panicked; messages {sent:?}"
        );
    }
    eprintln!(
        "{cases} sequences: {survived} connections stayed in sync, {closed} were closed or \
         lost ({} by pgwire decoder panics, {desynced} left waiting by malformed bodies)",
        DECODER_PANICS.load(Ordering::SeqCst)
    );
    assert!(survived > 0, "no sequence left its connection usable");
}
