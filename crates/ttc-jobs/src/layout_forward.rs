//! Run many token layouts through a model for the outputs at chosen positions: the items
//! of one prompt (a question's N samples) share its cache — the prompt is computed once and
//! forked, each item runs only its own tokens — and items go through together, up to
//! `max_rows` rows a forward. (The outputs are the same bits as computing each item whole:
//! rows do not depend on their batch.)

use std::collections::HashMap;

use ttc_model::cpu::Row;
use ttc_model::decoder::Decoder;

use crate::Result;
use crate::prm_format::ReadLayout;

/// Per layout (`None`: none), the head outputs at `positions(layout)` — indices into its
/// tokens, each at or past its `shared` prompt; a position past the model's context reads
/// the last position inside it — `[positions, head_outputs]` row-major.
pub fn forward_layouts(
    model: &dyn Decoder,
    layouts: &[Option<ReadLayout>],
    max_rows: usize,
    positions: &dyn Fn(&ReadLayout) -> Vec<usize>,
) -> Result<Vec<Vec<f32>>> {
    let max_pos = model.max_positions();
    let width = model.head_outputs();
    let mut prompt_slot: HashMap<&[u32], usize> = HashMap::new();
    let mut prompt_tokens: Vec<&[u32]> = Vec::new();
    let mut shared: Vec<Option<usize>> = vec![None; layouts.len()];
    for (i, l) in layouts.iter().enumerate() {
        let Some(l) = l else { continue };
        let n = l.tokens.len().min(max_pos);
        if l.shared == 0 || l.shared >= n {
            continue;
        }
        let slot = *prompt_slot.entry(&l.tokens[..l.shared]).or_insert_with(|| {
            prompt_tokens.push(&l.tokens[..l.shared]);
            prompt_tokens.len() - 1
        });
        shared[i] = Some(slot);
    }
    let mut prompt_caches = crate::prefill::prefill(model, &prompt_tokens, max_rows)?;
    let mut out = vec![Vec::new(); layouts.len()];
    let mut i = 0;
    while i < layouts.len() {
        let mut rows = Vec::new();
        let mut out_rows = Vec::new();
        // (item, outputs it owns) in `out_rows` order.
        let mut owners: Vec<(usize, usize)> = Vec::new();
        let mut caches = Vec::new();
        while i < layouts.len() {
            let Some(l) = &layouts[i] else {
                i += 1;
                continue;
            };
            let n = l.tokens.len().min(max_pos);
            let (start, cache) = match shared[i] {
                Some(p) => (l.shared, prompt_caches[p].fork()),
                None => (0, model.new_cache()),
            };
            if !rows.is_empty() && rows.len() + n - start > max_rows {
                break;
            }
            let slot = caches.len();
            let base = rows.len();
            for (pos, &token) in l.tokens[..n].iter().enumerate().skip(start) {
                rows.push(Row {
                    seq: slot,
                    token,
                    pos,
                });
            }
            let at = positions(l);
            for &p in &at {
                out_rows.push(base + p.min(n - 1).max(start) - start);
            }
            owners.push((i, at.len()));
            caches.push(cache);
            i += 1;
        }
        if rows.is_empty() {
            continue;
        }
        let outputs = model.forward(&mut caches, &rows, &out_rows)?;
        let mut k = 0;
        for (item, count) in owners {
            out[item] = outputs[k * width..(k + count) * width].to_vec();
            k += count;
        }
    }
    Ok(out)
}
