//! Right answers: TPC-H against DuckDB's, semantic queries against hand-written SQL, and
//! results from the results cache against those the query gave when it ran.

mod results_cache;
mod semantic;
mod tpch;
mod tpch_answers;
