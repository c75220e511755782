//! Prefill token sequences into fresh KV caches, as few forwards as `max_rows` allows
//! (the shared prompts of the batch scorer and of the search verifier).

use ttc_model::cpu::Row;
use ttc_model::decoder::{Decoder, KvCache};

/// One new cache per sequence of `seqs`, holding it; sequences go through the model
/// together up to `max_rows` rows a forward (at least one sequence).
pub fn prefill(
    model: &dyn Decoder,
    seqs: &[&[u32]],
    max_rows: usize,
) -> ttc_model::Result<Vec<KvCache>> {
    let mut out = Vec::with_capacity(seqs.len());
    let mut k = 0;
    while k < seqs.len() {
        let mut end = k + 1;
        let mut rows_in = seqs[k].len();
        while end < seqs.len() && rows_in + seqs[end].len() <= max_rows {
            rows_in += seqs[end].len();
            end += 1;
        }
        let chunk = &seqs[k..end];
        let mut caches: Vec<KvCache> = chunk.iter().map(|_| model.new_cache()).collect();
        let rows: Vec<Row> = chunk
            .iter()
            .enumerate()
            .flat_map(|(seq, t)| {
                t.iter()
                    .enumerate()
                    .map(move |(pos, &token)| Row { seq, token, pos })
            })
            .collect();
        model.forward(&mut caches, &rows, &[])?;
        out.extend(caches);
        k = end;
    }
    Ok(out)
}
