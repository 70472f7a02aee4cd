//! A panic while planning one statement fails that statement (XX000 with a reference,
//! the panic's message in the log), not the connection that sent it. DataFusion's SQL
//! planner still has `unwrap`s on inputs the parser accepts — `ORDER BY DATE 4` panicked
//! in datafusion-sql 53.1 (found by the SQL fuzz test) — and a panic there ended the
//! client's session. Execution panics are caught where the plan runs
//! (`pipeline/executor.rs`).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::{QueryError, Result};

/// Runs `stage`; a panic inside it becomes an internal error naming `what`. The stage
/// is boxed: planning futures are large, and a copy of one more on the stack overflowed
/// 2 MiB threads.
pub(crate) async fn unpanicked<T>(what: &str, stage: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(Box::pin(stage)).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(panicked(what, payload.as_ref())),
    }
}

fn panicked(what: &str, payload: &(dyn Any + Send)) -> QueryError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    crate::error::internal_error(&format!("{what} panicked: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error() {
        let result: Result<()> = unpanicked("planning", async { panic!("boom") }).await;
        assert!(matches!(
            &result,
            Err(e) if e.kind == crate::ErrorKind::Internal && e.message.contains("reference")
        ));
        let fine = unpanicked("planning", async { Ok(1) }).await;
        assert!(matches!(fine, Ok(1)));
    }
}
