//! SwiGLU's gating, `silu(gate) * up`, and its gradient in one pass each.
//!
//! Through Burn's ops this is a sigmoid, two multiplications and, in backward, the sigmoid
//! again plus four more element passes, each allocating an `[B, T, intermediate]` tensor.

use rayon::prelude::*;

use super::exp::sigmoid;
use super::vectorized;

/// Elements per rayon task: big enough to amortise a task, small enough to split a layer.
const CHUNK: usize = 16 * 1024;

vectorized! {
    fn forward_chunk(gate: &[f32], up: &[f32], out: &mut [f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    }
}

vectorized! {
    fn backward_chunk(gate: &[f32], up: &[f32], d_out: &[f32], d_gate: &mut [f32], d_up: &mut [f32]) {
        for ((((dg, du), &g), &u), &d) in d_gate.iter_mut().zip(d_up.iter_mut()).zip(gate).zip(up).zip(d_out) {
            let s = sigmoid(g);
            let silu = g * s;
            *du = d * silu;
            // d silu / dg = s + g s (1 - s)
            *dg = d * u * (s + silu * (1.0 - s));
        }
    }
}

/// `out = silu(gate) * up`, elementwise.
pub fn forward(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(gate.len() == up.len() && up.len() == out.len(), "swiglu: operands differ in length");
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(o, (g, u))| forward_chunk(g, u, o));
}

/// Gradients of `silu(gate) * up` with respect to `gate` and `up`, given the output's.
pub fn backward(gate: &[f32], up: &[f32], d_out: &[f32], d_gate: &mut [f32], d_up: &mut [f32]) {
    let n = gate.len();
    assert!(up.len() == n && d_out.len() == n && d_gate.len() == n && d_up.len() == n, "swiglu: operands differ in length");
    d_gate
        .par_chunks_mut(CHUNK)
        .zip(d_up.par_chunks_mut(CHUNK))
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)).zip(d_out.par_chunks(CHUNK)))
        .for_each(|((dg, du), ((g, u), d))| backward_chunk(g, u, d, dg, du));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_by_hand() {
        // silu(1) = 1 / (1 + e^-1) = 0.731059; silu(-2) = -2 * 0.119203 = -0.238406; silu(0) = 0.
        let mut out = [0.0; 3];
        forward(&[1.0, -2.0, 0.0], &[2.0, 1.0, 5.0], &mut out);
        let want = [1.462_117_2, -0.238_405_84, 0.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let gate: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.37).sin() * 6.0).collect();
        let up: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.11).cos() * 2.0).collect();
        let d_out: Vec<f32> = (0..40_000).map(|i| 1.0 + (i % 3) as f32).collect();
        let (mut dg, mut du) = (vec![0.0; 40_000], vec![0.0; 40_000]);
        backward(&gate, &up, &d_out, &mut dg, &mut du);
        let f = |g: f64, u: f64| g / (1.0 + (-g).exp()) * u;
        for i in (0..40_000).step_by(997) {
            let (g, u, d, h) = (gate[i] as f64, up[i] as f64, d_out[i] as f64, 1e-4);
            let want_g = d * (f(g + h, u) - f(g - h, u)) / (2.0 * h);
            let want_u = d * (f(g, u + h) - f(g, u - h)) / (2.0 * h);
            assert!((dg[i] as f64 - want_g).abs() < 1e-4 * (1.0 + want_g.abs()), "d_gate[{i}] {} vs {want_g}", dg[i]);
            assert!((du[i] as f64 - want_u).abs() < 1e-4 * (1.0 + want_u.abs()), "d_up[{i}] {} vs {want_u}", du[i]);
        }
    }
}
