//! Property tests over random frontend messages: whatever a client sends — valid
//! messages in any order, wrong formats, unknown portals, garbage types, truncated,
//! oversized and stalled messages, before or after authenticating — nothing panics,
//! malformed input is answered with a FATAL 08P01 and a closed connection within a
//! second, the server keeps answering, and a connection that survives is still in sync
//! (Sync + Query get their answers).
//!
//! Bounded: a fixed number of cases from a seeded generator, printed on failure so a
//! run can be replayed (`LAKEGATE_FUZZ_SEED`, `LAKEGATE_FUZZ_CASES`).

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use lakegate_tests::panics::{count_panics, panics};
use lakegate_tests::raw_client::{RawClient, complete_message, cstr, message, startup_packet};
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn seed() -> u64 {
    std::env::var("LAKEGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1a6e_6a7e)
}

fn cases(default: usize) -> usize {
    std::env::var("LAKEGATE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

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
    /// The connection closed; the SQLSTATE of the last ErrorResponse before it.
    Closed(Option<String>),
    /// Nothing more within the wait; the message types so far.
    Silent(Vec<u8>),
}

/// The SQLSTATE (`C` field) of an ErrorResponse body.
fn sqlstate(body: &[u8]) -> Option<String> {
    body.split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"C"))
        .map(|code| String::from_utf8_lossy(code).into_owned())
}

/// Reads backend messages until ReadyForQuery, for at most `wait`.
async fn read_answer(socket: &mut TcpStream, buffer: &mut BytesMut, wait: Duration) -> Answer {
    let mut kinds = Vec::new();
    let mut error = None;
    loop {
        while let Some((kind, size)) = complete_message(buffer) {
            if kind == b'E' {
                error = sqlstate(&buffer[5..size]);
            }
            buffer.advance(size);
            kinds.push(kind);
            if kind == b'Z' {
                return Answer::Ready(kinds);
            }
        }
        match tokio::time::timeout(wait, socket.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Answer::Closed(error),
            Ok(Ok(_)) => {}
            Err(_) => return Answer::Silent(kinds),
        }
    }
}

/// Reads backend messages until ReadyForQuery, or `None` if the connection closed.
async fn read_until_ready(socket: &mut TcpStream, buffer: &mut BytesMut) -> Option<Vec<u8>> {
    match read_answer(socket, buffer, Duration::from_secs(30)).await {
        Answer::Ready(kinds) => Some(kinds),
        Answer::Closed(_) => None,
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
    count_panics();
    let seed = seed();
    let cases = cases(150);
    let gw = TestGateway::start().await;
    let addr = gw.gateway.pg_addr();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut survived, mut closed) = (0, 0);
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
        let mut closed_with = None;
        // Every message is whole, so even a malformed one is answered at once: with
        // the probe's rows, or with a FATAL 08P01 and a closed connection.
        let wait = Duration::from_secs(if well_formed { 30 } else { 3 });
        // Drain until the probe's answer: a DataRow followed by ReadyForQuery.
        for _ in 0..(count + 4) {
            match read_answer(&mut socket, &mut buffer, wait).await {
                Answer::Ready(kinds) if kinds.contains(&b'D') && kinds.ends_with(b"CZ") => {
                    answered = true;
                    break;
                }
                Answer::Ready(_) => continue,
                Answer::Closed(sqlstate) => {
                    closed_with = sqlstate;
                    break;
                }
                Answer::Silent(kinds) => {
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    panic!(
                        "case {case} (seed {seed}): no answer to messages {sent:?} \
                         (bytes {hex}); answers so far {kinds:?}"
                    );
                }
            }
        }
        if answered {
            survived += 1;
        } else {
            // Only malformed input may cost a client its connection.
            assert!(
                !well_formed,
                "case {case} (seed {seed}): well-formed messages {sent:?} lost the connection"
            );
            // A malformed message closes the connection with 08P01; the server stays up.
            assert_eq!(
                closed_with.as_deref(),
                Some("08P01"),
                "case {case} (seed {seed}): {sent:?} closed without a protocol violation"
            );
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
            panics(),
            0,
            "case {case} (seed {seed}) panicked; messages {sent:?}"
        );
    }
    eprintln!(
        "{cases} sequences: {survived} connections stayed in sync, {closed} were closed \
         with 08P01"
    );
    assert!(survived > 0, "no sequence left its connection usable");
}

/// One piece of garbage a client sends after its startup packet, or instead of it.
struct Garbage {
    bytes: Vec<u8>,
    /// Cut short and left hanging: only the stall timeout ends it.
    truncated: bool,
    /// Sent in place of the startup packet.
    instead_of_startup: bool,
    /// Whether the server must name it a protocol violation (08P01).
    violation: bool,
}

