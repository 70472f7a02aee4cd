//! Benchmarks live in `benches/`; this library is empty so the crate can host them.
