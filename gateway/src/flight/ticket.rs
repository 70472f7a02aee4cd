//! Tickets: opaque, versioned, signed and bound to the principal they were issued to.
//!
//! Layout: version (1) | kind (1) | expires (8, big-endian seconds) | query id (8) |
//! user length (2) | user | body | HMAC-SHA256 tag (32) over everything before it.
//! The body is the statement's SQL, a prepared statement's handle, or the metadata
//! command (protobuf `Any`) to answer. A ticket names its query so that
//! CancelFlightInfo can find it.

use bytes::Bytes;
use tonic::Status;

use super::auth::{Signer, TAG_LEN, now_seconds};

const TICKET_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 8 + 8 + 2;

/// What a ticket runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TicketBody {
    /// An ad-hoc statement.
    Statement(String),
    /// A prepared statement, by handle, with the parameters bound to it.
    Prepared(Vec<u8>),
    /// A metadata command (`CommandGet*`), as the protobuf `Any` the client sent.
    Metadata(Vec<u8>),
}

impl TicketBody {
    fn kind(&self) -> u8 {
        match self {
            TicketBody::Statement(_) => 1,
            TicketBody::Prepared(_) => 2,
            TicketBody::Metadata(_) => 3,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            TicketBody::Statement(sql) => sql.as_bytes(),
            TicketBody::Prepared(handle) => handle,
            TicketBody::Metadata(command) => command,
        }
    }
}

/// A verified ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    /// The user it was issued to.
    pub(crate) user: String,
    /// When it stops being redeemable (seconds since the epoch).
    pub(crate) expires: u64,
    /// The query it names, for cancellation.
    pub(crate) query_id: u64,
    /// What it runs.
    pub(crate) body: TicketBody,
}

/// Encodes and signs a ticket.
pub(crate) fn issue(signer: &Signer, claims: &Claims) -> Result<Bytes, Status> {
    let user = claims.user.as_bytes();
    let user_len = u16::try_from(user.len())
        .map_err(|_| Status::invalid_argument("user name too long for a ticket"))?;
    let body = claims.body.bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + user.len() + body.len() + TAG_LEN);
    out.push(TICKET_VERSION);
    out.push(claims.body.kind());
    out.extend_from_slice(&claims.expires.to_be_bytes());
    out.extend_from_slice(&claims.query_id.to_be_bytes());
    out.extend_from_slice(&user_len.to_be_bytes());
    out.extend_from_slice(user);
    out.extend_from_slice(body);
    let tag = signer.sign(b"ticket", &out);
    out.extend_from_slice(&tag);
    Ok(out.into())
}

/// Checks a ticket's signature, version and expiry, and that `user` may redeem it.
pub(crate) fn redeem(signer: &Signer, ticket: &[u8], user: &str) -> Result<Claims, Status> {
    let claims = verify(signer, ticket)?;
    if claims.user != user {
        tracing::warn!(
            user,
            issued_to = %claims.user,
            "refused a ticket issued to another user"
        );
        return Err(Status::permission_denied(
            "this ticket was issued to another user",
        ));
    }
    if now_seconds() >= claims.expires {
        return Err(Status::failed_precondition(
            "this ticket has expired; call GetFlightInfo again",
        ));
    }
    Ok(claims)
}

/// Checks a ticket's signature and decodes it, whoever holds it.
pub(crate) fn verify(signer: &Signer, ticket: &[u8]) -> Result<Claims, Status> {
    let forged = || Status::invalid_argument("not a ticket issued by this gateway");
    if ticket.len() < HEADER_LEN + TAG_LEN {
        return Err(forged());
    }
    let (signed, tag) = ticket.split_at(ticket.len() - TAG_LEN);
    if !signer.verify(b"ticket", signed, tag) {
        return Err(forged());
    }
    if signed[0] != TICKET_VERSION {
        return Err(Status::invalid_argument(format!(
            "ticket version {} is not supported by this gateway",
            signed[0]
        )));
    }
    let number = |range: std::ops::Range<usize>| -> Result<u64, Status> {
        let bytes: [u8; 8] = signed[range].try_into().map_err(|_| forged())?;
        Ok(u64::from_be_bytes(bytes))
    };
    let expires = number(2..10)?;
    let query_id = number(10..18)?;
    let user_len = u16::from_be_bytes([signed[18], signed[19]]) as usize;
    let rest = &signed[HEADER_LEN..];
    if rest.len() < user_len {
        return Err(forged());
    }
    let (user, body) = rest.split_at(user_len);
    let user = String::from_utf8(user.to_vec()).map_err(|_| forged())?;
    let body = match signed[1] {
        1 => TicketBody::Statement(String::from_utf8(body.to_vec()).map_err(|_| forged())?),
        2 => TicketBody::Prepared(body.to_vec()),
        3 => TicketBody::Metadata(body.to_vec()),
        _ => return Err(forged()),
    };
    Ok(Claims {
        user,
        expires,
        query_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user: &str, expires: u64) -> Claims {
        Claims {
            user: user.into(),
            expires,
            query_id: 42,
            body: TicketBody::Statement("SELECT 1".into()),
        }
    }

    #[test]
    fn round_trips_for_its_user_only() {
        let signer = Signer::random();
        let ticket = issue(&signer, &claims("ann", now_seconds() + 60)).expect("issue");
        let redeemed = redeem(&signer, &ticket, "ann").expect("redeem");
        assert_eq!(redeemed.query_id, 42);
        assert_eq!(redeemed.body, TicketBody::Statement("SELECT 1".into()));
        let error = redeem(&signer, &ticket, "bob").expect_err("other user");
        assert_eq!(error.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn refuses_forged_truncated_and_expired_tickets() {
        let signer = Signer::random();
        let ticket = issue(&signer, &claims("ann", now_seconds() + 60)).expect("issue");
        let mut forged = ticket.to_vec();
        forged[25] ^= 1;
        assert_eq!(
            redeem(&signer, &forged, "ann").expect_err("forged").code(),
            tonic::Code::InvalidArgument
        );
        assert!(redeem(&signer, &ticket[..10], "ann").is_err());
        assert!(redeem(&Signer::random(), &ticket, "ann").is_err());
        let old = issue(&signer, &claims("ann", now_seconds() - 1)).expect("issue");
        assert_eq!(
            redeem(&signer, &old, "ann").expect_err("expired").code(),
            tonic::Code::FailedPrecondition
        );
    }
}
