//! S2Sched, the step-wise convergence-oriented sample scheduler of RecFound §4.3 (eqs. 3-6), on
//! plain numbers. One [`S2Sched`] serves one task type (embedding or generative, each with its own
//! batch size): the trainer feeds it the per-task validation losses every `update_interval` steps
//! and reads back how many samples each task gets in the next batches. DESIGN.md §5 fixes every
//! reading the paper leaves open; every zero denominator makes its ratio 0, so nothing yields NaN.

use serde::{Deserialize, Serialize};

/// How the per-task sample ratios are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleMode {
    /// Eqs. 3-6 after the warmup, uniform during it.
    #[serde(rename = "s2sched")]
    S2Sched,
    /// The "w/o S2Sched" ablation (Tables 4-6): uniform ratios at every step.
    Uniform,
}

/// Hyperparameters of one scheduler. Warmup is in training steps, already resolved from the
/// paper's ratio by [`warmup_steps`], so that replay can set it directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S2SchedConfig {
    pub mode: ScheduleMode,
    /// Observations at steps `< warmup_steps` only collect losses; ratios stay uniform.
    pub warmup_steps: usize,
    /// L: losses in a slope fit, slopes in eq. 4's history, and the factor of eq. 4.
    pub window: usize,
    /// τ of eq. 5.
    pub tau: f64,
}

impl S2SchedConfig {
    /// ζ = 10 % of the training steps (RecFound §5.1).
    pub const PAPER_WARMUP_RATIO: f64 = 0.1;
    /// L = 64 (RecFound §5.1).
    pub const PAPER_WINDOW: usize = 64;
    /// τ = 10 (RecFound §5.1).
    pub const PAPER_TAU: f64 = 10.0;

    /// The paper's settings for a run of `total_steps` training steps.
    pub fn paper(total_steps: usize) -> Self {
        Self {
            mode: ScheduleMode::S2Sched,
            warmup_steps: warmup_steps(Self::PAPER_WARMUP_RATIO, total_steps)
                .expect("the paper's warmup ratio is in [0, 1]"),
            window: Self::PAPER_WINDOW,
            tau: Self::PAPER_TAU,
        }
    }

    /// Rejects a window below 2 (a slope needs two points) and a non-positive or non-finite τ.
    pub fn validate(&self) -> Result<(), S2SchedError> {
        if self.window < 2 {
            return Err(S2SchedError::Config { field: "window", reason: format!("must be at least 2, got {}", self.window) });
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(S2SchedError::Config { field: "tau", reason: format!("must be finite and > 0, got {}", self.tau) });
        }
        Ok(())
    }
}

/// Warmup steps for a ratio ζ of `total_steps`, rounded up as HF `get_warmup_steps` does.
pub fn warmup_steps(ratio: f64, total_steps: usize) -> Result<usize, S2SchedError> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(S2SchedError::Config { field: "warmup_ratio", reason: format!("must be in [0, 1], got {ratio}") });
    }
    Ok((ratio * total_steps as f64).ceil() as usize)
}

/// Bad input to the scheduler; each names what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum S2SchedError {
    #[error("s2sched `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("expected {expected} {what}, found {found}")]
    Count { what: &'static str, expected: usize, found: usize },
    #[error("validation loss of task {task} is not finite ({value})")]
    NonFiniteLoss { task: usize, value: f64 },
    #[error("ratio of task {task} is {value}; ratios must be finite and >= 0")]
    BadRatio { task: usize, value: f64 },
    #[error("observation at step {step} after step {last}: steps must increase")]
    StepOrder { step: usize, last: usize },
    #[error("no task can be sampled: every pool is empty or every ratio is 0")]
    NoActiveTask,
    #[error("task {task} has an empty pool but {wanted} samples were asked of it")]
    EmptyPool { task: usize, wanted: usize },
}

