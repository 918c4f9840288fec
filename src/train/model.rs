//! The model RecFound trains: a frozen decoder plus a LoRA/TMoLE adapter, and its joint loss
//! `L = L_emb + L_gen` through the one shared backbone (§4.1). Also burn-train's step traits, so
//! a `Learner` can drive it.

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::optim::GradientsParams;
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::adapters::Adapter;
use crate::backbone::embed::{EmbedInput, embed};
use crate::backbone::{AttnMode, Decoder, Lm, ProjectionDelta, TokenMask};
use crate::recfound::TaskId;
use crate::text::EmbedEncoding;

use super::batch::{EmbeddingExample, GenerativeExample, JointBatch};
use super::losses::{info_nce, response_ce_sum, response_targets};

/// The frozen base (`.no_grad()` before training) and the trained adapter.
#[derive(Module, Debug)]
pub struct RecFoundModel<B: Backend> {
    pub decoder: Decoder<B>,
    pub adapter: Adapter<B>,
    /// InfoNCE temperature (authors: 0.02).
    pub temperature: f64,
    /// Examples per forward pass in a training step (0: the whole batch at once). Smaller
    /// micro-batches give the same gradients with less memory (see [`RecFoundModel::accumulated_step`]).
    pub micro_batch: usize,
    /// Seeds the backend RNG per micro-batch so GradCache's two passes draw the same dropout.
    pub seed: u64,
}

/// A step's losses: `loss` carries the graph; the branch values are for logging.
#[derive(Debug, Clone)]
pub struct JointOutput<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub embedding_loss: Option<f64>,
    pub generative_loss: Option<f64>,
    /// Answer tokens in the generative loss.
    pub generative_tokens: usize,
}

impl<B: Backend> ItemLazy for JointOutput<B> {
    type ItemSync = JointOutput<B>;
    fn sync(self) -> Self::ItemSync {
        self
    }
}

impl<B: Backend> Adaptor<LossInput<B>> for JointOutput<B> {
    fn adapt(&self) -> LossInput<B> {
        LossInput::new(self.loss.clone())
    }
}

impl<B: Backend> RecFoundModel<B> {
    /// Pooled, L2-normalised embeddings with bidirectional attention (GritLM's embedding mode),
    /// each input routed by its task.
    ///
    /// # Shapes
    /// - returns `[N, D]`
    pub fn embed(&self, inputs: &[&EmbedEncoding], tasks: &[TaskId]) -> Tensor<B, 2> {
        let bound = self.adapter.bind(tasks).expect("tasks were checked against the task table");
        let lm = Lm::new(&self.decoder, Some(&bound as &dyn ProjectionDelta<B>));
        let inputs: Vec<EmbedInput> = inputs.iter().map(|e| EmbedInput { ids: e.ids.clone(), pool_start: e.pool_start }).collect();
        let device = self.decoder.model.embed_tokens.weight.device();
        embed(lm, &inputs, AttnMode::Bidirectional, true, &device).expect("encodings always have a text span")
    }

    /// InfoNCE over the examples' queries and documents (in-batch plus hard negatives), all in
    /// one forward pass.
    pub fn embedding_loss(&self, examples: &[EmbeddingExample]) -> Tensor<B, 1> {
        let n = examples.len();
        let group = examples[0].docs.len();
        assert!(examples.iter().all(|e| e.docs.len() == group), "every example has the same group size");
        let mut inputs: Vec<&EmbedEncoding> = examples.iter().map(|e| &e.query).collect();
        inputs.extend(examples.iter().flat_map(|e| e.docs.iter()));
        let mut tasks: Vec<TaskId> = examples.iter().map(|e| e.task).collect();
        tasks.extend(examples.iter().flat_map(|e| std::iter::repeat_n(e.task, group)));
        let all = self.embed(&inputs, &tasks); // [N + N*group, D]
        let d = all.dims()[1];
        let queries = all.clone().slice([0..n, 0..d]); // [N, D]
        let docs = all.slice([n..n + n * group, 0..d]); // [N*group, D]
        info_nce(queries, docs, group, self.temperature)
    }

