//! The Postgres wire front door: authentication and TLS, queries, COPY, cursors, errors, types, pg_catalog, and real drivers' catalog queries.

mod auth;
mod catalog;
mod catalog_clients;
mod compat;
mod conformance;
mod copy;
mod cursors;
mod errors;
mod limits;
mod load;
mod psql;
mod queries;
mod robustness;
mod tls_auth;
mod type_mapping;
mod types;
