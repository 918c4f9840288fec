//! The task-weighted `DataLoader` S2Sched steers. Each batch takes `n_i` examples of every task
//! `i`, drawn uniformly without replacement from the task's pool; the counts `n_i` live in
//! shared state that the training strategy rewrites after every scheduling update, so the next
//! batch already follows the new ratios (DESIGN.md §5).

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::tensor::backend::Backend;

use super::batch::{EmbeddingExample, GenerativeExample, JointBatch};
use super::task_pools::TaskPools;

/// The examples of every task, per branch, in task order.
#[derive(Debug, Default)]
pub struct TaskExamples {
    pub embedding: Vec<Vec<EmbeddingExample>>,
    pub generative: Vec<Vec<GenerativeExample>>,
}

/// What the strategy writes and the loader reads: samples per step of every task, and the pools
/// (whose cursors are part of the run's state).
#[derive(Debug)]
pub struct Sampling {
    pub embedding_counts: Vec<usize>,
    pub generative_counts: Vec<usize>,
    pub embedding_pools: TaskPools,
    pub generative_pools: TaskPools,
}

impl Sampling {
    /// Draws the next batch's examples.
    pub fn next_batch(&mut self, examples: &TaskExamples) -> JointBatch {
        let emb = self.embedding_pools.draw(&self.embedding_counts).expect("counts only for non-empty pools");
        let generative = self.generative_pools.draw(&self.generative_counts).expect("counts only for non-empty pools");
        JointBatch {
            embedding: emb.iter().enumerate().flat_map(|(t, rows)| rows.iter().map(move |&r| examples.embedding[t][r].clone())).collect(),
            generative: generative.iter().enumerate().flat_map(|(t, rows)| rows.iter().map(move |&r| examples.generative[t][r].clone())).collect(),
        }
    }
}

/// A burn `DataLoader` of `steps` joint batches drawn through the shared [`Sampling`].
pub struct TaskWeightedLoader<B: Backend> {
    pub examples: Arc<TaskExamples>,
    pub sampling: Arc<Mutex<Sampling>>,
    pub steps: usize,
    _backend: PhantomData<B>,
}

impl<B: Backend> TaskWeightedLoader<B> {
    pub fn new(examples: Arc<TaskExamples>, sampling: Arc<Mutex<Sampling>>, steps: usize) -> Self {
        Self { examples, sampling, steps, _backend: PhantomData }
    }
}

impl<B: Backend> Clone for TaskWeightedLoader<B> {
    fn clone(&self) -> Self {
        Self::new(self.examples.clone(), self.sampling.clone(), self.steps)
    }
}

struct Iter<'a, B: Backend> {
    loader: &'a TaskWeightedLoader<B>,
    done: usize,
}

impl<B: Backend> Iterator for Iter<'_, B> {
    type Item = JointBatch;

    fn next(&mut self) -> Option<JointBatch> {
        if self.done == self.loader.steps {
            return None;
        }
        self.done += 1;
        let mut sampling = self.loader.sampling.lock().expect("sampling state lock");
        Some(sampling.next_batch(&self.loader.examples))
    }
}

impl<B: Backend> DataLoaderIterator<JointBatch> for Iter<'_, B> {
    fn progress(&self) -> Progress {
        Progress { items_processed: self.done, items_total: self.loader.steps }
    }
}

impl<B: Backend> DataLoader<B, JointBatch> for TaskWeightedLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<JointBatch> + 'a> {
        Box::new(Iter { loader: self, done: 0 })
    }

    /// Counted in steps: a step's batch size changes with nothing, but its task mix does.
    fn num_items(&self) -> usize {
        self.steps
    }

    /// Batches are host-side token ids; the model moves them to its device.
    fn to_device(&self, _device: &B::Device) -> Arc<dyn DataLoader<B, JointBatch>> {
        Arc::new(self.clone())
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, JointBatch>> {
        Arc::new(Self::new(self.examples.clone(), self.sampling.clone(), end.min(self.steps).saturating_sub(start)))
    }
}