/// `num / den`, or 0 when `den` is 0: a zero denominator means "no signal" (DESIGN.md §5).
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// Softmax with the maximum subtracted, so finite logits never overflow; empty in, empty out.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let Some(max) = logits.iter().copied().reduce(f64::max) else {
        return Vec::new();
    };
    let exps: Vec<f64> = logits.iter().map(|x| (x - max).exp()).collect();
    // The maximum contributes exp(0) = 1, so the sum is >= 1.
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// α: least-squares slope of `ys` against their index 0, 1, ...; 0 for fewer than two points.
/// The index is the update count (DESIGN.md §5): eqs. 3-6 are scale-free in it.
pub fn slope(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    let x_mean = (n - 1.0) / 2.0;
    let y_mean = ys.iter().sum::<f64>() / n;
    let (cov, var) = ys.iter().enumerate().fold((0.0, 0.0), |(c, v), (x, y)| {
        let dx = x as f64 - x_mean;
        (c + dx * (y - y_mean), v + dx * dx)
    });
    ratio(cov, var)
}

/// Eq. 3 (RecFound §4.3): γ_inter_i = -Softmax_i(|T_b| α_i / Σ_j |α_j|).
pub fn gamma_inter(slopes: &[f64]) -> Vec<f64> {
    let n = slopes.len() as f64;
    let abs_sum: f64 = slopes.iter().map(|a| a.abs()).sum();
    let logits: Vec<f64> = slopes.iter().map(|&a| n * ratio(a, abs_sum)).collect();
    softmax(&logits).into_iter().map(|p| -p).collect()
}

/// Eq. 4 (RecFound §4.3): γ_intra_i = Softmax_i(-L α_i(t) / Σ_{s=t-L+1..t} |α_i(s)|).
/// `histories[i]` holds task i's slopes oldest first, the last being α_i(t); only its last
/// `window` entries count. An empty history reads as α = 0.
pub fn gamma_intra(histories: &[Vec<f64>], window: usize) -> Vec<f64> {
    let logits: Vec<f64> = histories
        .iter()
        .map(|h| {
            let recent = &h[h.len().saturating_sub(window)..];
            let now = recent.last().copied().unwrap_or(0.0);
            let abs_sum: f64 = recent.iter().map(|a| a.abs()).sum();
            -(window as f64) * ratio(now, abs_sum)
        })
        .collect();
    softmax(&logits)
}

/// Eq. 5's argument for update k: x(k) = -τ k max_i α_i(k) / Σ_{j<=k} max_i |α_i(j)|.
/// `abs_max_sum` is that denominator, including update k itself.
pub fn balance_logit(k: usize, max_slope: f64, abs_max_sum: f64, tau: f64) -> f64 {
    -tau * k as f64 * ratio(max_slope, abs_max_sum)
}

/// Eq. 5 (RecFound §4.3): β(t) = min{t Softmax(x(1..t))_t, 1}, with `logits` = x(1..t). Before
/// the first update (no logits) β is 1.
pub fn beta(logits: &[f64]) -> f64 {
    match softmax(logits).last() {
        Some(p) => (logits.len() as f64 * p).min(1.0),
        None => 1.0,
    }
}

/// Eq. 6 (RecFound §4.3): ω_i = Softmax_i(-β γ_inter_i + (1 - β) γ_intra_i).
pub fn omega(gamma_inter: &[f64], gamma_intra: &[f64], beta: f64) -> Result<Vec<f64>, S2SchedError> {
    if gamma_intra.len() != gamma_inter.len() {
        return Err(S2SchedError::Count { what: "gamma_intra entries", expected: gamma_inter.len(), found: gamma_intra.len() });
    }
    let logits: Vec<f64> =
        gamma_inter.iter().zip(gamma_intra).map(|(e, a)| -beta * e + (1.0 - beta) * a).collect();
    Ok(softmax(&logits))
}

