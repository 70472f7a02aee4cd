//! The values of small row-filter lookups (see `lookup_values`), kept engine-wide by
//! the digest of the secured subquery plan, the versions of the tables it reads and the
//! engine options: `None` for a lookup with too many values for a list.

use std::sync::Arc;
use std::time::Duration;

use datafusion::common::ScalarValue;
use moka::sync::Cache;

/// Values kept at most, over all entries.
const MAX_KEPT_VALUES: u64 = 1_000_000;

/// An entry not used for this long is dropped.
const IDLE: Duration = Duration::from_secs(3600);

/// What a lookup's subquery read, by the key of its secured plan and data: its
/// values, or `None` when it had more than a list takes.
#[derive(Clone)]
pub(crate) struct LookupValues(Cache<[u8; 32], Arc<Option<Vec<ScalarValue>>>>);

impl std::fmt::Debug for LookupValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupValues")
            .field("entries", &self.0.entry_count())
            .finish()
    }
}

impl Default for LookupValues {
    fn default() -> Self {
        Self(
            Cache::builder()
                .weigher(|_, values: &Arc<Option<Vec<ScalarValue>>>| {
                    values
                        .as_ref()
                        .as_ref()
                        .map_or(1, |v| u32::try_from(v.len().max(1)).unwrap_or(u32::MAX))
                })
                .max_capacity(MAX_KEPT_VALUES)
                .time_to_idle(IDLE)
                .build(),
        )
    }
}

impl LookupValues {
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<Option<Vec<ScalarValue>>>> {
        self.0.get(key)
    }

    pub(crate) fn insert(&self, key: [u8; 32], values: Arc<Option<Vec<ScalarValue>>>) {
        self.0.insert(key, values);
    }
}
