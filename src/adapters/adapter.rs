//! The adapter of a whole decoder: LoRA experts on each targeted projection and, for TMoLE, a
//! task-embedding table shared by all layers plus a router per projection (RecFound §4.2,
//! DESIGN.md §3):
//!
//! `v = softmax(mask_kind(router(task_embedding[task])))`, `o = W0 x + sum_j v_j s B_j A_j x`.
//!
//! Routing depends only on the sample's task, so it is computed once per batch by
//! [`Adapter::bind`] (`[B, N]` per projection) and shared by all of a sample's tokens; a batch
//! may mix tasks of both kinds.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Int, Tensor, TensorData, backend::Backend};

use crate::backbone::{Decoder, Proj, ProjectionDelta};
use crate::recfound::TaskId;

use super::config::AdapterConfig;
use super::error::AdapterError;
use super::experts::LoraExperts;

/// The router: an MLP from the task embedding to one logit per expert (depth configurable;
/// ReLU between layers).
pub type Router<B> = crate::nn::ReluMlp<B>;

/// One adapted projection: its experts and (TMoLE) its router.
#[derive(Module, Debug)]
pub struct Site<B: Backend> {
    pub experts: LoraExperts<B>,
    pub router: Option<Router<B>>,
}

/// LoRA or TMoLE over a decoder: `layers[l][p]` is the site on projection `Proj::ALL[p]` of
/// layer `l`, `None` where the projection is not targeted.
#[derive(Module, Debug)]
pub struct Adapter<B: Backend> {
    pub layers: Vec<Vec<Option<Site<B>>>>,
    /// TMoLE's task table (one row per task plus "none"); `None` for plain LoRA.
    pub task_embedding: Option<Embedding<B>>,
    #[module(skip)]
    pub config: AdapterConfig,
}

/// The routing weights of one projection for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRouting {
    pub layer: usize,
    pub proj: Proj,
    pub weights: Vec<f32>,
}

impl<B: Backend> Adapter<B> {
    /// A fresh adapter for `decoder` (B = 0, so the adapted model equals the base). `random_b`
    /// draws B too, as PEFT's `init_lora_weights=False` (tests and fixtures).
    pub fn new(config: AdapterConfig, decoder: &Decoder<B>, random_b: bool, device: &B::Device) -> Result<Self, AdapterError> {
        config.validate()?;
        let sites = config.target_modules.resolve(decoder.num_layers())?;
        let n = config.num_experts();
        let mut layers: Vec<Vec<Option<Site<B>>>> = (0..decoder.num_layers()).map(|_| Proj::ALL.map(|_| None).to_vec()).collect();
        for (layer, proj) in sites {
            let [d_in, d_out] = decoder.projection(layer, proj).weight.dims();
            let experts = LoraExperts::new(d_in, d_out, n, config.r, config.scaling(), config.lora_dropout, random_b, device);
            let router = config.tmole.as_ref().map(|t| {
                let widths: Vec<usize> = std::iter::once(t.task_embedding_dim).chain(t.router_hidden.iter().copied()).chain([n]).collect();
                Router::new(&widths, device)
            });
            layers[layer][proj.index()] = Some(Site { experts, router });
        }
        let task_embedding = config.tmole.as_ref().map(|t| EmbeddingConfig::new(t.num_tasks, t.task_embedding_dim).init(device));
        Ok(Self { layers, task_embedding, config })
    }

    /// Whether this is TMoLE (routed experts) rather than plain LoRA.
    pub fn is_tmole(&self) -> bool {
        self.config.tmole.is_some()
    }

    /// The adapted projections, layer-major.
    pub fn sites(&self) -> impl Iterator<Item = (usize, Proj, &Site<B>)> {
        self.layers.iter().enumerate().flat_map(|(l, slots)| {
            slots.iter().zip(Proj::ALL).filter_map(move |(site, proj)| site.as_ref().map(|s| (l, proj, s)))
        })
    }

