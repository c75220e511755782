//! SFT examples and batches. An example is prompt + target + EOS; the loss covers the
//! target and EOS only (prompt tokens masked). Batches group examples of similar length
//! (less padding) in a seeded order, so a run — and a resumed run — sees the same batches.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// One tokenized example.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Example {
    /// Prompt then target tokens (EOS last).
    pub tokens: Vec<u32>,
    /// Number of prompt tokens (no loss on predicting them).
    pub prompt_len: usize,
    /// Score-head targets (PRM / ORM): (index into `tokens`, soft label in [0, 1]).
    /// The last token is never an input, so score positions must be before it.
    pub scores: Vec<(usize, f32)>,
    /// The question it answers, when the loss compares a question's solutions with each
    /// other (a group's examples then share a batch).
    pub group: Option<u32>,
}

impl Example {
    /// Tokens that carry loss.
    pub fn target_len(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }
}

/// Indices of the examples in each batch of epoch `epoch`: examples shuffled (seeded by
/// `seed` and `epoch`), sorted by length within windows of 32 batches, cut so that a
/// batch holds at most `batch_tokens` tokens including padding, and the batch order
/// shuffled again.
pub fn epoch_batches(
    examples: &[Example],
    batch_tokens: usize,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    if !examples.is_empty() && examples.iter().all(|e| e.group.is_some()) {
        return group_batches(examples, batch_tokens, &mut rng);
    }
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    idx.shuffle(&mut rng);
    let avg = examples.iter().map(|e| e.tokens.len()).sum::<usize>() / examples.len().max(1);
    let window = (32 * batch_tokens / avg.max(1)).max(1);
    let mut batches = Vec::new();
    for w in idx.chunks_mut(window) {
        w.sort_by_key(|&i| (examples[i].tokens.len(), i));
        let mut cur: Vec<usize> = Vec::new();
        let mut longest = 0;
        for &i in w.iter() {
            let len = examples[i].tokens.len() - 1;
            let new_longest = longest.max(len);
            if !cur.is_empty() && new_longest * (cur.len() + 1) > batch_tokens {
                batches.push(std::mem::take(&mut cur));
                longest = 0;
            }
            longest = longest.max(len);
            cur.push(i);
        }
        if !cur.is_empty() {
            batches.push(cur);
        }
    }
    batches.shuffle(&mut rng);
    batches
}

