//! glibc allocator settings for training loops, applied by the binaries (`recfound` at start-up,
//! and the training benches); the library never calls this on its own.
//!
//! Every step allocates and frees the same multi-MiB activations (an RQ-VAE's [1024, 768] f32 is
//! 3 MiB; a decoder step's [8, 256, 688] MLP activation 5.6 MiB).
//! glibc hands blocks that large back to the kernel on free, so each step page-faults and zeroes
//! them again: `perf` put 14.5 % of a step in the kernel (`exc_page_fault`, `clear_page_erms`).
//! Raising the mmap threshold to glibc's maximum (32 MiB) and the trim threshold to 1 GiB keeps
//! freed memory in the heap for reuse: 4.4 % in the kernel, the same peak RSS.

/// Keeps freed blocks up to 32 MiB in the process heap (glibc on Linux; elsewhere a no-op).
/// Returns whether the allocator took the settings.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::c_int;
        // glibc's malloc.h.
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        unsafe extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // SAFETY: mallopt only changes allocator tuning parameters; glibc serialises it with
        // allocations, and both values are in its documented ranges (it returns 0 otherwise).
        unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_settings() {
        assert!(super::retain_freed_memory());
    }
}
