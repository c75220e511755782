//! What the training stages need of checkpoints: the model config a `[policy]` section asks
//! for, a checkpoint's training text format (tokenizer, prompt, EOS and padding ids), and
//! that two checkpoints share a tokenizer. Loading a checkpoint onto an engine is
//! `ttc_engine::load_model`'s.

use std::path::Path;

use anyhow::{Context, Result};
use ttc_model::LlamaConfig;
use ttc_task::tokenizer::{PromptTemplate, Tokenizer};

use crate::preset::PolicyConfig;

/// The model config a policy section asks for, sized to the tokenizer.
pub fn policy_model_config(
    pc: &PolicyConfig,
    tok: &ttc_task::tokenizer::Tokenizer,
) -> Result<LlamaConfig> {
    let vocab = tok.get_vocab_size(true);
    let mut cfg = LlamaConfig::named(&pc.size, vocab)?;
    if let Some(v) = pc.hidden_size {
        cfg.hidden_size = v;
    }
    if let Some(v) = pc.intermediate_size {
        cfg.intermediate_size = v;
    }
    if let Some(v) = pc.num_hidden_layers {
        cfg.num_hidden_layers = v;
    }
    if let Some(v) = pc.num_attention_heads {
        cfg.num_attention_heads = v;
    }
    if let Some(v) = pc.num_key_value_heads {
        cfg.num_key_value_heads = Some(v);
    }
    cfg.max_position_embeddings = pc.max_position_embeddings;
    cfg.eos_token_id = tok.token_to_id(ttc_task::tokenizer::EOS).map(Into::into);
    cfg.pad_token_id = tok.token_to_id(ttc_task::tokenizer::PAD);
    cfg.bos_token_id = tok.token_to_id(ttc_task::tokenizer::BOS);
    cfg.validate().context("policy model config")?;
    Ok(cfg)
}

/// What training examples need of a checkpoint: its tokenizer and prompt format, and the
/// EOS and padding ids — ttc's special tokens, or for an imported model its config's
/// `eos_token_id` (the first of a list) and `pad_token_id` (else EOS).
pub struct TrainingText {
    pub tok: Tokenizer,
    pub prompt: PromptTemplate,
    pub eos: u32,
    pub pad: u32,
}

pub fn training_text(dir: &Path) -> Result<TrainingText> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    let tok = ttc_engine::checkpoint_tokenizer(dir)?;
    let prompt = PromptTemplate::load(dir)?;
    let (eos, pad) = match eos_pad(&tok) {
        Ok(ids) => ids,
        Err(_) => {
            let eos = cfg.eos_ids().first().copied().with_context(|| {
                format!(
                    "{}: config.json has no eos_token_id and the tokenizer no <|eos|> (training targets end with EOS)",
                    dir.display()
                )
            })?;
            (eos, cfg.pad_token_id.unwrap_or(eos))
        }
    };
    Ok(TrainingText {
        tok,
        prompt,
        eos,
        pad,
    })
}

/// An error unless checkpoints `a` and `b` share one tokenizer (the same `tokenizer.json`
/// bytes): a PRM initialised from `b` scores text tokenized by `a`'s tokenizer.
pub fn same_tokenizer(a: &Path, b: &Path) -> Result<()> {
    let read = |d: &Path| {
        std::fs::read(d.join("tokenizer.json"))
            .with_context(|| format!("{}", d.join("tokenizer.json").display()))
    };
    if read(a)? != read(b)? {
        anyhow::bail!(
            "{} and {}: different tokenizer.json files; the PRM must tokenize as the policy does",
            a.display(),
            b.display()
        );
    }
    Ok(())
}

/// The tokenizer's EOS and padding ids (ttc's specials).
pub fn eos_pad(tok: &ttc_task::tokenizer::Tokenizer) -> Result<(u32, u32)> {
    let eos = tok
        .token_to_id(ttc_task::tokenizer::EOS)
        .context("tokenizer has no <|eos|>")?;
    let pad = tok
        .token_to_id(ttc_task::tokenizer::PAD)
        .context("tokenizer has no <|pad|>")?;
    Ok((eos, pad))
}
