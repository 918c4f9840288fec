//! TIES-Merging (Yadav et al. 2023) as RecFound §4.4 uses it over adapter checkpoints, on
//! flattened `f32` tensors: with deltas d_c = θ_c - θ_init, (1) trim each d_c to its top-density
//! magnitudes, (2) elect a sign per entry from the sum of trimmed deltas, (3) take the disjoint
//! mean of the non-zero trimmed deltas that agree with it, (4) θ = θ_init + λ · merged.
//! DESIGN.md §6: the TIES paper's order (the authors' script elects before trimming).

use super::MergeError;

/// Over which values "top density" is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrimScope {
    /// Each tensor keeps its own top share (mergekit's default and ours).
    PerTensor,
    /// One ranking over all tensors of a checkpoint (the TIES paper's task vector).
    Adapter,
}

/// TIES settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiesConfig {
    /// Share of each delta's entries kept by magnitude, in (0, 1] (official 0.8).
    pub density: f64,
    /// λ, the scale of the merged delta (official 1.0).
    pub lambda: f64,
    pub trim_scope: TrimScope,
}

impl TiesConfig {
    /// The authors' merge script: density 0.8, λ = 1, per-tensor trimming.
    pub fn official() -> Self {
        Self { density: 0.8, lambda: 1.0, trim_scope: TrimScope::PerTensor }
    }

    fn validate(&self) -> Result<(), MergeError> {
        if !(self.density > 0.0 && self.density <= 1.0) {
            return Err(MergeError::Config { field: "density", reason: format!("must be in (0, 1], got {}", self.density) });
        }
        if !self.lambda.is_finite() {
            return Err(MergeError::Config { field: "lambda", reason: format!("must be finite, got {}", self.lambda) });
        }
        Ok(())
    }
}

/// Which entries survive trimming: the `round(density · n)` largest magnitudes over all of
/// `deltas` (concatenated in order). Ties at the threshold go to the earlier entry, so exactly
/// that many survive and the result does not depend on sort stability.
fn keep_mask(deltas: &[&[f64]], density: f64) -> Vec<Vec<bool>> {
    let n: usize = deltas.iter().map(|d| d.len()).sum();
    let k = (density * n as f64).round() as usize;
    let mut entries: Vec<(usize, usize)> = deltas.iter().enumerate().flat_map(|(t, d)| (0..d.len()).map(move |i| (t, i))).collect();
    // Stable sort: equal magnitudes keep their (tensor, index) order.
    entries.sort_by(|&(ta, ia), &(tb, ib)| deltas[tb][ib].abs().total_cmp(&deltas[ta][ia].abs()));
    let mut mask: Vec<Vec<bool>> = deltas.iter().map(|d| vec![false; d.len()]).collect();
    for &(t, i) in entries.iter().take(k) {
        mask[t][i] = true;
    }
    mask
}

/// Step 1 on one tensor: `delta` with all but its `round(density · len)` largest magnitudes set
/// to 0 (ties at the threshold keep the earlier entry).
pub fn trim_to_density(delta: &[f32], density: f64) -> Vec<f32> {
    let wide: Vec<f64> = delta.iter().map(|&x| f64::from(x)).collect();
    let mask = keep_mask(&[&wide], density).remove(0);
    delta.iter().zip(mask).map(|(&x, keep)| if keep { x } else { 0.0 }).collect()
}

/// TIES over one tensor: `checkpoints[c]` is checkpoint c's values, `base` the initial ones.
pub fn merge_ties_tensor(base: &[f32], checkpoints: &[&[f32]], config: &TiesConfig) -> Result<Vec<f32>, MergeError> {
    let nested: Vec<Vec<&[f32]>> = checkpoints.iter().map(|c| vec![*c]).collect();
    Ok(merge_ties(&[base], &nested, config)?.remove(0))
}

