//! Prepared statements of Flight SQL clients: described once, executed many times, with
//! parameters bound by DoPut, and redeemable at any replica behind one address.
//!
//! A handle is self-describing and signed with the Flight SQL keys (shared by replicas
//! through `[flight] secret_file`):
//!
//! version (1) | nonce (8) | user length (2) | user | SQL length (4) | SQL |
//! parameters: kind (1), length (4), Arrow IPC stream | HMAC-SHA256 tag (32)
//!
//! Each replica keeps the statements it described, keyed by the handle's tag; a replica
//! that never saw a handle describes its SQL again, for the user it names. Binding
//! parameters returns a new handle that carries them (Flight SQL's
//! `DoPutPreparedStatementResult`), so the next replica executes the same binding; the
//! replica that received the binding also keeps it for the old handle, as clients that
//! ignore the new handle expect.
//! Bindings too large to travel in a handle stay with the replica that received them.
//! Each user keeps at most `max_per_user` described statements per replica; the least
//! recently used goes first, and a later use describes it again. A closed handle is
//! remembered as closed by the replica that closed it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use lakegate_planner::Prepared;
use lakegate_planner::ipc_batch;
use tonic::Status;

use super::auth::{Signer, TAG_LEN};

/// Version byte of the handle layout.
const HANDLE_VERSION: u8 = 2;

/// The signing domain of handles.
const DOMAIN: &[u8] = b"prepared-statement";

/// Largest binding, as Arrow IPC, that travels inside a handle.
const MAX_INLINE_PARAMS: usize = 256 * 1024;

/// Closed handles each replica remembers (oldest forgotten first).
const MAX_CLOSED: usize = 4096;

/// How a handle carries its parameter binding.
const NO_PARAMS: u8 = 0;
const INLINE_PARAMS: u8 = 1;
const LOCAL_PARAMS: u8 = 2;

type Key = [u8; TAG_LEN];

/// One prepared statement.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The statement as the client sent it.
    pub(crate) sql: String,
    /// The described statement.
    pub(crate) prepared: Prepared,
    /// Parameter rows bound to this handle (each row is one execution).
    pub(crate) params: Option<Arc<RecordBatch>>,
}

/// What a handle names on this replica.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A statement this replica described.
    Known(Box<Entry>),
    /// A statement described elsewhere: its SQL and binding, to describe it here.
    Unknown {
        sql: String,
        params: Option<RecordBatch>,
    },
}

#[derive(Debug)]
struct Kept {
    user: String,
    entry: Entry,
    last_used: Instant,
}

#[derive(Debug, Default)]
struct Registry {
    entries: HashMap<Key, Kept>,
    closed: HashSet<Key>,
    closed_order: VecDeque<Key>,
}

/// The prepared statements this replica described.
#[derive(Debug)]
pub(crate) struct PreparedStatements {
    registry: Mutex<Registry>,
    signer: Signer,
    max_per_user: usize,
}

/// A decoded, verified handle.
struct Decoded {
    key: Key,
    user: String,
    sql: String,
    params_kind: u8,
    params: Option<RecordBatch>,
}

