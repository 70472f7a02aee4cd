//! The layout of every frontend message, checked before pgwire decodes it: a frame's
//! declared length against what such a message may be, and its body against its
//! type's fields, as PostgreSQL's `pq_getmsg*` functions check them.
//!
//! pgwire's decoders read a body with `bytes`' panicking getters and past the declared
//! length; a body that passes these checks holds exactly the fields its type has, so
//! they never reach past it.

/// PostgreSQL's limit on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub(crate) const MAX_STARTUP_BYTES: usize = 10_000;

/// The largest message a client that has not yet authenticated may send (PostgreSQL's
/// `PG_MAX_AUTH_TOKEN_LENGTH`): an unauthenticated peer never makes the server buffer
/// more than this.
pub(crate) const MAX_AUTH_BYTES: usize = 65_535;

/// What a client's first password message holds, by the exchange its login uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstPassword {
    /// One string: a cleartext password or an MD5 hash.
    Password,
    /// A SASLInitialResponse: a mechanism name and a length-prefixed response.
    SaslStart,
}

/// Where the first frame of the bytes received so far stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// The frame is whole: this many bytes, type byte and length included.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
}

/// Reads the header of the frame at the start of `buf`. `startup`: the connection
/// waits for its startup packet, which has no type byte. A frame longer than
/// `max_bytes` is refused from its header, before its body is read.
pub(crate) fn frame(buf: &[u8], startup: bool, max_bytes: usize) -> Result<Frame, String> {
    let offset = usize::from(!startup);
    if !startup && let Some(&kind) = buf.first() {
        known_type(kind)?;
    }
    let Some(length) = buf.get(offset..offset + 4) else {
        return Ok(Frame::Incomplete);
    };
    let declared = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    let (min, max) = if startup {
        (8, max_bytes.min(MAX_STARTUP_BYTES))
    } else {
        (4, max_bytes)
    };
    let Ok(declared) = usize::try_from(declared) else {
        return Err(format!("invalid message length {declared}"));
    };
    if declared < min {
        return Err(format!("invalid message length {declared}"));
    }
    if declared > max {
        let what = if startup {
            "startup packet".to_string()
        } else {
            format!("message of type '{}'", char::from(buf[0]))
        };
        return Err(format!(
            "{what} declares {declared} bytes, more than the {max} this server accepts \
             (max_message_bytes)"
        ));
    }
    let total = offset + declared;
    Ok(if buf.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Incomplete
    })
}

/// The message types a frontend may send (FunctionCall, `F`, is not served).
fn known_type(kind: u8) -> Result<(), String> {
    match kind {
        b'Q' | b'P' | b'B' | b'D' | b'C' | b'E' | b'S' | b'H' | b'X' | b'd' | b'c' | b'f'
        | b'p' => Ok(()),
        b'F' => Err("FunctionCall messages are not supported".to_string()),
        other => Err(format!("invalid frontend message type {other}")),
    }
}

/// Checks the body of a typed message (after its type byte and length) against its
/// type's fields. `first_password`: what a `p` message holds when it starts the
/// login's exchange; later ones are SASL data of any shape.
pub(crate) fn check_body(
    kind: u8,
    body: &[u8],
    first_password: Option<FirstPassword>,
) -> Result<(), String> {
    let mut fields = Fields { rest: body, kind };
    match kind {
        b'Q' | b'f' => {
            fields.cstring()?;
        }
        b'P' => {
            fields.cstring()?;
            fields.cstring()?;
            let types = fields.count()?;
            fields.skip(types * 4, "parameter types")?;
        }
        b'B' => {
            fields.cstring()?;
            fields.cstring()?;
            let formats = fields.count()?;
            fields.skip(formats * 2, "parameter formats")?;
            for _ in 0..fields.count()? {
                match fields.i32()? {
                    -1 => {}
                    len if len >= 0 => fields.skip(len as usize, "parameter value")?,
                    len => return Err(format!("invalid parameter length {len} in Bind")),
                }
            }
            let results = fields.count()?;
            fields.skip(results * 2, "result formats")?;
        }
        b'D' | b'C' => {
            fields.skip(1, "target")?;
            fields.cstring()?;
        }
        b'E' => {
            fields.cstring()?;
            fields.i32()?;
        }
        b'S' | b'H' | b'X' | b'c' => {}
        b'd' => return Ok(()),
        b'p' => match first_password {
            Some(FirstPassword::Password) => {
                fields.cstring()?;
            }
            Some(FirstPassword::SaslStart) => {
                fields.cstring()?;
                match fields.i32()? {
                    -1 => {}
                    len if len >= 0 => fields.skip(len as usize, "SASL response")?,
                    len => return Err(format!("invalid SASL response length {len}")),
                }
            }
            None => return Ok(()),
        },
        other => return Err(format!("invalid frontend message type {other}")),
    }
    fields.end()
}

