//! The one integration-test binary: real gateways on port 0, real clients.

mod admin_metrics;
mod budgets;
mod clients;
mod concurrency;
mod flight_metadata;
mod flight_sql;
mod freshness;
mod history;
mod metering;
mod pg_auth;
mod pg_catalog;
mod pg_catalog_clients;
mod pg_copy;
mod pg_cursors;
mod pg_errors;
mod pg_load;
mod pg_queries;
mod pg_robustness;
mod pg_tls_auth;
mod pg_type_mapping;
mod pg_types;
mod policy_files;
mod psql;
mod scratch;
mod security;
mod tpch;
