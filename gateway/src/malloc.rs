//! The allocator tunable the gateway sets at start-up: a cap on glibc's malloc arenas.
//!
//! glibc gives threads that allocate concurrently arenas of their own and keeps freed
//! memory in the arena it came from. Query results are allocated on the execution
//! threads and freed on the connection threads, so with one arena per thread the freed
//! batches fragment arenas and the process grows: streaming lineitem at SF 0.1 (64 MB
//! of rows) grew the server by 31 MB with the default arenas and by 6–15 MB with two
//! (`gateway/tests/process.rs`). An explicit `MALLOC_ARENA_MAX` in the environment wins.

/// Caps the number of malloc arenas at `arenas`, unless `MALLOC_ARENA_MAX` is set.
/// Call before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn cap_arenas(arenas: usize) {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    let arenas = i32::try_from(arenas.max(1)).unwrap_or(i32::MAX);
    // SAFETY: mallopt sets an allocator tunable and takes plain integers; it is called
    // once, from main, before the runtimes start their threads.
    unsafe {
        mallopt(M_ARENA_MAX, arenas);
    }
}

/// Other platforms' allocators need no tunable.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn cap_arenas(_arenas: usize) {}