/// TIES over an adapter: `base[t]` is tensor t of θ_init (flattened), `checkpoints[c][t]` the
/// same tensor of checkpoint c. Returns θ_init + λ · merged per tensor. Arithmetic is in f64.
///
/// Per entry, with trimmed deltas d̂_c: the elected sign is sign(Σ_c d̂_c); merged is the mean of
/// the d̂_c that are non-zero and of that sign. Where Σ_c d̂_c = 0 exactly there is no majority
/// and merged is 0 (mergekit would pick +); an all-zero delta takes part in no mean.
pub fn merge_ties(base: &[&[f32]], checkpoints: &[Vec<&[f32]>], config: &TiesConfig) -> Result<Vec<Vec<f32>>, MergeError> {
    config.validate()?;
    check_shapes(base, checkpoints)?;
    // deltas[c][t][i] = θ_c - θ_init.
    let deltas: Vec<Vec<Vec<f64>>> = checkpoints
        .iter()
        .map(|c| c.iter().zip(base).map(|(x, b)| x.iter().zip(*b).map(|(&x, &b)| f64::from(x) - f64::from(b)).collect()).collect())
        .collect();
    // Step 1: trim each checkpoint's delta.
    let trimmed: Vec<Vec<Vec<f64>>> = deltas
        .iter()
        .map(|d| {
            let views: Vec<&[f64]> = d.iter().map(Vec::as_slice).collect();
            let masks = match config.trim_scope {
                TrimScope::Adapter => keep_mask(&views, config.density),
                TrimScope::PerTensor => views.iter().map(|v| keep_mask(&[v], config.density).remove(0)).collect(),
            };
            d.iter().zip(masks).map(|(t, m)| t.iter().zip(m).map(|(&x, k)| if k { x } else { 0.0 }).collect()).collect()
        })
        .collect();
    // Steps 2-4 per entry.
    Ok(base
        .iter()
        .enumerate()
        .map(|(t, b)| {
            b.iter()
                .enumerate()
                .map(|(i, &theta)| {
                    let values = || trimmed.iter().map(|c| c[t][i]);
                    let sum: f64 = values().sum();
                    // sum != 0 implies at least one non-zero value of its sign, so count >= 1.
                    let (total, count) = values()
                        .filter(|&x| x != 0.0 && x.signum() == sum.signum())
                        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                    let merged = if sum == 0.0 { 0.0 } else { total / count as f64 };
                    (f64::from(theta) + config.lambda * merged) as f32
                })
                .collect()
        })
        .collect())
}

