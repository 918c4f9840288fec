//! Uniform sampling without replacement from each task's training pool (RecFound §4.3.2): every
//! pool is walked in a seeded random order and reshuffled when exhausted. A pool's order is a
//! pure function of (seed, task, epoch), so the serialised state is just the epochs and cursors
//! and a resumed run draws exactly what the uninterrupted run would have drawn.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::s2sched::S2SchedError;
use crate::recfound::instructions::mix64;

/// One pool's position: which shuffle (epoch) and how far into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PoolCursor {
    size: usize,
    epoch: u64,
    cursor: usize,
}

/// The serialised form of [`TaskPools`]: orders are rebuilt from the seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskPoolsState {
    seed: u64,
    pools: Vec<PoolCursor>,
}

/// Per-task samplers without replacement over pools of `0..size` row indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TaskPoolsState", into = "TaskPoolsState")]
pub struct TaskPools {
    seed: u64,
    pools: Vec<PoolCursor>,
    /// The current epoch's order of each pool.
    orders: Vec<Vec<usize>>,
}

impl TaskPools {
    /// Pools of `sizes[i]` rows for task i, shuffled from `seed`.
    pub fn new(sizes: &[usize], seed: u64) -> Self {
        let pools = sizes.iter().map(|&size| PoolCursor { size, epoch: 0, cursor: 0 }).collect();
        TaskPoolsState { seed, pools }.into()
    }

    /// Row counts of the pools.
    pub fn sizes(&self) -> Vec<usize> {
        self.pools.iter().map(|p| p.size).collect()
    }

    /// Draws `counts[i]` row indices from pool i (e.g. [`S2Sched::allocation`]'s output).
    /// Within an epoch no row repeats; a pool that runs out mid-draw is reshuffled and the draw
    /// continues in the new epoch.
    ///
    /// [`S2Sched::allocation`]: super::S2Sched::allocation
    pub fn draw(&mut self, counts: &[usize]) -> Result<Vec<Vec<usize>>, S2SchedError> {
        if counts.len() != self.pools.len() {
            return Err(S2SchedError::Count { what: "per-task sample counts", expected: self.pools.len(), found: counts.len() });
        }
        if let Some((task, &wanted)) = counts.iter().enumerate().find(|&(i, &n)| n > 0 && self.pools[i].size == 0) {
            return Err(S2SchedError::EmptyPool { task, wanted });
        }
        Ok(counts.iter().enumerate().map(|(task, &n)| self.draw_task(task, n)).collect())
    }

    fn draw_task(&mut self, task: usize, n: usize) -> Vec<usize> {
        let mut rows = Vec::with_capacity(n);
        while rows.len() < n {
            let pool = &mut self.pools[task];
            if pool.cursor == pool.size {
                pool.epoch += 1;
                pool.cursor = 0;
                self.orders[task] = shuffled(self.seed, task, pool);
                continue;
            }
            let pool = &mut self.pools[task];
            let take = (n - rows.len()).min(pool.size - pool.cursor);
            rows.extend_from_slice(&self.orders[task][pool.cursor..pool.cursor + take]);
            pool.cursor += take;
        }
        rows
    }
}

impl From<TaskPoolsState> for TaskPools {
    fn from(state: TaskPoolsState) -> Self {
        let orders = state.pools.iter().enumerate().map(|(task, pool)| shuffled(state.seed, task, pool)).collect();
        Self { seed: state.seed, pools: state.pools, orders }
    }
}

impl From<TaskPools> for TaskPoolsState {
    fn from(pools: TaskPools) -> Self {
        Self { seed: pools.seed, pools: pools.pools }
    }
}

/// The order of `pool` in its current epoch: a shuffle seeded by (seed, task, epoch).
fn shuffled(seed: u64, task: usize, pool: &PoolCursor) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pool.size).collect();
    let stream = mix64(mix64(mix64(seed) ^ task as u64) ^ pool.epoch);
    order.shuffle(&mut StdRng::seed_from_u64(stream));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_a_permutation_then_it_reshuffles() {
        let mut pools = TaskPools::new(&[5, 3], 7);
        let first = pools.draw(&[2, 3]).unwrap();
        let second = pools.draw(&[3, 0]).unwrap();
        // Task 0: 2 + 3 draws cover 0..5 exactly once.
        let mut epoch: Vec<usize> = first[0].iter().chain(&second[0]).copied().collect();
        epoch.sort_unstable();
        assert_eq!(epoch, vec![0, 1, 2, 3, 4]);
        // Task 1 is exhausted; the next draw comes from a fresh permutation.
        let mut next = pools.draw(&[0, 3]).unwrap().remove(1);
        next.sort_unstable();
        assert_eq!(next, vec![0, 1, 2]);
    }

    #[test]
    fn a_draw_larger_than_the_pool_spans_epochs() {
        let mut pools = TaskPools::new(&[2], 1);
        let rows = pools.draw(&[5]).unwrap().remove(0);
        // Epochs of 2: [e0, e0, e1, e1, e2]; each pair is {0, 1}.
        assert_eq!(rows.len(), 5);
        for pair in rows[..4].chunks(2) {
            assert_ne!(pair[0], pair[1]);
        }
    }

    #[test]
    fn same_seed_same_draws_and_seed_matters() {
        let draw = |seed| TaskPools::new(&[50], seed).draw(&[50]).unwrap();
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn resume_from_json_draws_what_the_uninterrupted_run_draws() {
        let mut a = TaskPools::new(&[4, 6, 1], 11);
        a.draw(&[3, 5, 1]).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        let mut b: TaskPools = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        for _ in 0..4 {
            assert_eq!(a.draw(&[2, 3, 1]).unwrap(), b.draw(&[2, 3, 1]).unwrap());
        }
    }

    #[test]
    fn empty_pools_and_wrong_lengths_are_errors() {
        let mut pools = TaskPools::new(&[3, 0], 0);
        let rows = pools.draw(&[1, 0]).unwrap();
        assert_eq!((rows[0].len(), rows[1].len()), (1, 0));
        assert_eq!(pools.draw(&[0, 2]), Err(S2SchedError::EmptyPool { task: 1, wanted: 2 }));
        assert!(matches!(pools.draw(&[1]), Err(S2SchedError::Count { expected: 2, found: 1, .. })));
    }
}
