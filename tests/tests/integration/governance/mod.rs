//! Grants, row filters, masks and policy files, as each demo user meets them.

mod policy_files;
mod security;