    /// Binds the adapter to a batch whose row `b` belongs to task `tasks[b]`: computes every
    /// projection's routing once. Plain LoRA ignores `tasks` (any length).
    pub fn bind(&self, tasks: &[TaskId]) -> Result<BoundAdapter<'_, B>, AdapterError> {
        let empty = || self.layers.iter().map(|slots| slots.iter().map(|_| None).collect()).collect();
        let (Some(table), Some(tmole)) = (&self.task_embedding, &self.config.tmole) else {
            return Ok(BoundAdapter { adapter: self, routing: empty(), rows: None });
        };
        if let Some(task) = tasks.iter().find(|t| t.id() >= tmole.num_tasks) {
            return Err(AdapterError::Task { task: task.to_string(), message: format!("outside the task table ({} rows)", tmole.num_tasks) });
        }
        let device = table.weight.device();
        let rows = tasks.len();
        let n = tmole.experts.total();
        let ids: Vec<i64> = tasks.iter().map(|t| t.id() as i64).collect();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows, 1]), &device);
        let emb = table.forward(ids).reshape([rows, tmole.task_embedding_dim]); // [R, Dt]
        let masked: Vec<bool> = tasks.iter().flat_map(|t| tmole.experts.allowed(t.kind()).into_iter().map(|ok| !ok)).collect();
        let masked = Tensor::<B, 2, Bool>::from_data(TensorData::new(masked, [rows, n]), &device);
        let routing = self
            .layers
            .iter()
            .map(|slots| {
                slots
                    .iter()
                    .map(|site| {
                        let router = site.as_ref()?.router.as_ref()?;
                        // -inf logits give exactly zero weight, and zero gradient, to the other kind's experts.
                        let logits = router.forward(emb.clone()).mask_fill(masked.clone(), f32::NEG_INFINITY); // [R, N]
                        Some(softmax(logits, 1))
                    })
                    .collect()
            })
            .collect();
        Ok(BoundAdapter { adapter: self, routing, rows: Some(rows) })
    }

    /// The routing vector of `task` on every adapted projection (empty for plain LoRA): what the
    /// paper's routing-similarity heatmap (Figure 2) compares across tasks.
    pub fn routing(&self, task: TaskId) -> Result<Vec<SiteRouting>, AdapterError> {
        let bound = self.bind(&[task])?;
        let mut out = Vec::new();
        for (layer, proj, _) in self.sites() {
            if let Some(v) = &bound.routing[layer][proj.index()] {
                out.push(SiteRouting { layer, proj, weights: v.clone().into_data().convert::<f32>().to_vec().expect("f32 routing") });
            }
        }
        Ok(out)
    }

    /// Adds the adapter's weight update to `decoder`'s projections, so the result needs no
    /// adapter: `W0 + sum_j v_j s A_j B_j`. TMoLE's routing differs per task, so it merges the
    /// routing of one task (`task` is required for TMoLE, ignored for LoRA).
    pub fn merge_into(&self, mut decoder: Decoder<B>, task: Option<TaskId>) -> Result<Decoder<B>, AdapterError> {
        let routing = match (self.is_tmole(), task) {
            (true, None) => {
                return Err(AdapterError::Task { task: "(none given)".into(), message: "a TMoLE adapter merges the routing of one task: pass --task".into() });
            }
            (true, Some(task)) => Some(self.bind(&[task])?),
            (false, _) => None,
        };
        for (layer, proj, site) in self.sites() {
            let device = site.experts.lora_a.device();
            let weights = match routing.as_ref().and_then(|r| r.routing[layer][proj.index()].clone()) {
                Some(v) => v.reshape([site.experts.num_experts]), // [N]
                None => Tensor::ones([site.experts.num_experts], &device),
            };
            let delta = site.experts.delta_weight(weights); // [d_in, d_out]
            let linear = decoder.projection_mut(layer, proj);
            linear.weight = linear.weight.clone().map(|w| w + delta);
        }
        Ok(decoder)
    }
}

/// An adapter bound to a batch's rows (see [`Adapter::bind`]); pass it to the decoder as its
/// [`ProjectionDelta`].
pub struct BoundAdapter<'a, B: Backend> {
    adapter: &'a Adapter<B>,
    /// `routing[l][p]`: `[R, N]` weights, `None` where there is no router.
    routing: Vec<Vec<Option<Tensor<B, 2>>>>,
    rows: Option<usize>,
}

impl<B: Backend> BoundAdapter<'_, B> {
    /// The routing weights `[R, N]` of projection `proj` of layer `layer`, if routed.
    pub fn routing(&self, layer: usize, proj: Proj) -> Option<Tensor<B, 2>> {
        self.routing.get(layer)?.get(proj.index())?.clone()
    }
}

impl<B: Backend> ProjectionDelta<B> for BoundAdapter<'_, B> {
    fn delta(&self, layer: usize, proj: Proj, x: Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        let site = self.adapter.layers.get(layer)?.get(proj.index())?.as_ref()?;
        if let Some(rows) = self.rows {
            assert_eq!(x.dims()[0], rows, "TMoLE adapter bound to {rows} rows but run on {}", x.dims()[0]);
        }
        Some(site.experts.forward(x, self.routing(layer, proj)))
    }
}
