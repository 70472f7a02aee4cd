//! Concurrent DoGet streams per user (`[flight] max_streams_per_user`): a stream holds a
//! slot from the moment its ticket is redeemed until its body is dropped — finished,
//! failed or abandoned by a client that went away — so that one user's notebooks cannot
//! hold every scan of the gateway open at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lakegate_planner::{ErrorKind, QueryError};
use tonic::Status;

use super::status::to_status;

/// Slots per user; `0` means no limit.
#[derive(Debug)]
pub(crate) struct StreamSlots {
    max_per_user: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One open stream's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: String,
}

impl StreamSlots {
    pub(crate) fn new(max_per_user: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_user,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `user`, or RESOURCE_EXHAUSTED (SQLSTATE 53300) naming the limit.
    pub(crate) fn acquire(self: &Arc<Self>, user: &str) -> Result<StreamSlot, Status> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(user.to_string()).or_insert(0);
        if self.max_per_user > 0 && *count >= self.max_per_user {
            return Err(to_status(QueryError::new(
                ErrorKind::TooManyConnections,
                format!(
                    "too many concurrent Flight SQL streams for user \"{user}\": {} are open \
                     ([flight] max_streams_per_user = {}); finish or cancel one first",
                    count, self.max_per_user
                ),
            )));
        }
        *count += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user: user.to_string(),
        })
    }

    /// Streams `user` holds open now.
    #[cfg(test)]
    fn open(&self, user: &str) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(user).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_frees_on_drop() {
        let slots = StreamSlots::new(2);
        let a = slots.acquire("ana");
        let b = slots.acquire("ana");
        assert!(a.is_ok() && b.is_ok());
        let refused = slots.acquire("ana");
        assert!(
            matches!(&refused, Err(s) if s.code() == tonic::Code::ResourceExhausted
                && s.message().contains("max_streams_per_user = 2"))
        );
        assert!(slots.acquire("bob").is_ok(), "other users are not affected");
        drop(a);
        assert_eq!(slots.open("ana"), 1);
        assert!(slots.acquire("ana").is_ok());
        drop(b);
        assert_eq!(slots.open("ana"), 0);
    }

    #[test]
    fn zero_means_no_limit() {
        let slots = StreamSlots::new(0);
        let held: Vec<_> = (0..100).map(|_| slots.acquire("ana")).collect();
        assert!(held.iter().all(Result::is_ok));
    }
}