    /// The summed response cross-entropy of the examples and its token count (prompt and
    /// padding ignored), in one right-padded causal forward pass.
    pub fn generative_loss_sum(&self, examples: &[GenerativeExample]) -> (Tensor<B, 1>, usize) {
        let len = examples.iter().map(|e| e.encoding.ids.len()).max().unwrap_or(0);
        let b = examples.len();
        let mut ids = Vec::with_capacity(b * len);
        let mut targets = Vec::with_capacity(b * len);
        for e in examples {
            ids.extend(e.encoding.ids.iter().map(|&t| t as i64));
            ids.extend(std::iter::repeat_n(0i64, len - e.encoding.ids.len()));
            targets.extend(response_targets(&e.encoding.ids, e.encoding.prompt_len, len));
        }
        let lengths: Vec<usize> = examples.iter().map(|e| e.encoding.ids.len()).collect();
        let device = self.decoder.model.embed_tokens.weight.device();
        let ids = Tensor::from_data(TensorData::new(ids, [b, len]), &device);
        let tasks: Vec<TaskId> = examples.iter().map(|e| e.task).collect();
        let bound = self.adapter.bind(&tasks).expect("tasks were checked against the task table");
        let lm = Lm::new(&self.decoder, Some(&bound as &dyn ProjectionDelta<B>));
        let logits = lm.forward(ids, &TokenMask::right_padded(&lengths, len), AttnMode::Causal, None); // [B, T, V]
        response_ce_sum(logits, &targets)
    }

    /// `L_emb + L_gen` (either branch may be empty; the mean over answer tokens for L_gen).
    pub fn joint_loss(&self, batch: &JointBatch) -> JointOutput<B> {
        let device = self.decoder.model.embed_tokens.weight.device();
        let mut loss = Tensor::<B, 1>::zeros([1], &device);
        let mut out = JointOutput { loss: loss.clone(), embedding_loss: None, generative_loss: None, generative_tokens: 0 };
        if !batch.embedding.is_empty() {
            let l = self.embedding_loss(&batch.embedding);
            out.embedding_loss = Some(scalar(&l));
            loss = loss + l;
        }
        if !batch.generative.is_empty() {
            let (sum, count) = self.generative_loss_sum(&batch.generative);
            if count > 0 {
                let l = sum / count as f64;
                out.generative_loss = Some(scalar(&l));
                out.generative_tokens = count;
                loss = loss + l;
            }
        }
        out.loss = loss;
        out
    }
}

fn scalar<B: Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0]
}

