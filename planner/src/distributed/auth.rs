//! Who may give a worker a plan: every request from a coordinator carries a token
//! signed with the deployment's shared keys (`[flight] secret_file`, the keys that sign
//! Flight SQL tickets, in a domain of its own), and a worker refuses any request
//! without a valid one before it decodes anything. Without this, anyone who reached a
//! worker's port could run any plan over the data it reads.
//!
//! A token is its expiry (seconds since the epoch) and the HMAC of it; the coordinator
//! signs a fresh one for each request, valid for [`TOKEN_TTL`], so tokens survive key
//! rotation the way tickets do. A token says "a holder of the keys sent this"; the
//! network between coordinators and workers is the operator's to protect (TLS or a
//! private network), as a token seen on it can be replayed until it expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion_distributed::{
    BoxCloneSyncChannel, ChannelResolver, DefaultChannelResolver, WorkerServiceClient,
    create_worker_client,
};
use http::HeaderValue;
use lakegate_security::signer::{Signer, TAG_LEN};
use tonic::Status;
use tower::ServiceExt;
use url::Url;

/// The request header that carries the token.
pub const TOKEN_HEADER: &str = "x-lakegate-worker-token";
/// The signing domain of worker tokens (never a ticket's or a bearer token's).
const DOMAIN: &[u8] = b"distributed-worker";
/// How long a token is valid after it is signed.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A token valid until `TOKEN_TTL` from now.
pub fn token(signer: &Signer) -> String {
    let expiry = (now_seconds() + TOKEN_TTL.as_secs()).to_be_bytes();
    let tag = signer.sign(DOMAIN, &expiry);
    format!("{}{}", hex(&expiry), hex(&tag))
}

/// Whether `token` was signed by one of `signer`'s keys and has not expired.
pub fn check(signer: &Signer, token: Option<&str>) -> Result<(), Status> {
    let token = token.ok_or_else(|| {
        Status::unauthenticated(format!(
            "a lakegate worker runs plans only from its coordinators ({TOKEN_HEADER} missing)"
        ))
    })?;
    let bytes = unhex(token)
        .filter(|b| b.len() == 8 + TAG_LEN)
        .ok_or_else(|| Status::unauthenticated("malformed worker token"))?;
    let (expiry, tag) = bytes.split_at(8);
    if !signer.verify(DOMAIN, expiry, tag) {
        return Err(Status::unauthenticated(
            "the worker token is not signed with this deployment's keys",
        ));
    }
    let expiry = u64::from_be_bytes(expiry.try_into().unwrap_or([0; 8]));
    if expiry < now_seconds() {
        return Err(Status::unauthenticated("the worker token has expired"));
    }
    Ok(())
}

/// Connections to workers, the coordinator's and those of a worker reading another's
/// stage: one cached channel per worker (datafusion-distributed's default resolver),
/// each request signed.
#[derive(Clone)]
pub struct SignedChannels {
    channels: DefaultChannelResolver,
    signer: Signer,
}

impl std::fmt::Debug for SignedChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignedChannels(..)")
    }
}

impl SignedChannels {
    /// Connections whose requests `signer` signs.
    pub fn new(signer: Signer) -> Self {
        Self {
            channels: DefaultChannelResolver::default(),
            signer,
        }
    }
}

#[async_trait]
impl ChannelResolver for SignedChannels {
    async fn get_worker_client_for_url(
        &self,
        url: &Url,
    ) -> Result<WorkerServiceClient<BoxCloneSyncChannel>, DataFusionError> {
        let channel = self.channels.get_channel(url).await?;
        let signer = self.signer.clone();
        let signed = channel.map_request(move |mut request: http::Request<tonic::body::Body>| {
            if let Ok(value) = HeaderValue::from_str(&token(&signer)) {
                request.headers_mut().insert(TOKEN_HEADER, value);
            }
            request
        });
        Ok(create_worker_client(BoxCloneSyncChannel::new(signed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_pass_with_the_keys_and_fail_without_them() {
        let signer = Signer::from_secret(b"a secret of at least thirty-two bytes!!").expect("keys");
        let good = token(&signer);
        assert!(check(&signer, Some(&good)).is_ok());
        assert!(check(&Signer::random(), Some(&good)).is_err(), "other keys");
        assert!(check(&signer, None).is_err(), "no token");
        assert!(check(&signer, Some("zz")).is_err(), "malformed");
        let mut forged = good.clone().into_bytes();
        forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).expect("hex");
        assert!(check(&signer, Some(&forged)).is_err(), "another expiry");
        // Expired: signed for a time in the past.
        let past = (now_seconds() - 1).to_be_bytes();
        let old = format!("{}{}", hex(&past), hex(&signer.sign(DOMAIN, &past)));
        let refused = check(&signer, Some(&old)).expect_err("expired");
        assert!(refused.message().contains("expired"));
    }
}
