//! Right answers: TPC-H against DuckDB's, and semantic queries against hand-written SQL.

mod semantic;
mod tpch;
mod tpch_answers;