impl<B: AutodiffBackend> RecFoundModel<B> {
    /// The gradients of one big batch's `L_emb + L_gen`, computed `micro_batch` examples at a
    /// time. The generative sum is divided by the whole batch's answer-token count, so summed
    /// micro-batch gradients equal the big batch's. InfoNCE couples every query with every
    /// document, so it uses GradCache (Gao et al. 2021): a first pass embeds everything without
    /// keeping graphs, the loss and its gradient with respect to the embeddings are computed on
    /// those, and a second pass re-embeds each micro-batch with its graph and backpropagates
    /// `sum(embedding * d loss / d embedding)`. Both passes seed the RNG per micro-batch alike,
    /// so dropout draws the same masks.
    pub fn accumulated_step(&self, batch: &JointBatch) -> TrainOutput<JointOutput<B>> {
        let micro = self.micro_batch.max(1);
        let device = self.decoder.model.embed_tokens.weight.device();
        // Per-batch seeds (from the batch's tokens), so dropout differs between batches yet both
        // GradCache passes, and a resumed run, draw the same masks.
        let batch_seed = self.seed ^ batch_fingerprint(batch);
        let mut acc = burn::optim::GradientsAccumulator::<Self>::new();
        let mut out = JointOutput { loss: Tensor::zeros([1], &device), embedding_loss: None, generative_loss: None, generative_tokens: 0 };
        let mut total = 0.0;
        if !batch.embedding.is_empty() {
            let examples = &batch.embedding;
            let (n, group) = (examples.len(), examples[0].docs.len());
            let mut inputs: Vec<(&EmbedEncoding, TaskId)> = examples.iter().map(|e| (&e.query, e.task)).collect();
            inputs.extend(examples.iter().flat_map(|e| e.docs.iter().map(move |d| (d, e.task))));
            let chunks: Vec<&[(&EmbedEncoding, TaskId)]> = inputs.chunks(micro).collect();
            let embed_chunk = |i: usize, chunk: &[(&EmbedEncoding, TaskId)]| {
                B::seed(&device, batch_seed.wrapping_add(i as u64));
                let (enc, tasks): (Vec<&EmbedEncoding>, Vec<TaskId>) = chunk.iter().copied().unzip();
                self.embed(&enc, &tasks)
            };
            // Pass 1: every embedding, graphs dropped.
            let cached: Vec<Tensor<B::InnerBackend, 2>> = chunks.iter().enumerate().map(|(i, c)| embed_chunk(i, c).inner()).collect();
            let all: Tensor<B, 2> = Tensor::from_inner(Tensor::cat(cached, 0)).require_grad(); // [N + N*group, D]
            let d = all.dims()[1];
            let loss = info_nce(all.clone().slice([0..n, 0..d]), all.clone().slice([n..n + n * group, 0..d]), group, self.temperature);
            let value = scalar(&loss);
            let grad_all = all.grad(&loss.backward()).expect("the embeddings are a leaf of the loss"); // [N + N*group, D]
            // Pass 2: each micro-batch again, with its graph, weighted by its cached gradient.
            let mut row = 0;
            for (i, chunk) in chunks.iter().enumerate() {
                let emb = embed_chunk(i, chunk); // [m, D]
                let m = chunk.len();
                let weight = Tensor::from_inner(grad_all.clone().slice([row..row + m, 0..d]));
                row += m;
                let surrogate = (emb * weight).sum();
                acc.accumulate(self, GradientsParams::from_grads(surrogate.backward(), self));
            }
            out.embedding_loss = Some(value);
            total += value;
        }
        if !batch.generative.is_empty() {
            let count: usize = batch.generative.iter().map(|e| response_token_count(e)).sum();
            if count > 0 {
                let mut sum = 0.0;
                for (i, chunk) in batch.generative.chunks(micro).enumerate() {
                    B::seed(&device, batch_seed.wrapping_add(1_000_003 + i as u64));
                    let (s, _) = self.generative_loss_sum(chunk);
                    let part = s / count as f64;
                    sum += scalar(&part);
                    acc.accumulate(self, GradientsParams::from_grads(part.backward(), self));
                }
                out.generative_loss = Some(sum);
                out.generative_tokens = count;
                total += sum;
            }
        }
        out.loss = Tensor::from_data(TensorData::new(vec![total as f32], [1]), &device);
        TrainOutput { grads: acc.grads(), item: out }
    }
}

/// FNV-1a over the batch's token ids.
fn batch_fingerprint(batch: &JointBatch) -> u64 {
    let ids = batch
        .embedding
        .iter()
        .flat_map(|e| std::iter::once(&e.query).chain(&e.docs))
        .flat_map(|e| e.ids.iter())
        .chain(batch.generative.iter().flat_map(|e| e.encoding.ids.iter()));
    ids.fold(0xcbf2_9ce4_8422_2325u64, |h, &id| (h ^ id as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Answer tokens of an example that take part in the loss.
fn response_token_count(e: &GenerativeExample) -> usize {
    let ids = &e.encoding.ids;
    response_targets(ids, e.encoding.prompt_len, ids.len()).iter().filter(|&&t| t != super::losses::IGNORE).count()
}

impl<B: AutodiffBackend> TrainStep for RecFoundModel<B> {
    type Input = JointBatch;
    type Output = JointOutput<B>;

    fn step(&self, batch: JointBatch) -> TrainOutput<JointOutput<B>> {
        if self.micro_batch > 0 {
            return self.accumulated_step(&batch);
        }
        let out = self.joint_loss(&batch);
        let grads = out.loss.backward();
        TrainOutput::new(self, grads, out)
    }
}

impl<B: Backend> InferenceStep for RecFoundModel<B> {
    type Input = JointBatch;
    type Output = JointOutput<B>;

    fn step(&self, batch: JointBatch) -> JointOutput<B> {
        self.joint_loss(&batch)
    }
}