impl PreparedStatements {
    pub(crate) fn new(signer: Signer, max_per_user: usize) -> Self {
        Self {
            registry: Mutex::new(Registry::default()),
            signer,
            max_per_user: max_per_user.max(1),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a described statement and returns its handle.
    pub(crate) fn insert(
        &self,
        user: &str,
        sql: &str,
        prepared: Prepared,
    ) -> Result<Vec<u8>, Status> {
        let entry = Entry {
            sql: sql.to_string(),
            prepared,
            params: None,
        };
        self.register(user, entry)
    }

    /// Binds `params` to the statement behind `handle` (whose entry is `entry`) and
    /// returns a new handle that carries the binding, for any replica. This replica also
    /// binds them to `handle` itself, for clients that keep using the handle they
    /// prepared (the Go Flight SQL client of ADBC does).
    pub(crate) fn bind(
        &self,
        handle: &[u8],
        user: &str,
        entry: &Entry,
        params: RecordBatch,
    ) -> Result<Vec<u8>, Status> {
        let params = Arc::new(params);
        if let Ok(key) = <Key>::try_from(&handle[handle.len().saturating_sub(TAG_LEN)..])
            && let Some(kept) = self.registry().entries.get_mut(&key)
            && kept.user == user
        {
            kept.entry.params = Some(params.clone());
            kept.last_used = Instant::now();
        }
        let bound = Entry {
            sql: entry.sql.clone(),
            prepared: entry.prepared.clone(),
            params: Some(params),
        };
        self.register(user, bound)
    }

    /// Keeps a statement described here from another replica's handle.
    pub(crate) fn adopt(
        &self,
        handle: &[u8],
        user: &str,
        prepared: Prepared,
        sql: String,
        params: Option<RecordBatch>,
    ) -> Entry {
        let entry = Entry {
            sql,
            prepared,
            params: params.map(Arc::new),
        };
        if let Ok(key) = <Key>::try_from(&handle[handle.len().saturating_sub(TAG_LEN)..]) {
            self.keep(key, user, entry.clone());
        }
        entry
    }

    fn register(&self, user: &str, entry: Entry) -> Result<Vec<u8>, Status> {
        let handle = self.encode(user, &entry.sql, entry.params.as_deref())?;
        let key: Key = handle[handle.len() - TAG_LEN..]
            .try_into()
            .unwrap_or_else(|_| unreachable!("a handle ends with its tag"));
        self.keep(key, user, entry);
        Ok(handle)
    }

    fn keep(&self, key: Key, user: &str, entry: Entry) {
        let mut registry = self.registry();
        let owned = registry
            .entries
            .values()
            .filter(|kept| kept.user == user)
            .count();
        if owned >= self.max_per_user {
            let oldest = registry
                .entries
                .iter()
                .filter(|(_, kept)| kept.user == user)
                .min_by_key(|(_, kept)| kept.last_used)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                registry.entries.remove(&oldest);
                tracing::debug!(
                    user,
                    "forgot the least recently used prepared statement (it is described again on use)"
                );
            }
        }
        registry.entries.insert(
            key,
            Kept {
                user: user.to_string(),
                entry,
                last_used: Instant::now(),
            },
        );
    }

    /// What `handle` names for `user`: refused when it is not ours, was closed here, or
    /// belongs to another user.
    pub(crate) fn get(&self, handle: &[u8], user: &str) -> Result<Lookup, Status> {
        let decoded = self.decode(handle)?;
        if decoded.user != user {
            tracing::warn!(
                user,
                prepared_by = %decoded.user,
                "refused a prepared statement handle of another user"
            );
            return Err(Status::permission_denied(
                "this prepared statement was prepared by another user",
            ));
        }
        let mut registry = self.registry();
        if registry.closed.contains(&decoded.key) {
            return Err(unknown());
        }
        if let Some(kept) = registry.entries.get_mut(&decoded.key) {
            kept.last_used = Instant::now();
            return Ok(Lookup::Known(Box::new(kept.entry.clone())));
        }
        if decoded.params_kind == LOCAL_PARAMS {
            return Err(Status::failed_precondition(format!(
                "the parameters bound to this prepared statement (more than {} KiB) are held \
                 by the gateway replica that received them, which no longer has them; bind \
                 them again",
                MAX_INLINE_PARAMS / 1024
            )));
        }
        Ok(Lookup::Unknown {
            sql: decoded.sql,
            params: decoded.params,
        })
    }

    /// Drops a statement and remembers it as closed.
    pub(crate) fn close(&self, handle: &[u8], user: &str) -> Result<(), Status> {
        let decoded = self.decode(handle)?;
        if decoded.user != user {
            return Err(unknown());
        }
        let mut registry = self.registry();
        registry.entries.remove(&decoded.key);
        if registry.closed.insert(decoded.key) {
            registry.closed_order.push_back(decoded.key);
            if registry.closed_order.len() > MAX_CLOSED
                && let Some(oldest) = registry.closed_order.pop_front()
            {
                registry.closed.remove(&oldest);
            }
        }
        Ok(())
    }

    fn encode(
        &self,
        user: &str,
        sql: &str,
        params: Option<&RecordBatch>,
    ) -> Result<Vec<u8>, Status> {
        let too_long =
            |what: &str| Status::invalid_argument(format!("{what} too long for a handle"));
        let user_len = u16::try_from(user.len()).map_err(|_| too_long("user name"))?;
        let sql_len = u32::try_from(sql.len()).map_err(|_| too_long("statement"))?;
        let (params_kind, params) = match params {
            None => (NO_PARAMS, Vec::new()),
            Some(batch) => {
                let ipc = encode_batch(batch)?;
                if ipc.len() <= MAX_INLINE_PARAMS {
                    (INLINE_PARAMS, ipc)
                } else {
                    (LOCAL_PARAMS, Vec::new())
                }
            }
        };
        let params_len = u32::try_from(params.len()).map_err(|_| too_long("binding"))?;
        let nonce: [u8; 8] = rand::random();
        let mut out = Vec::with_capacity(1 + 8 + 2 + user.len() + 4 + sql.len() + 5 + params.len());
        out.push(HANDLE_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&user_len.to_be_bytes());
        out.extend_from_slice(user.as_bytes());
        out.extend_from_slice(&sql_len.to_be_bytes());
        out.extend_from_slice(sql.as_bytes());
        out.push(params_kind);
        out.extend_from_slice(&params_len.to_be_bytes());
        out.extend_from_slice(&params);
        let tag = self.signer.sign(DOMAIN, &out);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn decode(&self, handle: &[u8]) -> Result<Decoded, Status> {
        if handle.len() < 1 + TAG_LEN {
            return Err(unknown());
        }
        let (signed, tag) = handle.split_at(handle.len() - TAG_LEN);
        if !self.signer.verify(DOMAIN, signed, tag) {
            return Err(unknown());
        }
        let key: Key = tag.try_into().map_err(|_| unknown())?;
        let mut reader = Reader { bytes: signed };
        if reader.take(1)? != [HANDLE_VERSION] {
            return Err(Status::invalid_argument(
                "this prepared statement handle has a layout this gateway does not read; \
                 prepare the statement again",
            ));
        }
        reader.take(8)?;
        let user_len = u16::from_be_bytes(reader.array()?) as usize;
        let user = reader.text(user_len)?;
        let sql_len = u32::from_be_bytes(reader.array()?) as usize;
        let sql = reader.text(sql_len)?;
        let [params_kind] = reader.array()?;
        let params_len = u32::from_be_bytes(reader.array()?) as usize;
        let params = match params_kind {
            INLINE_PARAMS => Some(decode_batch(reader.take(params_len)?)?),
            _ => None,
        };
        Ok(Decoded {
            key,
            user,
            sql,
            params_kind,
            params,
        })
    }
}

/// Reads the fields of a verified handle.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Status> {
        if self.bytes.len() < n {
            return Err(unknown());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Status> {
        self.take(N)?.try_into().map_err(|_| unknown())
    }

    fn text(&mut self, n: usize) -> Result<String, Status> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| unknown())
    }
}

fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, Status> {
    ipc_batch::encode_batch(batch)
        .map_err(|e| Status::internal(format!("encoding the bound parameters into a handle: {e}")))
}

fn decode_batch(bytes: &[u8]) -> Result<RecordBatch, Status> {
    ipc_batch::decode_batch(bytes)
        .map_err(|e| Status::internal(format!("decoding the parameters a handle carries: {e}")))
}

fn unknown() -> Status {
    Status::not_found(
        "unknown prepared statement handle (closed, or not issued by this gateway's keys)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    const SECRET: &[u8] = b"a shared secret of at least thirty-two bytes";

    fn params(n: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("p", DataType::Int64, true)]));
        let values: Int64Array = (0..n as i64).map(Some).collect();
        RecordBatch::try_new(schema, vec![Arc::new(values)]).expect("batch")
    }

    #[test]
    fn a_handle_is_redeemed_by_another_replica_with_the_same_keys_and_its_binding() {
        let a = PreparedStatements::new(Signer::from_secret(SECRET).expect("keys"), 4);
        let b = PreparedStatements::new(Signer::from_secret(SECRET).expect("keys"), 4);
        let handle = a
            .encode("ann", "SELECT $1", Some(&params(3)))
            .expect("handle");
        match b.get(&handle, "ann").expect("redeemed") {
            Lookup::Unknown { sql, params } => {
                assert_eq!(sql, "SELECT $1");
                assert_eq!(params.expect("bound").num_rows(), 3);
            }
            Lookup::Known(_) => panic!("b never described it"),
        }
        let status = b.get(&handle, "bob").expect_err("another user");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        b.close(&handle, "ann").expect("close");
        assert_eq!(
            b.get(&handle, "ann").expect_err("closed").code(),
            tonic::Code::NotFound
        );
    }

    #[test]
    fn forged_truncated_or_foreign_handles_are_unknown() {
        let a = PreparedStatements::new(Signer::from_secret(SECRET).expect("keys"), 4);
        let other = PreparedStatements::new(Signer::random(), 4);
        let mut handle = a.encode("ann", "SELECT $1", None).expect("handle");
        assert_eq!(
            other.get(&handle, "ann").expect_err("foreign").code(),
            tonic::Code::NotFound
        );
        for cut in [0, 1, 16, handle.len() - 1] {
            assert_eq!(
                a.get(&handle[..cut], "ann").expect_err("truncated").code(),
                tonic::Code::NotFound
            );
        }
        handle[12] ^= 1;
        assert_eq!(
            a.get(&handle, "ann").expect_err("forged").code(),
            tonic::Code::NotFound
        );
    }

    #[test]
    fn large_bindings_stay_local_and_another_replica_says_to_bind_again() {
        let a = PreparedStatements::new(Signer::from_secret(SECRET).expect("keys"), 4);
        let big = params(MAX_INLINE_PARAMS);
        let handle = a.encode("ann", "SELECT $1", Some(&big)).expect("handle");
        assert!(handle.len() < 1024, "the binding stays out of the handle");
        let status = a.get(&handle, "ann").expect_err("held elsewhere");
        assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status}");
    }
}
