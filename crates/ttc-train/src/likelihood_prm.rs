//! The likelihood PRM (DESIGN §6): a causal LM whose step score is its own calibrated
//! likelihood of the solution up to the step, `sigmoid(slope · mean log p + intercept)` —
//! the reading of the likelihood scorer — fine-tuned so that reading matches the Monte Carlo
//! labels. A score head must learn to recompute a step to judge it; the LM's next-token
//! distribution already compares what was written with what it expected, which is where a
//! small model's knowledge of right and wrong sits. The checkpoint stays a plain causal LM.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use ttc_model::model::Transformer;

use crate::sft_data::{Example, epoch_batches, make_batch};

/// Each scored step's `(mean log p of its prefix, label)` under `model`, in `examples`'
/// order and each example's score order — what [`crate::loss::StepCalibration`] is fitted on.
pub fn step_prefix_means<B: Backend>(
    model: &Transformer<B>,
    examples: &[Example],
    batch_tokens: usize,
    pad: u32,
) -> Vec<(f64, f32)> {
    let dev = model.devices().into_iter().next().unwrap_or_default();
    let mut by_example: Vec<Vec<(f64, f32)>> = vec![Vec::new(); examples.len()];
    for b in epoch_batches(examples, batch_tokens, 0, 0) {
        let refs: Vec<&Example> = b.iter().map(|&i| &examples[i]).collect();
        let batch = make_batch::<B>(&refs, pad, &dev);
        let Some((weights, labels)) = batch.step_prefixes else {
            continue;
        };
        let means = prefix_means(model.forward(batch.inputs), batch.targets, weights);
        let labels = labels.into_data().to_vec::<f32>().unwrap_or_default();
        // make_batch emits an example's steps in order, examples in batch order.
        let mut k = 0;
        for &i in &b {
            let e = &examples[i];
            let n = e.tokens.len() - 1;
            for &(pos, _) in &e.scores {
                if pos < n && pos >= e.prompt_len.max(1) {
                    by_example[i].push((means[k], labels[k]));
                    k += 1;
                }
            }
        }
    }
    by_example.into_iter().flatten().collect()
}

/// `weights · log p(next token)`: each row's weighted mean log-likelihood.
fn prefix_means<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    weights: Tensor<B, 2>,
) -> Vec<f64> {
    let [b, t, v] = logits.dims();
    let lp = burn::tensor::activation::log_softmax(logits.reshape([b * t, v]), 1)
        .gather(1, targets.reshape([b * t, 1]));
    weights
        .matmul(lp)
        .into_data()
        .iter::<f32>()
        .map(|x| x.elem::<f64>())
        .collect()
}
