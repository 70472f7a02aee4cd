//! Catalog types: Iceberg (writes, compaction, S3, other writers), Delta, files, PostgreSQL federation.

mod delta;
mod federation_postgres;
mod files;
mod freshness;
mod iceberg_compaction;
mod iceberg_s3;
mod iceberg_writes;
mod pyiceberg_interop;
pub(crate) mod scratch;
mod source_faults;
mod types;
