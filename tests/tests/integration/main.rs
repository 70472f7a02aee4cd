//! The one integration-test binary: real gateways on port 0, real clients. Grouped by
//! what they test; SQL whose only job is "this statement gives these rows" lives in
//! `tests/slt/` instead (run by the `slt` module). Tests that read process-wide state
//! (resident memory, metadata cache counters) have binaries of their own; everything
//! else belongs here, since each test binary links the whole engine (about 440 MB in the
//! dev profile) and CI's disk is finite.

mod answers;
mod catalogs;
mod clients;
mod differential;
mod finops;
mod flight;
mod governance;
mod identity;
mod pg;
mod protocol_fuzz;
mod scale_out;
mod slt;
mod sql_fuzz;
