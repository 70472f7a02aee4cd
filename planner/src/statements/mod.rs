//! Statements answered without a query plan of their own, or around one: session
//! commands, transactions, COPY, CALL, writes.

pub(crate) mod copy;
pub(crate) mod optimize;
pub(crate) mod plan_slot;
pub(crate) mod prepared;
pub(crate) mod procedures;
pub(crate) mod session_commands;
pub(crate) mod transaction;
pub(crate) mod writes;
