//! Rotary position embedding on the projections' `[tokens, heads, head_dim]` layout, and its
//! gradient, in one pass each.
//!
//! HF's formula `x * cos + rotate_half(x) * sin` costs Burn two slices, a negation, a
//! concatenation (or a matrix product with a signed permutation), two products and a sum, each
//! a full pass with its own allocation, and as many again in backward; the tables had to be
//! repeated per head so the products would not broadcast. Here one table row serves all the
//! heads of its token.

use rayon::prelude::*;

use super::vectorized;

/// Tokens per rayon task.
const TOKENS: usize = 64;

vectorized! {
    /// `out = x * cos + rotate_half(x) * sin` for the heads of `tokens` tokens, each token's
    /// table row `[cos | sin]` of `head_dim` values; with `transpose` the rotation's
    /// transpose (backward: `rotate_half^T(z) = cat(z2, -z1)`).
    fn rotate_chunk(x: &[f32], cos: &[f32], sin: &[f32], head_dim: usize, transpose: bool, out: &mut [f32]) {
        let half = head_dim / 2;
        let tokens = cos.len() / head_dim;
        let per_token = x.len() / tokens.max(1);
        for t in 0..tokens {
            let (c, s) = (&cos[t * head_dim..(t + 1) * head_dim], &sin[t * head_dim..(t + 1) * head_dim]);
            let xs = x[t * per_token..(t + 1) * per_token].chunks_exact(head_dim);
            let os = out[t * per_token..(t + 1) * per_token].chunks_exact_mut(head_dim);
            for (xh, oh) in xs.zip(os) {
                let (x1, x2) = xh.split_at(half);
                let (o1, o2) = oh.split_at_mut(half);
                if transpose {
                    // d x1 = dy1 cos1 + dy2 sin2;  d x2 = dy2 cos2 - dy1 sin1
                    for j in 0..half {
                        o1[j] = x1[j] * c[j] + x2[j] * s[half + j];
                        o2[j] = x2[j] * c[half + j] - x1[j] * s[j];
                    }
                } else {
                    // y1 = x1 cos1 - x2 sin1;  y2 = x2 cos2 + x1 sin2
                    for j in 0..half {
                        o1[j] = x1[j] * c[j] - x2[j] * s[j];
                        o2[j] = x2[j] * c[half + j] + x1[j] * s[half + j];
                    }
                }
            }
        }
    }
}

fn run(x: &[f32], cos: &[f32], sin: &[f32], head_dim: usize, transpose: bool, out: &mut [f32]) {
    let tokens = cos.len() / head_dim.max(1);
    assert!(head_dim % 2 == 0 && sin.len() == cos.len() && tokens * head_dim == cos.len(), "rope: tables are [tokens, head_dim]");
    assert!(out.len() == x.len() && tokens > 0 && x.len() % (tokens * head_dim) == 0, "rope: x is [tokens, heads, head_dim]");
    let per_token = x.len() / tokens;
    out.par_chunks_mut(TOKENS * per_token)
        .zip(x.par_chunks(TOKENS * per_token))
        .zip(cos.par_chunks(TOKENS * head_dim).zip(sin.par_chunks(TOKENS * head_dim)))
        .for_each(|((o, x), (c, s))| rotate_chunk(x, c, s, head_dim, transpose, o));
}

/// `out = x * cos + rotate_half(x) * sin`, with `x` `[tokens, heads, head_dim]` and the tables
/// `[tokens, head_dim]` (HF's `cat(freqs, freqs)` layout).
pub fn forward(x: &[f32], cos: &[f32], sin: &[f32], head_dim: usize, out: &mut [f32]) {
    run(x, cos, sin, head_dim, false, out)
}

/// The gradient with respect to `x` given the output's (the rotation is linear in `x`).
pub fn backward(d_out: &[f32], cos: &[f32], sin: &[f32], head_dim: usize, d_x: &mut [f32]) {
    run(d_out, cos, sin, head_dim, true, d_x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_by_hand() {
        // One token, two heads of dim 2: y1 = x1 c1 - x2 s1, y2 = x2 c2 + x1 s2.
        let (cos, sin) = ([0.5, 0.25], [2.0, 4.0]);
        let x = [1.0, 3.0, -2.0, 1.0];
        let mut out = [0.0; 4];
        forward(&x, &cos, &sin, 2, &mut out);
        assert_eq!(out, [1.0 * 0.5 - 3.0 * 2.0, 3.0 * 0.25 + 1.0 * 4.0, -2.0 * 0.5 - 1.0 * 2.0, 1.0 * 0.25 - 2.0 * 4.0]);
    }

    #[test]
    fn backward_is_the_transpose() {
        // <rope(x), d> = <x, rope^T(d)> for any x and d: the gradient of a linear map.
        let (tokens, heads, dh) = (70, 3, 8);
        let angle = |i: usize| (i as f32 * 0.37).sin();
        let cos: Vec<f32> = (0..tokens * dh).map(|i| angle(i).cos()).collect();
        let sin: Vec<f32> = (0..tokens * dh).map(|i| angle(i).sin()).collect();
        let x: Vec<f32> = (0..tokens * heads * dh).map(|i| (i as f32 * 0.71).cos()).collect();
        let d: Vec<f32> = (0..tokens * heads * dh).map(|i| (i as f32 * 1.3).sin()).collect();
        let (mut y, mut g) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        forward(&x, &cos, &sin, dh, &mut y);
        backward(&d, &cos, &sin, dh, &mut g);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
        assert!((dot(&y, &d) - dot(&x, &g)).abs() < 1e-3, "{} vs {}", dot(&y, &d), dot(&x, &g));
        // And each output equals the formula on a naive rotate_half.
        for (e, got) in y.iter().enumerate() {
            let (t, j) = (e / (heads * dh), e % dh);
            let rot = if j < dh / 2 { -x[e + dh / 2] } else { x[e - dh / 2] };
            let want = x[e] * cos[t * dh + j] + rot * sin[t * dh + j];
            assert!((got - want).abs() < 1e-6, "[{e}] {got} vs {want}");
        }
    }
}
