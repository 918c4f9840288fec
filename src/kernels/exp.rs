//! `e^x` on f32 slices, vectorisable: Cody-Waite range reduction plus a degree-6 polynomial.
//!
//! libm's `expf` is a scalar call (about 5 ns per element through Burn's unary ops); this is
//! branch-free arithmetic that the compiler turns into 8-lane AVX2 code inside
//! [`vectorized!`](super::vectorized) kernels. Relative error stays below 3e-7, about 2 ulp (checked
//! against `f32::exp` over the whole finite range in the tests).

use std::f32::consts::LOG2_E;

/// `ln 2` split so that `n * LN2_HI` is exact for the `n` that occur (|n| <= 128).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Below this `e^x` is under f32's smallest normal: the result is flushed to 0.
const MIN_ARG: f32 = -87.336_55;
/// Above this the result is +inf. (True overflow is at 88.72; keeping `n <= 127` avoids
/// building `2^128`, and no caller exponentiates anything that large: softmax arguments are <= 0.)
const MAX_ARG: f32 = 88.376_26;

/// `e^x`; 0 below -87.3 (and for -inf), +inf above 88.37, NaN for NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let clamped = x.clamp(MIN_ARG, MAX_ARG);
    let n = (clamped * LOG2_E).round_ties_even();
    // r in [-ln2/2, ln2/2]: the Taylor polynomial's truncation error is below 1.3e-7 there.
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n built from its exponent bits; n + 127 is in [1, 254] after the clamp.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let y = p * scale;
    if x < MIN_ARG {
        0.0
    } else if x > MAX_ARG {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libm_over_the_finite_range() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.3 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn hand_values_and_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert!((exp(1.0) - std::f32::consts::E).abs() < 1e-6);
        assert!((exp(-1.0) - 0.367_879_44).abs() < 1e-7);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert!((sigmoid(2.0) - 0.880_797_1).abs() < 1e-6);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
