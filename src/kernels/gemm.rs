//! A strided f32 matrix product over the `gemm` crate (the kernels flex itself uses):
//! [`matmul`] on the calling thread (the attention kernels parallelise over heads themselves)
//! and [`par_matmul`], which splits the output between rayon's threads (the linear layers).

/// A read-only matrix view: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl View {
    /// Row-major rows of `row_stride` elements starting at `slice[offset]`.
    pub fn rows(slice: &[f32], offset: usize, row_stride: usize) -> Self {
        Self { ptr: slice[offset..].as_ptr(), rs: row_stride as isize, cs: 1 }
    }

    /// The transpose of [`View::rows`].
    pub fn rows_t(slice: &[f32], offset: usize, row_stride: usize) -> Self {
        Self { ptr: slice[offset..].as_ptr(), rs: 1, cs: row_stride as isize }
    }
}

/// A writable matrix view: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct ViewMut {
    pub ptr: *mut f32,
    pub rs: isize,
    pub cs: isize,
}

/// `dst = alpha * lhs[m, k] rhs[k, n]`, or `dst += ...` when `accumulate`.
///
/// # Safety
/// The views must address `m x k`, `k x n` and `m x n` valid elements, `dst` must not overlap
/// the inputs, and no other thread may touch `dst` meanwhile.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul(m: usize, n: usize, k: usize, dst: ViewMut, accumulate: bool, lhs: View, rhs: View, alpha: f32) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m, n, k, dst.ptr, dst.cs, dst.rs, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs, 1.0, alpha,
            false, false, false, gemm::Parallelism::None,
        )
    }
}

// SAFETY: the views are plain addresses; `par_matmul` hands each task a disjoint block of
// `dst` and only reads through `lhs` and `rhs`.
unsafe impl Send for View {}
unsafe impl Sync for View {}
unsafe impl Send for ViewMut {}
unsafe impl Sync for ViewMut {}

impl View {
    /// The view `row` rows and `col` columns on.
    unsafe fn at(self, row: usize, col: usize) -> Self {
        // SAFETY: forwarded from the caller (the element exists).
        Self { ptr: unsafe { self.ptr.offset(row as isize * self.rs + col as isize * self.cs) }, ..self }
    }
}

impl ViewMut {
    unsafe fn at(self, row: usize, col: usize) -> Self {
        // SAFETY: forwarded from the caller (the element exists).
        Self { ptr: unsafe { self.ptr.offset(row as isize * self.rs + col as isize * self.cs) }, ..self }
    }
}

/// Multiply-adds below which a product stays on one thread: handing work to rayon costs a few
/// microseconds, about what 2^18 multiply-adds take.
const PARALLEL_MIN: usize = 1 << 18;

/// Rows or columns per block are a multiple of this (the micro-kernel's tile side), so no
/// block but the last ends in a partial tile.
const TILE: usize = 16;

/// [`matmul`] with the output split into blocks of rows (or of columns, when it is wider than
/// tall), one per rayon thread. Unlike flex's own matmul, which leaves products under 192^3
/// multiply-adds on one thread (a LoRA product `[1024, 256] x [256, 16]` is 4.2 M), it splits
/// anything from [`PARALLEL_MIN`] on, and the blocks need no reduction.
///
/// # Safety
/// As [`matmul`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn par_matmul(m: usize, n: usize, k: usize, dst: ViewMut, accumulate: bool, lhs: View, rhs: View, alpha: f32) {
    let work = m.saturating_mul(n).saturating_mul(k);
    let by_rows = m >= n;
    let side = if by_rows { m } else { n };
    let parts = rayon::current_num_threads().min(work / PARALLEL_MIN).min(side.div_ceil(TILE));
    if parts <= 1 {
        // SAFETY: forwarded from the caller.
        return unsafe { matmul(m, n, k, dst, accumulate, lhs, rhs, alpha) };
    }
    let block = side.div_ceil(parts).next_multiple_of(TILE);
    use rayon::prelude::*;
    (0..side.div_ceil(block)).into_par_iter().for_each(|i| {
        let (start, len) = (i * block, block.min(side - i * block));
        // SAFETY: block `i` covers rows (or columns) `start..start + len` of `dst` and the
        // matching rows of `lhs` (or columns of `rhs`): in bounds, and disjoint across tasks.
        unsafe {
            if by_rows {
                matmul(len, n, k, dst.at(start, 0), accumulate, lhs.at(start, 0), rhs, alpha)
            } else {
                matmul(m, len, k, dst.at(0, start), accumulate, lhs, rhs.at(0, start), alpha)
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_products_by_hand() {
        // a = [[1, 2], [3, 4]] row-major; b = [[5, 6], [7, 8]].
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let mut c = [0.0f32; 4];
        let dst = ViewMut { ptr: c.as_mut_ptr(), rs: 2, cs: 1 };
        unsafe { matmul(2, 2, 2, dst, false, View::rows(&a, 0, 2), View::rows(&b, 0, 2), 1.0) };
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // c += 2 * a^T b = 2 * [[26, 30], [38, 44]]
        unsafe { matmul(2, 2, 2, dst, true, View::rows_t(&a, 0, 2), View::rows(&b, 0, 2), 2.0) };
        assert_eq!(c, [71.0, 82.0, 119.0, 138.0]);
    }

    /// A naive f64 triple loop: `alpha * lhs rhs (+ dst)`, lhs `[m, k]` and rhs `[k, n]` row-major.
    fn naive(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32], dst: &[f32], alpha: f32) -> Vec<f32> {
        (0..m * n)
            .map(|e| {
                let (i, j) = (e / n, e % n);
                let dot: f64 = (0..k).map(|p| lhs[i * k + p] as f64 * rhs[p * n + j] as f64).sum();
                (dst[e] as f64 + alpha as f64 * dot) as f32
            })
            .collect()
    }

    #[test]
    fn split_products_equal_a_naive_loop() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        // Tall (three row blocks, the last partial), wide (three column blocks) and one under
        // the parallel threshold; a transposed rhs view in the wide case.
        for (m, n, k) in [(300, 40, 70), (24, 500, 70), (5, 7, 3)] {
            let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let rhs_t: Vec<f32> = (0..n * k).map(|e| rhs[(e % k) * n + e / k]).collect(); // [n, k]
            let start: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
            for accumulate in [false, true] {
                let mut c = start.clone();
                let dst = ViewMut { ptr: c.as_mut_ptr(), rs: n as isize, cs: 1 };
                let rhs_view = if n > m { View::rows_t(&rhs_t, 0, k) } else { View::rows(&rhs, 0, n) };
                pool.install(|| unsafe { par_matmul(m, n, k, dst, accumulate, View::rows(&lhs, 0, k), rhs_view, 0.5) });
                let base = if accumulate { start.clone() } else { vec![0.0; m * n] };
                let want = naive(m, n, k, &lhs, &rhs, &base, 0.5);
                for (got, want) in c.iter().zip(&want) {
                    assert!((got - want).abs() < 1e-4, "{m}x{n}x{k} accumulate={accumulate}: {got} vs {want}");
                }
            }
        }
    }
}
