//! Grants, row filters, masks and policy files, as each demo user meets them.

mod audit_trail;
mod lookup_filters;
mod policy_files;
mod security;
mod tags;
