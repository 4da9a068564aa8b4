//! Giving memory back to the operating system.
//!
//! Passivating thousands of actors frees their memory to the allocator, but glibc's malloc
//! keeps freed pages mapped, so the process's RSS would not shrink. `malloc_trim` returns
//! free pages (from the middle of arenas too, since glibc 2.8). The `trolley` binary runs on
//! mimalloc (see `main.rs`), which purges freed pages by itself after a short delay;
//! `mi_collect` asks it to do so now. Whichever allocator is not in use ignores its call.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped by [`request_release`]; each thread releases once per bump it has not seen.
static REQUESTED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The last request this thread has acted on.
    static SEEN: Cell<u64> = const { Cell::new(0) };
}

/// Asks every thread to return its freed pages: this one now, the runtime's workers when they
/// next go idle ([`release_if_requested`], the binary's park hook). mimalloc keeps freed pages
/// per thread and `mi_collect` reaches only the caller's heap, so collecting on the one thread
/// that swept the passivated actors returned whatever happened to be freed there: sometimes
/// most of it, sometimes almost none (tests/process.rs's passivation test, flaky under load).
pub fn request_release() {
    REQUESTED.fetch_add(1, Ordering::Relaxed);
    release_if_requested();
}

/// Returns this thread's freed pages if a release was requested since it last did; a relaxed
/// load otherwise, cheap enough for every time a worker parks.
pub fn release_if_requested() {
    let requested = REQUESTED.load(Ordering::Relaxed);
    if SEEN.get() != requested {
        SEEN.set(requested);
        release_freed();
    }
}

/// Returns freed heap pages to the OS where the allocator supports it (this thread's heap).
pub fn release_freed() {
    // SAFETY: mi_collect takes no pointers; it frees what the calling thread's heap no
    // longer uses and may be called from any thread at any time.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim takes no pointers and only adjusts the allocator's own state;
        // glibc makes it safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}
