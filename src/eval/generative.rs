//! Generative evaluation: batched greedy decoding of test prompts, several tasks in one batch.
//! The adapter is bound with each row's task, so TMoLE routes per row; each row stops at EOS or
//! at its task's token budget ([`super::protocol::default_max_new_tokens`]).

use burn::tensor::backend::Backend;

use super::error::EvalError;
use super::predictions::GenerativePrediction;
use crate::adapters::Adapter;
use crate::backbone::{Decoder, Lm, ProjectionDelta, Sampler, StopConfig, generate};
use crate::recfound::TaskId;
use crate::text::TextTokenizer;

/// One test prompt, encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerativeItem {
    pub task: TaskId,
    /// Index in the task's test split.
    pub row: usize,
    pub prompt_id: String,
    pub ids: Vec<u32>,
    pub reference: String,
    pub options: Option<usize>,
    pub max_new_tokens: usize,
}

/// The model side of an evaluation: the decoder, an optional adapter and the tokenizer.
pub struct EvalModel<'a, B: Backend> {
    pub decoder: &'a Decoder<B>,
    pub adapter: Option<&'a Adapter<B>>,
    pub tokenizer: &'a TextTokenizer,
    /// Ids that end an answer (config.json, generation_config.json, tokenizer stop tokens).
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: u32,
}

/// The order rows are batched in: by token budget, then row, then task, so the tasks of one
/// budget interleave (a batch mixes them) and a short-answer task does not wait on 256-token
/// answers.
pub fn batch_order(items: &[GenerativeItem]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].max_new_tokens, items[i].row, items[i].task));
    order
}

/// Greedy answers for `batch` (rows of any tasks): generates up to the largest budget in the
/// batch and cuts each row to its own, which greedy decoding makes equal to stopping it there.
pub fn generate_batch<B: Backend>(model: &EvalModel<'_, B>, batch: &[&GenerativeItem], device: &B::Device) -> Result<Vec<GenerativePrediction>, EvalError> {
    let tasks: Vec<TaskId> = batch.iter().map(|item| item.task).collect();
    let bound = model.adapter.map(|a| a.bind(&tasks)).transpose()?;
    let lm = Lm::new(model.decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
    let prompts: Vec<Vec<u32>> = batch.iter().map(|item| item.ids.clone()).collect();
    let max_new_tokens = batch.iter().map(|item| item.max_new_tokens).max().unwrap_or(0);
    let stop = StopConfig { max_new_tokens, eos_token_ids: model.eos_token_ids.clone(), pad_token_id: model.pad_token_id };
    let outputs = generate(lm, &prompts, &mut Sampler::Greedy, &stop, device)?;
    batch
        .iter()
        .zip(outputs)
        .map(|(item, mut ids)| {
            ids.truncate(item.max_new_tokens);
            let output = model.tokenizer.decode(&ids, true)?;
            Ok(GenerativePrediction {
                row: item.row,
                prompt_id: item.prompt_id.clone(),
                task: item.task,
                output,
                reference: item.reference.clone(),
                options: item.options,
                new_tokens: ids.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(task: TaskId, row: usize, max_new_tokens: usize) -> GenerativeItem {
        GenerativeItem { task, row, prompt_id: String::new(), ids: vec![1], reference: String::new(), options: None, max_new_tokens }
    }

    #[test]
    fn batches_group_similar_budgets_and_mix_tasks() {
        let items = [
            item(TaskId::AnswerGeneration, 0, 128),
            item(TaskId::ProductMatching, 0, 4),
            item(TaskId::AnswerabilityPrediction, 0, 4),
            item(TaskId::ProductMatching, 1, 4),
        ];
        // Budget 4 first, row 0 of PM and AP side by side (PM id 8 before AP id 11), then 128.
        assert_eq!(batch_order(&items), vec![1, 2, 3, 0]);
    }
}
