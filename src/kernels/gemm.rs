//! A strided f32 matrix product over the `gemm` crate (the kernels flex itself uses), single
//! threaded: the fused kernels parallelise over heads or rows themselves.

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
}
