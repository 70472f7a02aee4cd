//! Backtraces of library errors, off unless asked for. iceberg-rust builds errors in
//! its normal flow (planning a scan checks every column name against its metadata
//! columns, and each miss is an `Error`); with `RUST_BACKTRACE=1`, common in
//! containers, each of them walked the stack: 5% of a point query's CPU. Panics keep
//! their backtraces (`RUST_BACKTRACE` still governs those); `RUST_LIB_BACKTRACE=1`
//! turns error backtraces back on.

/// Turns error backtraces off unless `RUST_LIB_BACKTRACE` is set. Call first thing in
/// `main`, before any other thread starts.
#[allow(unsafe_code)]
pub fn error_backtraces_off() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called before any other thread exists, so nothing reads the
        // environment while it changes.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}
