//! The one integration-test binary: real gateways on port 0, real clients. Grouped by
//! what they test; SQL whose only job is "this statement gives these rows" lives in
//! `tests/slt/` instead.

mod answers;
mod catalogs;
mod clients;
mod finops;
mod flight;
mod governance;
mod identity;
mod pg;
mod scale_out;