/// Batches of whole groups (every example of a question in one batch): groups in a seeded
/// order, packed while the longest example times the count fits `batch_tokens` (a group
/// larger than that is a batch of its own).
fn group_batches(examples: &[Example], batch_tokens: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut groups: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, e) in examples.iter().enumerate() {
        groups.entry(e.group.unwrap_or(0)).or_default().push(i);
    }
    let mut order: Vec<Vec<usize>> = groups.into_values().collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    let (mut cur, mut longest): (Vec<usize>, usize) = (Vec::new(), 0);
    for g in order {
        let gl = g
            .iter()
            .map(|&i| examples[i].tokens.len() - 1)
            .max()
            .unwrap_or(0);
        if !cur.is_empty() && longest.max(gl) * (cur.len() + g.len()) > batch_tokens {
            batches.push(std::mem::take(&mut cur));
            longest = 0;
        }
        longest = longest.max(gl);
        cur.extend(g);
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

/// Tensors of one batch: inputs `[b, t]`, next-token targets `[b, t]`, loss mask `[b, t]`.
pub struct Batch<B: Backend> {
    pub inputs: Tensor<B, 2, Int>,
    pub targets: Tensor<B, 2, Int>,
    pub mask: Tensor<B, 2>,
    /// Score-head targets and their mask `[b, t]` (all zero for LM examples).
    pub score_targets: Tensor<B, 2>,
    pub score_mask: Tensor<B, 2>,
    /// Positions carrying a score target.
    pub score_count: usize,
    /// Tokens carrying loss.
    pub loss_tokens: usize,
    /// Real (non-padding) input tokens.
    pub tokens: usize,
    /// Per scored step, the weights averaging its prefix's next-token positions `[k, b·t]`
    /// and its label `[k]` (a causal-LM PRM's reading); `None` without scored steps.
    pub step_prefixes: Option<(Tensor<B, 2>, Tensor<B, 1>)>,
    /// Each of those steps' group, when every example has one.
    pub step_groups: Option<Vec<u32>>,
}

/// Right-pad with `pad` and build the tensors.
pub fn make_batch<B: Backend>(examples: &[&Example], pad: u32, dev: &B::Device) -> Batch<B> {
    let t = examples
        .iter()
        .map(|e| e.tokens.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);
    let b = examples.len();
    let mut inputs = vec![pad as i64; b * t];
    let mut targets = vec![pad as i64; b * t];
    let mut mask = vec![0.0f32; b * t];
    let mut st = vec![0.0f32; b * t];
    let mut sm = vec![0.0f32; b * t];
    let (mut loss_tokens, mut tokens, mut score_count) = (0, 0, 0);
    let (mut prefix_w, mut prefix_y, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for (r, e) in examples.iter().enumerate() {
        let n = e.tokens.len() - 1;
        tokens += n;
        for j in 0..n {
            inputs[r * t + j] = e.tokens[j] as i64;
            targets[r * t + j] = e.tokens[j + 1] as i64;
            if j + 1 >= e.prompt_len {
                mask[r * t + j] = 1.0;
                loss_tokens += 1;
            }
        }
        for &(pos, y) in &e.scores {
            if pos < n {
                st[r * t + pos] = y;
                sm[r * t + pos] = 1.0;
                score_count += 1;
                // Tokens prompt_len..=pos, each predicted one position earlier.
                let first = e.prompt_len.max(1);
                if pos >= first {
                    let mut w = vec![0.0f32; b * t];
                    let share = 1.0 / (pos + 1 - first) as f32;
                    w[r * t + first - 1..r * t + pos].fill(share);
                    prefix_w.extend(w);
                    prefix_y.push(y);
                    groups.push(e.group);
                }
            }
        }
    }
    let k = prefix_y.len();
    let step_prefixes = (k > 0).then(|| {
        (
            Tensor::from_data(TensorData::new(prefix_w, [k, b * t]), dev),
            Tensor::from_data(TensorData::new(prefix_y, [k]), dev),
        )
    });
    Batch {
        inputs: Tensor::from_data(TensorData::new(inputs, [b, t]), dev),
        targets: Tensor::from_data(TensorData::new(targets, [b, t]), dev),
        mask: Tensor::from_data(TensorData::new(mask, [b, t]), dev),
        score_targets: Tensor::from_data(TensorData::new(st, [b, t]), dev),
        score_mask: Tensor::from_data(TensorData::new(sm, [b, t]), dev),
        score_count,
        loss_tokens,
        tokens,
        step_prefixes,
        step_groups: groups.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_model::CpuBackend;

    fn ex(len: usize, prompt: usize) -> Example {
        Example {
            group: None,
            tokens: (0..len as u32).map(|i| i + 10).collect(),
            prompt_len: prompt,
            scores: vec![],
        }
    }

    #[test]
    fn batches_cover_each_example_once_within_budget_and_reproduce() {
        let exs: Vec<Example> = (0..300).map(|i| ex(5 + i % 40, 3)).collect();
        let a = epoch_batches(&exs, 200, 1, 0);
        let mut seen: Vec<usize> = a.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..300).collect::<Vec<_>>());
        for b in &a {
            let longest = b.iter().map(|&i| exs[i].tokens.len() - 1).max().unwrap();
            assert!(longest * b.len() <= 200 || b.len() == 1);
        }
        assert_eq!(a, epoch_batches(&exs, 200, 1, 0));
        assert_ne!(a, epoch_batches(&exs, 200, 1, 1));
    }

    #[test]
    fn mask_covers_target_and_eos_only() {
        let e = ex(6, 3); // tokens 10..16, prompt 10 11 12
        let b = make_batch::<CpuBackend>(&[&e, &ex(3, 2)], 0, &Default::default());
        let mask = b.mask.into_data().to_vec::<f32>().unwrap();
        // Row 0 predicts tokens 1..6; tokens 3,4,5 are target → positions 2,3,4.
        assert_eq!(&mask[..5], &[0.0, 0.0, 1.0, 1.0, 1.0]);
        // Row 1: 2 inputs, predicts token index 2 (target) at position 1; rest padding.
        assert_eq!(&mask[5..], &[0.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(b.loss_tokens, 4);
        let tg = b
            .targets
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .unwrap();
        assert_eq!(&tg[..5], &[11, 12, 13, 14, 15]);
    }

    #[test]
    fn step_prefixes_average_the_positions_that_predict_each_prefix() {
        // Tokens 10..16, prompt 10 11; steps end at tokens 3 and 5. Step 0 covers tokens
        // 2..=3 (predicted at positions 1, 2), step 1 tokens 2..=5 (positions 1..=4).
        let mut e = ex(7, 2);
        e.scores = vec![(3, 0.75), (5, 0.25)];
        let b = make_batch::<CpuBackend>(&[&e, &ex(3, 2)], 0, &Default::default());
        let (w, y) = b.step_prefixes.unwrap();
        assert_eq!(w.dims(), [2, 2 * 6]);
        let w = w.into_data().to_vec::<f32>().unwrap();
        let q = 0.25f32;
        assert_eq!(&w[..6], &[0.0, 0.5, 0.5, 0.0, 0.0, 0.0]);
        assert_eq!(&w[12..18], &[0.0, q, q, q, q, 0.0]);
        assert!(w[6..12].iter().chain(&w[18..]).all(|&x| x == 0.0));
        assert_eq!(y.into_data().to_vec::<f32>().unwrap(), [0.75, 0.25]);
        // LM examples carry none.
        let lm = make_batch::<CpuBackend>(&[&ex(5, 2)], 0, &Default::default());
        assert!(lm.step_prefixes.is_none());
    }
}