/// A cursor over a message body that fails, naming the message, where a field would
/// reach past the body.
struct Fields<'a> {
    rest: &'a [u8],
    kind: u8,
}

impl Fields<'_> {
    fn short(&self, what: &str) -> String {
        format!(
            "invalid message format: '{}' message too short for its {what}",
            char::from(self.kind)
        )
    }

    fn skip(&mut self, len: usize, what: &str) -> Result<(), String> {
        if self.rest.len() < len {
            return Err(self.short(what));
        }
        self.rest = &self.rest[len..];
        Ok(())
    }

    fn cstring(&mut self) -> Result<(), String> {
        let Some(end) = self.rest.iter().position(|&b| b == 0) else {
            return Err(format!(
                "invalid message format: string in '{}' message is not terminated",
                char::from(self.kind)
            ));
        };
        self.rest = &self.rest[end + 1..];
        Ok(())
    }

    fn i32(&mut self) -> Result<i32, String> {
        let Some(bytes) = self.rest.get(..4) else {
            return Err(self.short("integer field"));
        };
        let value = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        self.rest = &self.rest[4..];
        Ok(value)
    }

    /// A 16-bit element count, which must not be negative.
    fn count(&mut self) -> Result<usize, String> {
        let Some(bytes) = self.rest.get(..2) else {
            return Err(self.short("count"));
        };
        let value = i16::from_be_bytes([bytes[0], bytes[1]]);
        self.rest = &self.rest[2..];
        usize::try_from(value).map_err(|_| {
            format!(
                "invalid message format: negative count {value} in '{}' message",
                char::from(self.kind)
            )
        })
    }

    fn end(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "invalid message format: {} bytes after the fields of a '{}' message",
                self.rest.len(),
                char::from(self.kind)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut frame = vec![kind];
        frame.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        frame.extend_from_slice(body);
        frame
    }

    #[test]
    fn frames_are_measured_from_their_header() {
        let query = typed(b'Q', b"SELECT 1\0");
        assert_eq!(frame(&query, false, 1024), Ok(Frame::Complete(query.len())));
        assert_eq!(frame(&query[..7], false, 1024), Ok(Frame::Incomplete));
        assert_eq!(frame(&query[..1], false, 1024), Ok(Frame::Incomplete));
        assert_eq!(frame(&[], false, 1024), Ok(Frame::Incomplete));
        // Oversized, negative and too-short lengths are refused from the header alone.
        let err = frame(&typed(b'Q', &[b'x'; 100]), false, 50).expect_err("refused");
        assert!(
            err.contains("104 bytes") && err.contains("max_message_bytes"),
            "{err}"
        );
        assert!(frame(&[b'Q', 0xff, 0xff, 0xff, 0xff], false, 1024).is_err());
        assert!(frame(&[b'Q', 0, 0, 0, 3], false, 1024).is_err());
        assert!(
            frame(b"Z", false, 1024)
                .expect_err("refused")
                .contains("type 90")
        );
        // Startup packets have no type byte and PostgreSQL's own cap.
        let mut startup = 16i32.to_be_bytes().to_vec();
        startup.extend_from_slice(&196_608i32.to_be_bytes());
        startup.extend_from_slice(b"user\0x\0\0\0");
        assert_eq!(frame(&startup, true, 1 << 20), Ok(Frame::Complete(16)));
        assert!(frame(&20_000i32.to_be_bytes(), true, 1 << 20).is_err());
        assert!(frame(&4i32.to_be_bytes(), true, 1 << 20).is_err());
    }

    #[test]
    fn bodies_must_hold_exactly_their_fields() {
        assert!(check_body(b'Q', b"SELECT 1\0", None).is_ok());
        assert!(check_body(b'Q', b"SELECT 1", None).is_err());
        assert!(check_body(b'Q', b"SELECT 1\0junk", None).is_err());
        let mut parse = b"s1\0SELECT $1\0".to_vec();
        parse.extend_from_slice(&1i16.to_be_bytes());
        parse.extend_from_slice(&23i32.to_be_bytes());
        assert!(check_body(b'P', &parse, None).is_ok());
        assert!(check_body(b'P', &parse[..parse.len() - 1], None).is_err());
        let mut negative = b"\0SELECT 1\0".to_vec();
        negative.extend_from_slice(&(-1i16).to_be_bytes());
        assert!(
            check_body(b'P', &negative, None)
                .expect_err("refused")
                .contains("negative")
        );
        // Bind: one text format, two parameters (one NULL), no result formats.
        let mut bind = b"\0s1\0".to_vec();
        bind.extend_from_slice(&1i16.to_be_bytes());
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&2i16.to_be_bytes());
        bind.extend_from_slice(&2i32.to_be_bytes());
        bind.extend_from_slice(b"42");
        bind.extend_from_slice(&(-1i32).to_be_bytes());
        bind.extend_from_slice(&0i16.to_be_bytes());
        assert!(check_body(b'B', &bind, None).is_ok());
        // A parameter that overruns the body: the panic pgwire's decoder had.
        let mut overrun = b"\0s1\0".to_vec();
        overrun.extend_from_slice(&0i16.to_be_bytes());
        overrun.extend_from_slice(&1i16.to_be_bytes());
        overrun.extend_from_slice(&1000i32.to_be_bytes());
        overrun.extend_from_slice(b"42");
        assert!(check_body(b'B', &overrun, None).is_err());
        let mut execute = b"\0".to_vec();
        execute.extend_from_slice(&0i32.to_be_bytes());
        assert!(check_body(b'E', &execute, None).is_ok());
        assert!(check_body(b'E', b"\0", None).is_err());
        assert!(check_body(b'D', b"Ss1\0", None).is_ok());
        assert!(check_body(b'D', b"", None).is_err());
        assert!(check_body(b'S', b"", None).is_ok());
        assert!(check_body(b'S', b"x", None).is_err());
        assert!(check_body(b'd', b"any bytes", None).is_ok());
    }

    #[test]
    fn the_first_password_message_holds_what_its_exchange_expects() {
        let password = Some(FirstPassword::Password);
        let sasl_start = Some(FirstPassword::SaslStart);
        assert!(check_body(b'p', b"secret\0", password).is_ok());
        let mut sasl = b"SCRAM-SHA-256\0".to_vec();
        sasl.extend_from_slice(&3i32.to_be_bytes());
        sasl.extend_from_slice(b"n,,");
        assert!(check_body(b'p', &sasl, sasl_start).is_ok());
        assert!(check_body(b'p', &sasl, password).is_err());
        // A mechanism name alone is a fine password but no SASL start (pgwire's SCRAM
        // decoder panicked on it).
        assert!(check_body(b'p', b"SCRAM-SHA-256\0", password).is_ok());
        assert!(check_body(b'p', b"SCRAM-SHA-256\0", sasl_start).is_err());
        // A SASL start whose response overruns the body.
        let mut short = b"SCRAM-SHA-256\0".to_vec();
        short.extend_from_slice(&300i32.to_be_bytes());
        assert!(check_body(b'p', &short, sasl_start).is_err());
        assert!(check_body(b'p', b"SCRAM-SHA-256\0\0\0", sasl_start).is_err());
        // Later SASL messages are opaque.
        assert!(check_body(b'p', b"c=biws,r=abc", None).is_ok());
    }
}
