//! Reductions written with eight independent accumulators. A plain `fold` over f32 is a strict
//! left-to-right sum the compiler may not reorder, so it never vectorises; eight lanes map onto
//! one AVX2 register. (The result differs from a sequential sum by rounding only.)

const LANES: usize = 8;

/// The sum of `xs`.
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The dot product of `a` and `b` (over the shorter length).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest element of `xs` (-inf when empty; NaNs are skipped, as `f32::max` does).
#[inline(always)]
pub fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = a.max(x);
        }
    }
    acc.iter().fold(tail, |m, &x| m.max(x))
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_hand() {
        let xs: Vec<f32> = (1..=19).map(|i| i as f32).collect();
        assert_eq!(super::sum(&xs), 190.0);
        assert_eq!(super::max(&xs), 19.0);
        assert_eq!(super::dot(&xs, &xs), 2470.0);
        assert_eq!(super::max(&[]), f32::NEG_INFINITY);
        assert_eq!(super::sum(&[]), 0.0);
    }
}