/// n_i = ⌊B ω_i⌋ (RecFound §4.3.2), then the samples the floors leave over go one each to the
/// largest fractional parts (lower index first on ties) so that Σ n_i = B. Tasks with ratio 0
/// never get a sample; the ratios need not sum to exactly 1.
pub fn allocate(batch_size: usize, ratios: &[f64]) -> Result<Vec<usize>, S2SchedError> {
    if let Some((task, &value)) = ratios.iter().enumerate().find(|(_, r)| !(r.is_finite() && **r >= 0.0)) {
        return Err(S2SchedError::BadRatio { task, value });
    }
    let total: f64 = ratios.iter().sum();
    if total == 0.0 {
        return if batch_size == 0 { Ok(vec![0; ratios.len()]) } else { Err(S2SchedError::NoActiveTask) };
    }
    let shares: Vec<f64> = ratios.iter().map(|r| batch_size as f64 * r / total).collect();
    let mut counts: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
    let mut order: Vec<usize> = (0..ratios.len()).filter(|&i| ratios[i] > 0.0).collect();
    order.sort_by(|&i, &j| (shares[j] - shares[j].floor()).total_cmp(&(shares[i] - shares[i].floor())).then(i.cmp(&j)));
    // Each floor loses less than 1, so the leftover is at most the number of positive ratios;
    // `saturating_sub` and `cycle` only guard against rounding in Σ shares.
    let assigned: usize = counts.iter().sum();
    for &i in order.iter().cycle().take(batch_size.saturating_sub(assigned)) {
        counts[i] += 1;
    }
    Ok(counts)
}

/// What one observation computed, for the per-step log (the data of the paper's Figure 3).
/// Equation fields are `None` during the warmup and in uniform mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleUpdate {
    /// Training step of the observation.
    pub step: usize,
    /// t: scheduling updates so far (0 during the warmup and in uniform mode).
    pub update: usize,
    /// Raw validation losses, one per task (0 for tasks with an empty pool).
    pub val_losses: Vec<f64>,
    /// Losses divided by the task's first observed loss.
    pub normalized_losses: Vec<f64>,
    /// α_i(t); 0 for tasks with an empty pool.
    pub slopes: Option<Vec<f64>>,
    pub gamma_inter: Option<Vec<f64>>,
    pub gamma_intra: Option<Vec<f64>>,
    pub beta: Option<f64>,
    /// ω_i after this observation; 0 for tasks with an empty pool.
    pub ratios: Vec<f64>,
}

/// The scheduler for the tasks of one type. Tasks with an empty training pool take no part:
/// they are left out of |T_b| and the softmaxes, and their ratio is 0. The whole state is serde;
/// a bit-exact resume needs a format that round-trips f64 exactly (serde_json only with its
/// `float_roundtrip` feature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S2Sched {
    config: S2SchedConfig,
    pool_sizes: Vec<usize>,
    /// Each task's first observed validation loss, the normaliser.
    initial_losses: Option<Vec<f64>>,
    /// Per task, the last `window` normalised losses, oldest first.
    loss_windows: Vec<Vec<f64>>,
    /// Per task, the last `window` slopes, oldest first.
    slope_windows: Vec<Vec<f64>>,
    /// x(1..t) of eq. 5; the softmax runs over the whole history, so none of it is dropped.
    balance_logits: Vec<f64>,
    /// Σ_{j<=t} max_i |α_i(j)|, eq. 5's denominator.
    abs_max_slope_sum: f64,
    last_step: Option<usize>,
    ratios: Vec<f64>,
    last_update: Option<ScheduleUpdate>,
}

impl S2Sched {
    /// A scheduler over tasks whose training pools hold `pool_sizes` samples; ratios start
    /// uniform over the non-empty pools.
    pub fn new(config: S2SchedConfig, pool_sizes: &[usize]) -> Result<Self, S2SchedError> {
        config.validate()?;
        let n = pool_sizes.len();
        let mut sched = Self {
            config,
            pool_sizes: pool_sizes.to_vec(),
            initial_losses: None,
            loss_windows: vec![Vec::new(); n],
            slope_windows: vec![Vec::new(); n],
            balance_logits: Vec::new(),
            abs_max_slope_sum: 0.0,
            last_step: None,
            ratios: Vec::new(),
            last_update: None,
        };
        sched.ratios = sched.scatter(&vec![1.0 / sched.active().len().max(1) as f64; sched.active().len()]);
        Ok(sched)
    }

