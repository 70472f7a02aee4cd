//! The one place S3 clients are configured: how long a request may take and how object
//! storage faults are retried, for every catalog kind (Iceberg FileIO, files, Delta).
//!
//! object_store retries idempotent requests on 5xx answers, throttling and timeouts with
//! exponential backoff. Its defaults (10 retries within 3 minutes, backoff up to 15 s)
//! hold a session far longer than a user waits; here a request that still fails after 4
//! retries within 15 s is an error the client sees (SQLSTATE 58030). The per-request
//! `timeout` (30 s) and `connect_timeout` (5 s) can be set per catalog in `options`.

use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, RetryConfig};

/// Retries of one S3 request before its error is returned.
pub const MAX_RETRIES: usize = 4;
/// The window within which a failing request is retried.
pub const RETRY_WINDOW: Duration = Duration::from_secs(15);

/// A builder for `bucket` from the `AWS_*` environment, with the gateway's retry policy;
/// the catalog's options are applied over it by the caller.
pub(crate) fn builder(bucket: &str) -> AmazonS3Builder {
    AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_WINDOW,
        })
}
