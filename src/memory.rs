//! Giving memory back to the operating system.
//!
//! Passivating thousands of actors frees their memory to the allocator, but glibc's malloc
//! keeps freed pages mapped, so the process's RSS would not shrink. `malloc_trim` returns
//! free pages (from the middle of arenas too, since glibc 2.8). The `trolley` binary runs on
//! mimalloc (see `main.rs`), which purges freed pages by itself after a short delay;
//! `mi_collect` asks it to do so now. Whichever allocator is not in use ignores its call.

/// Returns freed heap pages to the OS where the allocator supports it.
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