fn garbage(rng: &mut StdRng) -> Garbage {
    let after_startup = |bytes, truncated, violation| Garbage {
        bytes,
        truncated,
        instead_of_startup: false,
        violation,
    };
    let mut sasl_start = Vec::new();
    cstr(&mut sasl_start, "SCRAM-SHA-256");
    match rng.random_range(0..9) {
        // A SASLInitialResponse whose response length overruns the message: pgwire's
        // decoder panicked on this before our frame check.
        0 => {
            sasl_start.extend_from_slice(&rng.random_range(8..100_000i32).to_be_bytes());
            sasl_start.extend_from_slice(&random_bytes(rng, 6));
            after_startup(message(b'p', &sasl_start), false, true)
        }
        // A SASLInitialResponse without its length.
        1 => {
            sasl_start.extend_from_slice(&random_bytes(rng, 3));
            after_startup(message(b'p', &sasl_start), false, true)
        }
        // Any type byte, any body.
        2 => after_startup(message(rng.random(), &random_bytes(rng, 64)), false, false),
        // A length far beyond any limit, negative, or shorter than the length field.
        3 => {
            let len = pick(rng, &[i32::MAX, 1 << 20, -1, -70_000, 0, 3]);
            let mut bytes = vec![pick(rng, b"pQBP")];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&random_bytes(rng, 16));
            after_startup(bytes, false, true)
        }
        // A message cut short: its header promises more than ever comes.
        4 => {
            let mut whole = message(b'p', &random_bytes(rng, 200));
            whole.truncate(rng.random_range(1..100));
            after_startup(whole, true, true)
        }
        // Random bytes (at least one).
        5 => {
            let mut bytes = random_bytes(rng, 300);
            bytes.push(rng.random());
            after_startup(bytes, false, false)
        }
        // A startup packet with a bad length, an unknown protocol, or unterminated.
        6 => {
            let len = pick(rng, &[-5i32, 4, 7, 20_000, i32::MAX]);
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend_from_slice(&random_bytes(rng, 12));
            // Short of the 8-byte header, nothing is answered (see below).
            let whole = bytes.len() >= 8;
            Garbage {
                bytes,
                truncated: !whole,
                instead_of_startup: true,
                violation: whole,
            }
        }
        7 => {
            let protocol = pick(rng, &[196_608i32, 131_072, 1_234_567]);
            let mut body = protocol.to_be_bytes().to_vec();
            body.extend_from_slice(b"user\0demo");
            let mut bytes = ((body.len() + 4) as i32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&body);
            Garbage {
                bytes,
                truncated: false,
                instead_of_startup: true,
                violation: true,
            }
        }
        // A startup packet cut short.
        _ => {
            let mut bytes = startup_packet("demo", "lake");
            bytes.truncate(rng.random_range(1..bytes.len() - 1));
            // Short of the 8-byte header the connection closes without a word, as
            // PostgreSQL's does on an incomplete startup packet.
            let violation = bytes.len() >= 8;
            Garbage {
                bytes,
                truncated: true,
                instead_of_startup: true,
                violation,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_garbage_is_refused_at_once_without_panics() {
    count_panics();
    let seed = seed();
    let cases = cases(200);
    let mut config = test_config(seeded_data_dir());
    config.pg.message_stall_ms = 300;
    config.pg.max_message_bytes = 1 << 20;
    let gw = TestGateway::start_with(config).await;
    let addr = gw.gateway.pg_addr();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut refused, mut stalled) = (0, 0);
    for case in 0..cases {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        let garbage = garbage(&mut rng);
        // Now and then a message meant for after startup comes instead of it: its type
        // byte and length then read as a startup packet's length.
        let mut sent = if garbage.instead_of_startup || rng.random_bool(0.1) {
            Vec::new()
        } else {
            startup_packet("demo", "lake")
        };
        sent.extend_from_slice(&garbage.bytes);
        // Fewer than 8 bytes in all never make a startup packet's header: the server
        // closes without a word once they stall, as PostgreSQL does.
        let violation = garbage.violation && sent.len() >= 8;
        let hex: String = sent.iter().map(|b| format!("{b:02x}")).collect();
        let started = Instant::now();
        if socket.write_all(&sent).await.is_err() {
            refused += 1;
            continue;
        }
        // Read until the server closes; everything must end within a second.
        let mut buffer = BytesMut::new();
        let mut error = None;
        let closed = loop {
            while let Some((kind, size)) = complete_message(&buffer) {
                if kind == b'E' {
                    error = sqlstate(&buffer[5..size]);
                }
                buffer.advance(size);
            }
            match tokio::time::timeout(Duration::from_secs(2), socket.read_buf(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => {}
                Err(_) => break false,
            }
        };
        let took = started.elapsed();
        assert!(
            closed && took < Duration::from_secs(1),
            "case {case} (seed {seed}): bytes {hex} left the connection open for {took:?}"
        );
        if violation {
            assert_eq!(
                error.as_deref(),
                Some("08P01"),
                "case {case} (seed {seed}): bytes {hex} were not named a protocol violation"
            );
        }
        if garbage.truncated {
            stalled += 1;
        } else {
            refused += 1;
        }
        assert_eq!(
            panics(),
            0,
            "case {case} (seed {seed}): bytes {hex} caused a panic"
        );
    }
    // The server still serves.
    let (mut socket, mut buffer) = authenticated(addr).await;
    let mut query = Vec::new();
    cstr(&mut query, "SELECT 1");
    socket
        .write_all(&message(b'Q', &query))
        .await
        .expect("query");
    let kinds = read_until_ready(&mut socket, &mut buffer)
        .await
        .expect("server still answering");
    assert!(kinds.contains(&b'D'), "{kinds:?}");
    eprintln!("{cases} garbage cases: {refused} refused, {stalled} stalled messages closed");
}
