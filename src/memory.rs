//! Giving memory back to the operating system.
//!
//! Passivating thousands of actors frees their memory to the allocator, but glibc's malloc
//! keeps freed pages mapped, so the process's RSS would not shrink. `malloc_trim` returns
//! free pages (from the middle of arenas too, since glibc 2.8). Elsewhere this is a no-op.

/// Returns freed heap pages to the OS where the allocator supports it.
pub fn release_freed() {
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
