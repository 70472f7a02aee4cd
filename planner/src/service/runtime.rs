//! The runtime every query shares: the memory pool all queries reserve from (fair and
//! spilling, `[query] memory_limit`), the disk manager their spills go to (`spill_dir`,
//! capped at `spill_max_bytes`), the footer cache, and the files catalogs' stores.

use std::sync::Arc;

use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, UnboundedMemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use lakegate_catalog::metadata_cache::CountedFooterCache;

use crate::config::{MemoryLimits, PlannerConfig};
use crate::{ErrorKind, QueryError, Result};

/// The shared runtime for `config`, its stores registered.
pub(super) fn shared_runtime(
    config: &PlannerConfig,
    footers: Arc<CountedFooterCache>,
    stores: Vec<(url::Url, Arc<dyn object_store::ObjectStore>)>,
) -> Result<Arc<RuntimeEnv>> {
    runtime_with(&config.memory, config.metadata_cache_mb, footers, stores)
}

/// The runtime a distributed worker runs stages in: the same memory pool, spilling and
/// footer cache as a gateway's, sized by the same `[query]` settings.
pub fn worker_runtime(
    limits: &MemoryLimits,
    metadata_cache_mb: u64,
    stores: Vec<(url::Url, Arc<dyn object_store::ObjectStore>)>,
) -> Result<Arc<RuntimeEnv>> {
    let footers = CountedFooterCache::new(metadata_cache_mb);
    runtime_with(limits, metadata_cache_mb, footers, stores)
}

fn runtime_with(
    limits: &MemoryLimits,
    metadata_cache_mb: u64,
    footers: Arc<CountedFooterCache>,
    stores: Vec<(url::Url, Arc<dyn object_store::ObjectStore>)>,
) -> Result<Arc<RuntimeEnv>> {
    let pool: Arc<dyn MemoryPool> = match limits.memory_limit {
        usize::MAX => Arc::new(UnboundedMemoryPool::default()),
        limit => Arc::new(FairSpillPool::new(limit)),
    };
    let spill = match &limits.spill_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                QueryError::new(
                    ErrorKind::Internal,
                    format!("cannot create the spill directory {}: {e}", dir.display()),
                )
            })?;
            DiskManagerMode::Directories(vec![dir.clone()])
        }
        None => DiskManagerMode::OsTmpDirectory,
    };
    let runtime = RuntimeEnvBuilder::new()
        // No listing cache: files added to a files catalog are read by the next
        // statement, as Iceberg snapshots are.
        .with_cache_manager(
            CacheManagerConfig::default()
                .with_list_files_cache_limit(0)
                .with_file_metadata_cache(Some(footers))
                .with_metadata_cache_limit(
                    usize::try_from(metadata_cache_mb.saturating_mul(1 << 20))
                        .unwrap_or(usize::MAX),
                ),
        )
        .with_memory_pool(pool)
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(spill)
                .with_max_temp_directory_size(limits.spill_max_bytes),
        )
        .build_arc()
        .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))?;
    // The files catalogs' stores (S3 buckets), for planning and for queries run
    // without metering.
    for (url, store) in stores {
        runtime.register_object_store(&url, store);
    }
    Ok(runtime)
}
