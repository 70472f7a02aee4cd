//! Grants, row filters, masks and policy files, as each demo user meets them.

mod audit_trail;
mod policy_files;
mod security;