    pub fn config(&self) -> &S2SchedConfig {
        &self.config
    }

    /// Number of tasks (including those with an empty pool).
    pub fn num_tasks(&self) -> usize {
        self.pool_sizes.len()
    }

    /// t: scheduling updates done so far.
    pub fn updates(&self) -> usize {
        self.balance_logits.len()
    }

    /// Current ω, one per task, summing to 1 over the non-empty pools.
    pub fn ratios(&self) -> &[f64] {
        &self.ratios
    }

    /// The record of the latest [`observe`](Self::observe).
    pub fn last_update(&self) -> Option<&ScheduleUpdate> {
        self.last_update.as_ref()
    }

    /// Samples per task for a batch of `batch_size` under the current ratios ([`allocate`]).
    pub fn allocation(&self, batch_size: usize) -> Result<Vec<usize>, S2SchedError> {
        allocate(batch_size, &self.ratios)
    }

    /// Feeds the validation losses measured at training `step` (one per task; the first call
    /// fixes the normalisers) and recomputes the ratios: uniform during the warmup, eqs. 3-6
    /// after it. Steps must increase. Losses of tasks with an empty pool are not read.
    pub fn observe(&mut self, step: usize, val_losses: &[f64]) -> Result<&ScheduleUpdate, S2SchedError> {
        let active = self.active();
        if active.is_empty() {
            return Err(S2SchedError::NoActiveTask);
        }
        if val_losses.len() != self.num_tasks() {
            return Err(S2SchedError::Count { what: "validation losses", expected: self.num_tasks(), found: val_losses.len() });
        }
        if let Some(&task) = active.iter().find(|&&i| !val_losses[i].is_finite()) {
            return Err(S2SchedError::NonFiniteLoss { task, value: val_losses[task] });
        }
        if let Some(last) = self.last_step.filter(|&last| step <= last) {
            return Err(S2SchedError::StepOrder { step, last });
        }
        self.last_step = Some(step);
        // Empty-pool tasks may have no validation loss (NaN); record 0 so the state stays JSON.
        let losses = self.scatter(&active.iter().map(|&i| val_losses[i]).collect::<Vec<_>>());
        let initial = self.initial_losses.get_or_insert_with(|| losses.clone());
        let normalized: Vec<f64> = losses.iter().zip(initial.iter()).map(|(&l, &l0)| ratio(l, l0)).collect();
        for &i in &active {
            push_window(&mut self.loss_windows[i], normalized[i], self.config.window);
        }

        let mut update = ScheduleUpdate {
            step,
            update: 0,
            val_losses: losses,
            normalized_losses: normalized,
            slopes: None,
            gamma_inter: None,
            gamma_intra: None,
            beta: None,
            ratios: Vec::new(),
        };
        if self.config.mode == ScheduleMode::S2Sched && step >= self.config.warmup_steps {
            self.schedule(&active, &mut update);
        } else {
            self.ratios = self.scatter(&vec![1.0 / active.len() as f64; active.len()]);
        }
        update.ratios = self.ratios.clone();
        Ok(self.last_update.insert(update))
    }

    /// One scheduling update over the active tasks: eqs. 3-6, results scattered back.
    fn schedule(&mut self, active: &[usize], update: &mut ScheduleUpdate) {
        let window = self.config.window;
        let slopes: Vec<f64> = active.iter().map(|&i| slope(&self.loss_windows[i])).collect();
        for (&i, &a) in active.iter().zip(&slopes) {
            push_window(&mut self.slope_windows[i], a, window);
        }
        let inter = gamma_inter(&slopes);
        let histories: Vec<Vec<f64>> = active.iter().map(|&i| self.slope_windows[i].clone()).collect();
        let intra = gamma_intra(&histories, window);

        // Eq. 5: append x(t) to the history, then β from the softmax over all of it.
        let max_slope = slopes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let abs_max = slopes.iter().map(|a| a.abs()).fold(0.0, f64::max);
        self.abs_max_slope_sum += abs_max;
        let t = self.balance_logits.len() + 1;
        self.balance_logits.push(balance_logit(t, max_slope, self.abs_max_slope_sum, self.config.tau));
        let b = beta(&self.balance_logits);

        let w = omega(&inter, &intra, b).expect("both gammas have one entry per active task");
        self.ratios = self.scatter(&w);
        update.update = t;
        update.slopes = Some(self.scatter(&slopes));
        update.gamma_inter = Some(self.scatter(&inter));
        update.gamma_intra = Some(self.scatter(&intra));
        update.beta = Some(b);
    }

