//! A minimal Postgres wire client: authenticates (trust or SCRAM-SHA-256), then frames
//! messages without decoding rows. Benchmarks count rows with it, so they measure the
//! server rather than a client's row decoding; the protocol fuzz test takes its raw
//! socket to send whatever bytes it likes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Buf, BytesMut};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connected, authenticated session.
pub struct RawClient {
    socket: TcpStream,
    buffer: BytesMut,
}

/// One frontend message: its type byte, length and body.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Appends a NUL-terminated string.
pub fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// The type and total size (type byte included) of the first backend message in
/// `buffer`, once it is complete.
pub fn complete_message(buffer: &[u8]) -> Option<(u8, usize)> {
    let header = buffer.get(..5)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    (buffer.len() > len).then_some((header[0], len + 1))
}

/// A protocol 3.0 startup packet for `user` and `database`.
pub fn startup_packet(user: &str, database: &str) -> Vec<u8> {
    let mut startup = 196_608i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", database] {
        cstr(&mut startup, part);
    }
    startup.push(0);
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    packet
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

impl RawClient {
    /// Connects and authenticates (`trust` or SCRAM-SHA-256 with `password`).
    pub async fn connect(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        database: &str,
    ) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let mut client = Self {
            socket,
            buffer: BytesMut::with_capacity(1 << 20),
        };
        client
            .socket
            .write_all(&startup_packet(user, database))
            .await?;
        let nonce = "benchclientnonce0123456789ab";
        let first_bare = format!("n=,r={nonce}");
        loop {
            let (kind, body) = client.next_message().await?;
            match kind {
                b'R' => {
                    let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    match code {
                        0 | 12 => {}
                        10 => {
                            let mut init = Vec::new();
                            cstr(&mut init, "SCRAM-SHA-256");
                            let first = format!("n,,{first_bare}");
                            init.extend_from_slice(&(first.len() as i32).to_be_bytes());
                            init.extend_from_slice(first.as_bytes());
                            client.socket.write_all(&message(b'p', &init)).await?;
                        }
                        11 => {
                            let server_first = String::from_utf8(body[4..].to_vec())?;
                            let field = |name: &str| {
                                server_first
                                    .split(',')
                                    .find_map(|f| f.strip_prefix(name))
                                    .map(str::to_string)
                                    .ok_or_else(|| anyhow::anyhow!("server-first lacks {name}"))
                            };
                            let (r, salt, iterations) = (field("r=")?, field("s=")?, field("i=")?);
                            let mut salted = [0u8; 32];
                            pbkdf2::pbkdf2_hmac::<Sha256>(
                                password.as_bytes(),
                                &B64.decode(salt)?,
                                iterations.parse()?,
                                &mut salted,
                            );
                            let client_key = hmac(&salted, b"Client Key");
                            let stored_key = Sha256::digest(&client_key);
                            let without_proof = format!("c=biws,r={r}");
                            let auth_message =
                                format!("{first_bare},{server_first},{without_proof}");
                            let signature = hmac(&stored_key, auth_message.as_bytes());
                            let proof: Vec<u8> = client_key
                                .iter()
                                .zip(&signature)
                                .map(|(a, b)| a ^ b)
                                .collect();
                            let last = format!("{without_proof},p={}", B64.encode(proof));
                            client
                                .socket
                                .write_all(&message(b'p', last.as_bytes()))
                                .await?;
                        }
                        other => anyhow::bail!("unsupported authentication request {other}"),
                    }
                }
                b'E' => anyhow::bail!("login failed: {}", String::from_utf8_lossy(&body)),
                b'Z' => break,
                _ => {}
            }
        }
        Ok(client)
    }

    /// The authenticated socket and any bytes already read from it.
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.socket, self.buffer)
    }

    async fn next_message(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        loop {
            if let Some((kind, size)) = complete_message(&self.buffer) {
                let body = self.buffer[5..size].to_vec();
                self.buffer.advance(size);
                return Ok((kind, body));
            }
            if self.socket.read_buf(&mut self.buffer).await? == 0 {
                anyhow::bail!("server closed the connection");
            }
        }
    }

    /// Reads until ReadyForQuery, counting DataRow and CopyData messages.
    async fn count_until_ready(&mut self) -> anyhow::Result<u64> {
        let mut rows = 0;
        loop {
            while let Some((kind, size)) = complete_message(&self.buffer) {
                match kind {
                    b'D' | b'd' => rows += 1,
                    b'E' => anyhow::bail!(
                        "query failed: {}",
                        String::from_utf8_lossy(&self.buffer[5..size])
                    ),
                    b'Z' => {
                        self.buffer.advance(size);
                        return Ok(rows);
                    }
                    _ => {}
                }
                self.buffer.advance(size);
            }
            if self.buffer.capacity() - self.buffer.len() < 65_536 {
                self.buffer.reserve(1 << 20);
            }
            if self.socket.read_buf(&mut self.buffer).await? == 0 {
                anyhow::bail!("server closed the connection");
            }
        }
    }

    /// A simple Query: text rows (or COPY data); returns the rows (CopyData messages).
    pub async fn simple(&mut self, sql: &str) -> anyhow::Result<u64> {
        let mut body = Vec::new();
        cstr(&mut body, sql);
        self.socket.write_all(&message(b'Q', &body)).await?;
        self.count_until_ready().await
    }

    /// Parse, Bind (all results binary), Execute, Sync; returns the rows.
    pub async fn binary(&mut self, sql: &str) -> anyhow::Result<u64> {
        let mut parse = Vec::new();
        cstr(&mut parse, "");
        cstr(&mut parse, sql);
        parse.extend_from_slice(&0i16.to_be_bytes());
        let mut bind = Vec::new();
        cstr(&mut bind, "");
        cstr(&mut bind, "");
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&1i16.to_be_bytes());
        bind.extend_from_slice(&1i16.to_be_bytes());
        let mut execute = Vec::new();
        cstr(&mut execute, "");
        execute.extend_from_slice(&0i32.to_be_bytes());
        let mut out = message(b'P', &parse);
        out.extend_from_slice(&message(b'B', &bind));
        out.extend_from_slice(&message(b'E', &execute));
        out.extend_from_slice(&message(b'S', &[]));
        self.socket.write_all(&out).await?;
        self.count_until_ready().await
    }
}
