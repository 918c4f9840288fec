//! Host kernels: fused f32 CPU implementations of the decoder's steps that Burn's CPU backends
//! run as many small, scalar or strided passes (DESIGN.md §9, book: benchmarks).
//!
//! Everything here works on plain slices, knows nothing of Burn and is tested against
//! hand-computed values and naive loops. `backend::fused` decides when a tensor may take these
//! paths (f32 on the ndarray or flex backends) and wires them into autodiff.
//!
//! Why they exist: on 2 cores, a LoRA training step spent a third of its time outside GEMMs, in
//! scalar `expf` (SiLU, softmax, log-softmax: ~5 ns per element), strided copies of the head
//! axis (`swap_dims` + `reshape`: ~14 ns per element in flex's generic iterator) and in
//! recomputing activations during backward.

pub mod adamw;
pub mod attention;
pub mod exp;
pub mod gemm;
pub mod lanes;
pub mod mse;
pub mod rms_norm;
pub mod rope;
pub mod softmax;
pub mod sq_dist;
pub mod swiglu;
pub mod token_nll;

/// Defines `pub fn $name(args)` whose body is compiled three times: with AVX-512, with AVX2 + FMA
/// (each used when the CPU has them, detected at run time) and for the baseline target. Release
/// builds target plain x86-64 (SSE2), so without this the element loops would vectorise four
/// lanes wide and calls like `round_ties_even` would become library calls. The kernels never
/// fuse a multiply and an add on their own, so every variant gives the same bits.
macro_rules! vectorized {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") && has!("avx2") && has!("fma") {
                    // SAFETY: the CPU supports the features `avx512` was compiled with.
                    return unsafe { avx512($($arg),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU supports the features `avx2` was compiled with.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use vectorized;

/// `n` zeros, written by rayon's threads. Kernels' output buffers were `vec![0.0; n]`: a memset
/// on the calling thread (freed memory is kept, not returned to the kernel, so nothing arrives
/// zeroed) while the other cores waited; in a RecBase pretraining step that was a third of the
/// main thread's time alone.
pub fn zeroed(n: usize) -> Vec<f32> {
    const CHUNK: usize = 1 << 16;
    if n < 2 * CHUNK {
        return vec![0.0; n];
    }
    use rayon::prelude::*;
    let mut out = Vec::with_capacity(n);
    out.spare_capacity_mut()[..n].par_chunks_mut(CHUNK).for_each(|c| c.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: the first `n` elements were all written just above.
    unsafe { out.set_len(n) };
    out
}

/// A raw pointer that rayon tasks may share. Each task writes a region no other task touches;
/// the kernels that use it say which.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub *mut f32);
// SAFETY: only used for disjoint writes, documented at each use.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer `offset` elements on. (A method, so that closures capture the whole
    /// `SharedMut` rather than its raw-pointer field.)
    ///
    /// # Safety
    /// `offset` must stay inside the allocation.
    pub(crate) unsafe fn add(self, offset: usize) -> *mut f32 {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.add(offset) }
    }
}
