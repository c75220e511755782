//! A causal LM made ready to train as a generative PRM in Math-Shepherd's format (DESIGN §6,
//! lever (b)): the step label becomes a next-token prediction at a step tag, so the
//! checkpoint stays a causal LM that the field's Math-Shepherd readers load.
//!
//! [`add_step_tag`] writes a copy of a checkpoint whose tokenizer has the tag `ки` as one
//! added token (not special: `tokenizer.encode` keeps it), whose embeddings and LM head have a
//! row for it (the mean of the others: where transformers' `resize_token_embeddings` centres
//! a new row), whose prompt is Math-Shepherd's (`{problem} `) and whose `prm_format.json`
//! says `math-shepherd`.

use std::path::Path;

use tokenizers::AddedToken;
use ttc_model::CpuBackend;
use ttc_model::io::hf_io::{load_checkpoint, save_checkpoint, write_tokenizer_files};
use ttc_model::io::weights::HostTensor;
use ttc_model::model::Transformer;
use ttc_task::tokenizer::Tokenizer;

use crate::prm_format::{PrmFormat, SHEPHERD_TAG};
use crate::{Error, Result};

/// The tensors with a row per token.
const VOCAB_ROWS: [&str; 2] = ["model.embed_tokens.weight", "lm_head.weight"];

/// Write `from`'s checkpoint with Math-Shepherd's step tag into `to` (see the module doc);
/// the tag's token id. A tokenizer that has the tag already keeps its id (and the model its
/// rows).
pub fn add_step_tag(from: &Path, to: &Path) -> Result<u32> {
    let tok_file = from.join("tokenizer.json");
    let mut tok = Tokenizer::from_file(&tok_file)
        .map_err(|e| Error::Input(format!("{}: {e}", tok_file.display())))?;
    if tok.token_to_id(SHEPHERD_TAG).is_none() {
        tok.add_tokens(&[AddedToken::from(SHEPHERD_TAG, false)]);
    }
    let tag = tok.token_to_id(SHEPHERD_TAG).ok_or_else(|| {
        Error::Input(format!(
            "{}: cannot add {SHEPHERD_TAG:?}",
            tok_file.display()
        ))
    })?;
    let model = load_checkpoint::<CpuBackend>(from, &Default::default())?;
    let mut cfg = model.config().clone();
    let need = tag as usize + 1;
    let model = if need > cfg.vocab_size {
        let mut w = model.to_weights();
        for name in VOCAB_ROWS {
            if let Some(t) = w.get_mut(name) {
                grow_rows(t, need);
            }
        }
        cfg.vocab_size = need;
        Transformer::<CpuBackend>::from_weights(&cfg, w, from, &Default::default())?
    } else {
        model
    };
    std::fs::create_dir_all(to).map_err(|e| Error::Input(format!("{}: {e}", to.display())))?;
    save_checkpoint(to, &model)?;
    let json = tok
        .to_string(false)
        .map_err(|e| Error::Input(format!("{}: {e}", tok_file.display())))?;
    let out_tok = to.join("tokenizer.json");
    ttc_core::atomic::write_atomic(&out_tok, json.as_bytes())
        .map_err(|e| Error::Input(format!("{}: {e}", out_tok.display())))?;
    write_tokenizer_files(to, &out_tok, cfg.max_position_embeddings)?;
    let prompt = PrmFormat::MathShepherd.default_prompt().unwrap_or_default();
    prompt
        .save(to)
        .map_err(|e| Error::Input(format!("{}: {e}", to.display())))?;
    PrmFormat::MathShepherd.save(to)?;
    Ok(tag)
}

/// `t` (`[rows, width]`) grown to `rows` rows, each new one the mean of the old ones.
fn grow_rows(t: &mut HostTensor, rows: usize) {
    let (old, width) = (t.shape[0], t.shape[1]);
    let mut mean = vec![0f64; width];
    for r in t.data.chunks_exact(width) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64;
        }
    }
    let row: Vec<f32> = mean
        .iter()
        .map(|m| (m / old.max(1) as f64) as f32)
        .collect();
    for _ in old..rows {
        t.data.extend_from_slice(&row);
    }
    t.shape[0] = rows.max(old);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rows_are_the_mean_of_the_old() {
        let mut t = HostTensor {
            shape: vec![2, 3],
            data: vec![1.0, 2.0, 3.0, 3.0, 4.0, 5.0],
        };
        grow_rows(&mut t, 4);
        assert_eq!(t.shape, vec![4, 3]);
        assert_eq!(&t.data[6..], &[2.0, 3.0, 4.0, 2.0, 3.0, 4.0]);
    }
}
