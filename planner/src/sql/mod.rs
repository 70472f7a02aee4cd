//! SQL text before planning: splitting and parsing, placeholders, output names, time
//! travel clauses.

pub(crate) mod explain_cost;
pub(crate) mod parse;
pub(crate) mod placeholders;
pub(crate) mod time_travel;