    /// Indices of the tasks with a non-empty pool.
    fn active(&self) -> Vec<usize> {
        (0..self.num_tasks()).filter(|&i| self.pool_sizes[i] > 0).collect()
    }

    /// Per-active-task values back to one per task, 0 for the empty pools.
    fn scatter(&self, values: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.num_tasks()];
        for (&i, &v) in self.active().iter().zip(values) {
            out[i] = v;
        }
        out
    }
}

/// Appends `value` and keeps the last `window` entries.
fn push_window(window_values: &mut Vec<f64>, value: f64, window: usize) {
    window_values.push(value);
    if window_values.len() > window {
        window_values.drain(..window_values.len() - window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn all_close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| close(*x, *y))
    }

    fn config(warmup_steps: usize, window: usize) -> S2SchedConfig {
        S2SchedConfig { mode: ScheduleMode::S2Sched, warmup_steps, window, tau: 10.0 }
    }

    #[test]
    fn softmax_is_stable_and_empty_safe() {
        // [0, ln 3] -> [1/4, 3/4]; huge logits do not overflow.
        assert!(all_close(&softmax(&[0.0, 3f64.ln()]), &[0.25, 0.75]));
        assert!(all_close(&softmax(&[1000.0, 1000.0]), &[0.5, 0.5]));
        assert!(softmax(&[]).is_empty());
    }

    #[test]
    fn slope_is_least_squares_against_the_index() {
        assert!(close(slope(&[3.0, 2.0, 1.0]), -1.0));
        // x̄ = 1, ȳ = 7/3: Σ dx dy = (-1)(-4/3) + (1)(5/3) = 3, Σ dx² = 2 -> 1.5.
        assert!(close(slope(&[1.0, 2.0, 4.0]), 1.5));
        // Fewer than two points: no slope, and no 0/0.
        assert_eq!(slope(&[5.0]), 0.0);
        assert_eq!(slope(&[]), 0.0);
    }

    #[test]
    fn eq3_gamma_inter() {
        // α = [-1, 1]: Σ|α| = 2, logits 2·α/2 = [-1, 1] -> softmax [1/(1+e²), e²/(1+e²)].
        let e2 = 2f64.exp();
        assert!(all_close(&gamma_inter(&[-1.0, 1.0]), &[-1.0 / (1.0 + e2), -e2 / (1.0 + e2)]));
        // Guard: all slopes 0 -> Σ|α| = 0 -> logits 0 -> uniform.
        assert!(all_close(&gamma_inter(&[0.0, 0.0, 0.0]), &[-1.0 / 3.0; 3]));
        // One task: softmax of one logit is 1.
        assert!(all_close(&gamma_inter(&[-0.5]), &[-1.0]));
        assert!(gamma_inter(&[]).is_empty());
    }

    #[test]
    fn eq4_gamma_intra() {
        // L = 2. Task 0: history [-1, -3], α(t) = -3, Σ|α| = 4 -> logit -2·(-3/4) = 1.5.
        // Task 1: history [0, 0] -> Σ|α| = 0 -> logit 0 (guard). softmax [1.5, 0].
        let e = 1.5f64.exp();
        let got = gamma_intra(&[vec![-1.0, -3.0], vec![0.0, 0.0]], 2);
        assert!(all_close(&got, &[e / (e + 1.0), 1.0 / (e + 1.0)]));
        // Only the last L slopes count: [100, -1, -3] with L = 2 is the same as [-1, -3].
        let got = gamma_intra(&[vec![100.0, -1.0, -3.0], vec![0.0]], 2);
        assert!(all_close(&got, &[e / (e + 1.0), 1.0 / (e + 1.0)]));
        // An empty history reads as α = 0.
        assert!(all_close(&gamma_intra(&[vec![], vec![]], 4), &[0.5, 0.5]));
    }

    #[test]
    fn eq5_beta() {
        // x(k) = -τ k max α / Σ max|α|: τ = 10, k = 2, max α = 0.05, Σ = 0.875 -> -8/7.
        assert!(close(balance_logit(2, 0.05, 0.875, 10.0), -8.0 / 7.0));
        assert_eq!(balance_logit(3, 0.5, 0.0, 10.0), 0.0);
        // x = [0, 0]: 2 · 1/2 = 1.
        assert!(close(beta(&[0.0, 0.0]), 1.0));
        // x = [0, -1]: 2 · e⁻¹/(1 + e⁻¹) = 0.537883.
        let e = (-1f64).exp();
        assert!(close(beta(&[0.0, -1.0]), 2.0 * e / (1.0 + e)));
        // x = [0, 1]: 2 · 0.731 > 1 -> clipped to 1.
        assert_eq!(beta(&[0.0, 1.0]), 1.0);
        assert_eq!(beta(&[]), 1.0);
    }

    #[test]
    fn eq6_omega() {
        // β = 1: ω = softmax(-γ_inter) = softmax([0.25, 0.75]) -> e^0.5 : 1 for task 1.
        let w = omega(&[-0.25, -0.75], &[0.9, 0.1], 1.0).unwrap();
        let e = 0.5f64.exp();
        assert!(all_close(&w, &[1.0 / (1.0 + e), e / (1.0 + e)]));
        // β = 0: ω = softmax(γ_intra) = softmax([0.9, 0.1]).
        let w = omega(&[-0.25, -0.75], &[0.9, 0.1], 0.0).unwrap();
        let e = 0.8f64.exp();
        assert!(all_close(&w, &[e / (1.0 + e), 1.0 / (1.0 + e)]));
        assert!(matches!(omega(&[0.0], &[], 0.5), Err(S2SchedError::Count { .. })));
    }

    #[test]
    fn allocation_keeps_the_batch_full() {
        // 10 · [0.5, 0.25, 0.25] = [5, 2.5, 2.5]: floors [5, 2, 2], one left -> task 1 (tie on
        // 0.5 with task 2, lower index wins).
        assert_eq!(allocate(10, &[0.5, 0.25, 0.25]).unwrap(), vec![5, 3, 2]);
        // 10 · [0.61, 0.39] = [6.1, 3.9]: floors [6, 3], the spare one to the larger fraction.
        assert_eq!(allocate(10, &[0.61, 0.39]).unwrap(), vec![6, 4]);
        // 3 · [1/3; 3] = 1 each (floors may come out 0.999.. -> fractions fill it back).
        assert_eq!(allocate(3, &[1.0 / 3.0; 3]).unwrap(), vec![1, 1, 1]);
        // Zero ratios get nothing; ratios need not sum to 1.
        assert_eq!(allocate(5, &[0.0, 2.0, 2.0]).unwrap(), vec![0, 3, 2]);
        assert_eq!(allocate(0, &[0.5, 0.5]).unwrap(), vec![0, 0]);
        assert_eq!(allocate(4, &[0.0, 0.0]), Err(S2SchedError::NoActiveTask));
        assert!(matches!(allocate(4, &[f64::NAN, 1.0]), Err(S2SchedError::BadRatio { task: 0, .. })));
        assert!(matches!(allocate(4, &[1.0, -0.5]), Err(S2SchedError::BadRatio { task: 1, .. })));
    }

    /// The worked example of the book (book/src/s2sched.md): two tasks, warmup 1, L = 3, τ = 10.
    #[test]
    fn worked_example() {
        let mut s = S2Sched::new(config(1, 3), &[100, 100]).unwrap();
        // Step 0 is warmup: it fixes the normalisers [2, 4]; ratios stay uniform.
        let u = s.observe(0, &[2.0, 4.0]).unwrap();
        assert_eq!((u.update, u.beta, u.ratios.clone()), (0, None, vec![0.5, 0.5]));
        // Step 1: normalised [0.5, 1]; α = [-0.5, 0]. Eq. 3 logits 2·[-0.5, 0]/0.5 = [-2, 0]
        // -> γ_inter = -[0.119203, 0.880797]. Eq. 5: max α = 0 -> x(1) = 0 -> β = 1, so
        // ω = softmax([0.119203, 0.880797]) = [0.31830026, 0.68169974]: the flat task gets more.
        let u = s.observe(1, &[1.0, 4.0]).unwrap().clone();
        assert!(all_close(u.slopes.as_ref().unwrap(), &[-0.5, 0.0]));
        assert!(all_close(u.gamma_inter.as_ref().unwrap(), &[-0.119203, -0.880797]));
        // Eq. 4 (L = 3): task 0 -3·(-0.5/0.5) = 3, task 1 0 -> softmax [3, 0].
        assert!(all_close(u.gamma_intra.as_ref().unwrap(), &[0.952574, 0.047426]));
        assert_eq!(u.beta, Some(1.0));
        assert!(all_close(&u.ratios, &[0.31830026, 0.68169974]));
        // Step 2: normalised [0.25, 1.1]; α over the last 3 = [-0.375, 0.05]. Eq. 3 logits
        // 2·[-0.375, 0.05]/0.425 differ by 2 again -> same γ_inter. Eq. 4: task 0
        // -3·(-0.375/0.875) = 1.285714, task 1 -3·(0.05/0.05) = -3 -> [0.986423, 0.013577].
        // Eq. 5: x(2) = -10·2·0.05/(0.5 + 0.375) = -8/7, β = 2·softmax([0, -8/7])₂ = 0.483592.
        let u = s.observe(2, &[0.5, 4.4]).unwrap().clone();
        assert!(all_close(u.slopes.as_ref().unwrap(), &[-0.375, 0.05]));
        assert!(all_close(u.gamma_inter.as_ref().unwrap(), &[-0.119203, -0.880797]));
        assert!(all_close(u.gamma_intra.as_ref().unwrap(), &[0.986423, 0.013577]));
        assert!(close(u.beta.unwrap(), 0.483592));
        // Eq. 6 -> ω = [0.533471, 0.466529]; the rising task 1 is starved by the intra term.
        assert!(all_close(&u.ratios, &[0.533471, 0.466529]));
        // 16 · ω = [8.54, 7.46] -> floors [8, 7], the spare sample to the larger fraction.
        assert_eq!(s.allocation(16).unwrap(), vec![9, 7]);
        assert_eq!(s.updates(), 2);
    }

    #[test]
    fn zero_slopes_and_one_task_give_finite_uniform_ratios() {
        let mut s = S2Sched::new(config(0, 4), &[10, 10, 10]).unwrap();
        for step in 0..5 {
            let u = s.observe(step, &[1.0, 1.0, 1.0]).unwrap();
            assert!(all_close(&u.ratios, &[1.0 / 3.0; 3]), "step {step}: {:?}", u.ratios);
            assert_eq!(u.beta, Some(1.0));
        }
        let mut one = S2Sched::new(config(0, 4), &[10]).unwrap();
        for (step, loss) in [3.0, 2.0, 5.0, 0.0].into_iter().enumerate() {
            assert_eq!(one.observe(step, &[loss]).unwrap().ratios, vec![1.0]);
        }
        // A zero initial loss normalises to 0 instead of dividing by 0.
        let mut zero = S2Sched::new(config(0, 4), &[10, 10]).unwrap();
        zero.observe(0, &[0.0, 1.0]).unwrap();
        let u = zero.observe(1, &[0.5, 0.5]).unwrap();
        assert_eq!(u.normalized_losses, vec![0.0, 0.5]);
        assert!(u.ratios.iter().all(|r| r.is_finite()));
    }

    #[test]
    fn empty_pools_take_no_part() {
        // Task 1 has no samples: its loss is not read (NaN is fine), its ratio is 0, and the
        // others behave as a two-task scheduler.
        let mut s = S2Sched::new(config(1, 3), &[100, 0, 100]).unwrap();
        assert_eq!(s.ratios(), &[0.5, 0.0, 0.5]);
        s.observe(0, &[2.0, f64::NAN, 4.0]).unwrap();
        s.observe(1, &[1.0, f64::NAN, 4.0]).unwrap();
        assert!(all_close(s.ratios(), &[0.31830026, 0.0, 0.68169974]));
        assert_eq!(s.allocation(10).unwrap()[1], 0);
        let mut none = S2Sched::new(config(0, 3), &[0, 0]).unwrap();
        assert_eq!(none.observe(0, &[1.0, 1.0]), Err(S2SchedError::NoActiveTask));
        assert_eq!(none.allocation(4), Err(S2SchedError::NoActiveTask));
    }

    #[test]
    fn uniform_mode_ignores_the_losses() {
        let mut s = S2Sched::new(S2SchedConfig { mode: ScheduleMode::Uniform, ..config(0, 3) }, &[5, 5, 5, 5]).unwrap();
        for (step, loss) in [4.0, 1.0, 0.1].into_iter().enumerate() {
            let u = s.observe(step, &[loss, 1.0, 2.0, 3.0]).unwrap();
            assert_eq!((u.update, &u.ratios), (0, &vec![0.25; 4]));
        }
        assert_eq!(s.allocation(6).unwrap(), vec![2, 2, 1, 1]);
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        assert!(matches!(S2Sched::new(config(0, 1), &[1]), Err(S2SchedError::Config { field: "window", .. })));
        let bad_tau = S2SchedConfig { tau: 0.0, ..config(0, 3) };
        assert!(matches!(S2Sched::new(bad_tau, &[1]), Err(S2SchedError::Config { field: "tau", .. })));
        let mut s = S2Sched::new(config(0, 3), &[1, 1]).unwrap();
        assert_eq!(s.observe(0, &[1.0]), Err(S2SchedError::Count { what: "validation losses", expected: 2, found: 1 }));
        assert!(matches!(s.observe(0, &[1.0, f64::INFINITY]), Err(S2SchedError::NonFiniteLoss { task: 1, .. })));
        s.observe(5, &[1.0, 1.0]).unwrap();
        assert_eq!(s.observe(5, &[1.0, 1.0]), Err(S2SchedError::StepOrder { step: 5, last: 5 }));
        assert!(warmup_steps(1.5, 10).is_err());
    }

    #[test]
    fn warmup_is_rounded_up() {
        assert_eq!(warmup_steps(0.1, 1000).unwrap(), 100);
        assert_eq!(warmup_steps(0.1, 15).unwrap(), 2);
        assert_eq!(S2SchedConfig::paper(320).warmup_steps, 32);
    }

    #[test]
    fn state_round_trips_through_json() {
        // serde_json's default float parser may miss by one ulp (0.9666666666666667 came back
        // ...68); with its `float_roundtrip` feature, or a binary format, the copy is exact.
        let losses = [[2.0, 3.0], [1.7, 2.9], [1.5, 2.95], [1.45, 2.7], [1.44, 2.4], [1.5, 2.3]];
        let mut a = S2Sched::new(config(2, 4), &[7, 9]).unwrap();
        for (step, l) in losses[..3].iter().enumerate() {
            a.observe(step, l).unwrap();
        }
        let mut b: S2Sched = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!((a.updates(), a.last_step, &a.config), (b.updates(), b.last_step, &b.config));
        for (step, l) in losses.iter().enumerate().skip(3) {
            let (ua, ub) = (a.observe(step, l).unwrap().clone(), b.observe(step, l).unwrap());
            assert!(ua.ratios.iter().zip(&ub.ratios).all(|(x, y)| (x - y).abs() < 1e-12));
        }
    }
}
