//! Counts the panics of a test process (the gateway runs in the test's runtime), but not
//! those of the tests' own threads, whose failed assertions are not the server's panics.
//! libtest names each test's thread after the test's path, and every test of the
//! integration binary lives in a module, so a thread whose name holds `::` is a test's.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Installs the counting hook once; the tests' own threads (named `module::test`) are
/// not counted.
pub fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let test_thread = thread.name().is_some_and(|name| name.contains("::"));
            if !test_thread {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            // No backtrace: symbolising one stalls a runtime worker.
            default_hook(info);
        }));
    });
}

/// Panics counted so far.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}