/// Same tensor count and lengths everywhere, all values finite.
fn check_shapes(base: &[&[f32]], checkpoints: &[Vec<&[f32]>]) -> Result<(), MergeError> {
    if checkpoints.is_empty() {
        return Err(MergeError::NoCheckpoints);
    }
    for (checkpoint, c) in checkpoints.iter().enumerate() {
        if c.len() != base.len() {
            return Err(MergeError::TensorCount { checkpoint, expected: base.len(), found: c.len() });
        }
        for (tensor, (x, b)) in c.iter().zip(base).enumerate() {
            if x.len() != b.len() {
                return Err(MergeError::TensorLength { tensor, checkpoint, expected: b.len(), found: x.len() });
            }
            if let Some(index) = x.iter().position(|v| !v.is_finite()) {
                return Err(MergeError::NotFinite { tensor, checkpoint, index });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(density: f64, lambda: f64) -> TiesConfig {
        TiesConfig { density, lambda, trim_scope: TrimScope::PerTensor }
    }

    #[test]
    fn trim_keeps_the_top_share_and_breaks_ties_by_index() {
        // round(0.5 · 4) = 2 of [3, -2, 2, 1]: 3, then -2 and 2 tie at the threshold -> the
        // earlier (-2) stays.
        assert_eq!(trim_to_density(&[3.0, -2.0, 2.0, 1.0], 0.5), vec![3.0, -2.0, 0.0, 0.0]);
        assert_eq!(trim_to_density(&[1.0, -5.0, 0.5], 1.0), vec![1.0, -5.0, 0.5]);
        // round(0.8 · 5) = 4: the smallest magnitude goes.
        assert_eq!(trim_to_density(&[0.1, 0.2, -0.3, 0.4, 0.05], 0.8), vec![0.1, 0.2, -0.3, 0.4, 0.0]);
        assert!(trim_to_density(&[], 0.8).is_empty());
    }

    /// Three checkpoints over θ_init = 1, density 0.6 (keep 3 of 5), values exact in binary.
    ///   d1 = [ 0.5, -0.25,  0,     0.25, -1   ] -> trim (0.25 tie: index 1 before 3) -> [ 0.5, -0.25, 0, 0, -1   ]
    ///   d2 = [ 0.75, 0.5,  -0.125, -0.25, -0.75] -> trim                              -> [ 0.75, 0.5,  0, 0, -0.75]
    ///   d3 = [-1,    0.125, 0,     0.125,  0.5 ] -> trim (0.125 tie: index 1 before 3) -> [-1,   0.125, 0, 0,  0.5 ]
    /// Sums [0.25, 0.375, 0, 0, -1.25] -> signs [+, +, none, none, -].
    /// Disjoint means: (0.5 + 0.75)/2 = 0.625, (0.5 + 0.125)/2 = 0.3125, 0, 0, (-1 - 0.75)/2 = -0.875.
    #[test]
    fn three_checkpoints_by_hand() {
        let base = [1.0f32; 5];
        let c1 = [1.5, 0.75, 1.0, 1.25, 0.0];
        let c2 = [1.75, 1.5, 0.875, 0.75, 0.25];
        let c3 = [0.0, 1.125, 1.0, 1.125, 1.5];
        let merged = merge_ties_tensor(&base, &[&c1, &c2, &c3], &config(0.6, 1.0)).unwrap();
        assert_eq!(merged, vec![1.625, 1.3125, 1.0, 1.0, 0.125]);
        // λ = 2 doubles the merged delta: 1 + 2 · [0.625, 0.3125, 0, 0, -0.875].
        let merged = merge_ties_tensor(&base, &[&c1, &c2, &c3], &config(0.6, 2.0)).unwrap();
        assert_eq!(merged, vec![2.25, 1.625, 1.0, 1.0, -0.75]);
    }

    #[test]
    fn a_checkpoint_merged_with_itself_is_returned() {
        let base = [0.1f32, -0.2, 0.3];
        let c = [0.7f32, -0.9, 0.3];
        assert_eq!(merge_ties_tensor(&base, &[&c], &config(1.0, 1.0)).unwrap(), c.to_vec());
        assert_eq!(merge_ties_tensor(&base, &[&c, &c], &config(1.0, 1.0)).unwrap(), c.to_vec());
    }

    #[test]
    fn zero_sums_and_zero_deltas() {
        // Deltas +1 and -1 cancel: no majority -> merged 0, θ stays at the base.
        assert_eq!(merge_ties_tensor(&[2.0], &[&[3.0], &[1.0]], &config(1.0, 1.0)).unwrap(), vec![2.0]);
        // An all-zero delta (checkpoint = base) joins no mean: the other delta is taken whole.
        let merged = merge_ties_tensor(&[1.0, 2.0], &[&[1.0, 2.0], &[2.0, 1.0]], &config(1.0, 1.0)).unwrap();
        assert_eq!(merged, vec![2.0, 1.0]);
        // Only zero deltas: the base comes back.
        assert_eq!(merge_ties_tensor(&[1.0, 2.0], &[&[1.0, 2.0]], &config(0.5, 1.0)).unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn adapter_scope_ranks_across_tensors() {
        // One checkpoint, base 0, tensors [4, 3] and [1, 2], density 0.5.
        // Per tensor: keep 1 of 2 each -> [4, 0], [0, 2]. Adapter: keep 2 of 4 -> [4, 3], [0, 0].
        let base: [&[f32]; 2] = [&[0.0, 0.0], &[0.0, 0.0]];
        let c = vec![vec![&[4.0f32, 3.0][..], &[1.0, 2.0][..]]];
        let per_tensor = merge_ties(&base, &c, &config(0.5, 1.0)).unwrap();
        assert_eq!(per_tensor, vec![vec![4.0, 0.0], vec![0.0, 2.0]]);
        let adapter = TiesConfig { trim_scope: TrimScope::Adapter, ..config(0.5, 1.0) };
        assert_eq!(merge_ties(&base, &c, &adapter).unwrap(), vec![vec![4.0, 3.0], vec![0.0, 0.0]]);
    }

    #[test]
    fn bad_input_names_the_tensor() {
        let base: [&[f32]; 2] = [&[0.0], &[0.0, 0.0]];
        assert_eq!(merge_ties(&base, &[], &config(0.8, 1.0)), Err(MergeError::NoCheckpoints));
        let short = vec![vec![&[1.0f32][..]]];
        assert_eq!(merge_ties(&base, &short, &config(0.8, 1.0)), Err(MergeError::TensorCount { checkpoint: 0, expected: 2, found: 1 }));
        let wrong = vec![vec![&[1.0f32][..], &[1.0, 2.0][..]], vec![&[1.0f32][..], &[1.0][..]]];
        assert_eq!(
            merge_ties(&base, &wrong, &config(0.8, 1.0)),
            Err(MergeError::TensorLength { tensor: 1, checkpoint: 1, expected: 2, found: 1 })
        );
        let nan = vec![vec![&[1.0f32][..], &[1.0, f32::NAN][..]]];
        assert_eq!(merge_ties(&base, &nan, &config(0.8, 1.0)), Err(MergeError::NotFinite { tensor: 1, checkpoint: 0, index: 1 }));
        assert!(matches!(merge_ties_tensor(&[0.0], &[&[1.0]], &config(0.0, 1.0)), Err(MergeError::Config { field: "density", .. })));
        assert!(matches!(merge_ties_tensor(&[0.0], &[&[1.0]], &config(0.5, f64::NAN)), Err(MergeError::Config { field: "lambda", .. })));
    }
}
