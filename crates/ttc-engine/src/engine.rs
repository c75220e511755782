//! Batched generation on the CPU decoder (DESIGN §4): many sequences of different lengths
//! step together; a prompt is prefilled once and its cache forked for every continuation;
//! per-sequence seeds; stop strings kept in the output; every computed token counted.
//!
//! A [`Sequence`] is a resumable state (cache + tokens + next-token logits), so search can
//! generate one step, score, fork the survivors and continue without recomputing prefixes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;
use ttc_task::tokenizer::PromptTemplate;

use ttc_model::cpu::Row;
use ttc_model::decoder::{Decoder, KvCache};
use ttc_model::engine_spec::LongPrompts;
pub use ttc_model::generation::{FinishReason, Generation};
use ttc_model::generation::{check_tokenizer_fits, eos_ids, stop_hit};
use ttc_model::sampling::SamplingParams;
use ttc_model::{Error, Result};

/// A resumable sequence: everything in `tokens` except `pending` is in `cache`.
#[derive(Debug)]
pub struct Sequence {
    pub cache: KvCache,
    pub tokens: Vec<u32>,
    /// A sampled token not yet run through the model (fed first when generation resumes).
    pub pending: Option<u32>,
    /// Next-token logits after the cached tokens (valid when `pending` is `None`).
    pub logits: Arc<Vec<f32>>,
}

impl Sequence {
    /// A copy sharing this sequence's cache blocks (no recomputation, no KV copy).
    pub fn fork(&mut self) -> Sequence {
        Sequence {
            cache: self.cache.fork(),
            tokens: self.tokens.clone(),
            pending: self.pending,
            logits: self.logits.clone(),
        }
    }
}

/// Token counters (relaxed atomics: the engine is shared by reference).
#[derive(Debug, Default)]
pub struct Counters {
    /// Prompt/prefix tokens run through the model.
    pub prefill_tokens: AtomicU64,
    /// Generated tokens run through the model.
    pub decode_tokens: AtomicU64,
    /// Tokens sampled.
    pub sampled_tokens: AtomicU64,
}

/// Snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub sampled_tokens: u64,
}

impl TokenCounts {
    /// All tokens the model computed.
    pub fn computed(&self) -> u64 {
        self.prefill_tokens + self.decode_tokens
    }
}

/// Positions a left-truncated prompt leaves for generation (at most a quarter of the
/// context).
pub const LONG_PROMPT_RESERVE: usize = 512;

/// The sampler: a model, its tokenizer's token texts, and batching limits.
pub struct Engine<'m> {
    pub model: &'m dyn Decoder,
    tokenizer: &'m Tokenizer,
    token_bytes: Vec<Vec<u8>>,
    /// Token bytes are exact (byte-level BPE), so text is built from them directly.
    byte_level: bool,
    eos: Vec<u32>,
    /// How a problem becomes this model's prompt.
    prompt: PromptTemplate,
    /// Sequences per decode step.
    pub max_batch: usize,
    /// Rows per prefill forward.
    pub max_prefill_rows: usize,
    pub counters: Counters,
    long_prompts: LongPrompts,
}

use ttc_core::seed::derive_seed;

impl<'m> Engine<'m> {
    /// `eos` defaults to the model config's EOS ids plus the tokenizer's `<|eos|>` if any.
    pub fn new(model: &'m dyn Decoder, tokenizer: &'m Tokenizer) -> Result<Self> {
        let vocab_size = model.config().vocab_size;
        check_tokenizer_fits(tokenizer, vocab_size).map_err(Error::Tokenizer)?;
        let byte_level = matches!(
            tokenizer.get_decoder(),
            Some(tokenizers::DecoderWrapper::ByteLevel(_))
        );
        let inverse = byte_level.then(byte_level_inverse);
        let token_bytes = (0..vocab_size as u32)
            .map(|id| match (&inverse, tokenizer.id_to_token(id)) {
                // Byte-level BPE: a token's characters map back to its exact bytes, even
                // when they are a fragment of a multi-byte character.
                (Some(inv), Some(piece))
                    if !tokenizer.get_added_vocabulary().is_special_token(&piece) =>
                {
                    piece
                        .chars()
                        .map(|c| inv.get(&c).copied())
                        .collect::<Option<Vec<u8>>>()
                        .unwrap_or_else(|| piece.into_bytes())
                }
                _ => tokenizer
                    .decode(&[id], false)
                    .map(|s| s.into_bytes())
                    .unwrap_or_default(),
            })
            .collect();
        let eos = eos_ids(model.config(), tokenizer);
        Ok(Engine {
            model,
            tokenizer,
            token_bytes,
            byte_level,
            eos,
            prompt: PromptTemplate::default(),
            long_prompts: LongPrompts::Refuse,
            max_batch: 256,
            max_prefill_rows: 2048,
            counters: Counters::default(),
        })
    }

    /// An engine without a tokenizer (benchmarks on raw ids): no stop strings, no text,
    /// EOS only from the model config.
    pub fn untokenized(model: &'m dyn Decoder) -> Self {
        static EMPTY: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
        let tok = EMPTY.get_or_init(|| Tokenizer::new(tokenizers::models::bpe::BPE::default()));
        Engine::new(model, tok).expect("an empty tokenizer fits any model")
    }

    pub fn counts(&self) -> TokenCounts {
        TokenCounts {
            prefill_tokens: self.counters.prefill_tokens.load(Ordering::Relaxed),
            decode_tokens: self.counters.decode_tokens.load(Ordering::Relaxed),
            sampled_tokens: self.counters.sampled_tokens.load(Ordering::Relaxed),
        }
    }

    /// Replace the end-of-sequence ids (e.g. none, to always generate to the length limit).
    pub fn set_eos(&mut self, ids: Vec<u32>) {
        self.eos = ids;
    }

    /// Whether `id` ends a generation.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.contains(&id)
    }

    /// The end-of-sequence ids.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// The bytes token `id` contributes to generated text.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        &self.token_bytes[id as usize]
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        self.tokenizer
    }

    /// Tokenize text (no special tokens added).
    /// Use `prompt` (the checkpoint's [`PromptTemplate`]) for [`Engine::encode_prompt`].
    pub fn with_prompt(mut self, prompt: PromptTemplate) -> Self {
        self.prompt = prompt;
        self
    }

    pub fn prompt(&self) -> &PromptTemplate {
        &self.prompt
    }

    /// What to do with prompts longer than the context (default: refuse).
    pub fn with_long_prompts(mut self, long: LongPrompts) -> Self {
        self.long_prompts = long;
        self
    }

    /// The prompt tokens of a problem, in this model's prompt format. A prompt that leaves
    /// fewer than [`LONG_PROMPT_RESERVE`] positions (or a quarter of the context, if less)
    /// to generate in is refused with an error naming the problem and both lengths, or cut
    /// from the left to leave them, as [`Engine::with_long_prompts`] says.
    pub fn encode_prompt(&self, problem: &str) -> Result<Vec<u32>> {
        let text = self
            .prompt
            .render(problem)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut ids = self.encode_prompt_text(&text)?;
        let max = self.model.max_positions();
        let reserve = LONG_PROMPT_RESERVE.min(max / 4).max(1);
        match self.long_prompts {
            LongPrompts::Refuse if ids.len() >= max => {
                let head: String = problem.chars().take(60).collect();
                return Err(Error::Config(format!(
                    "a prompt of {} tokens does not fit the model's context of {max} positions (max_position_embeddings), problem {head:?}… (engine long_prompts = \"truncate-left\" keeps its last tokens)",
                    ids.len()
                )));
            }
            LongPrompts::TruncateLeft if ids.len() + reserve > max => {
                ids.drain(..ids.len() + reserve - max);
            }
            _ => {}
        }
        Ok(ids)
    }

    /// A rendered prompt's ids, special tokens added as transformers' `tokenizer(text)` adds
    /// them for a format-string prompt (Llama-3's BOS, from the tokenizer's post-processor)
    /// and not for a chat prompt, whose template writes its own.
    pub fn encode_prompt_text(&self, text: &str) -> Result<Vec<u32>> {
        self.prompt
            .encode_text(self.tokenizer, text)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Ids of `text` and each token's byte span (step boundaries map through these).
    pub fn encode_with_offsets(&self, text: &str) -> Result<ttc_task::tokenizer::Encoded> {
        ttc_task::tokenizer::encode_with_offsets(self.tokenizer, text)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Prefill prompts (each once), batching their rows.
    pub fn prefill(&self, prompts: &[Vec<u32>]) -> Result<Vec<Sequence>> {
        let mut seqs: Vec<Sequence> = prompts
            .iter()
            .map(|_| Sequence {
                cache: self.model.new_cache(),
                tokens: Vec::new(),
                pending: None,
                logits: Arc::new(Vec::new()),
            })
            .collect();
        let ext: Vec<(usize, &[u32])> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.as_slice()))
            .collect();
        self.extend(&mut seqs, &ext)?;
        Ok(seqs)
    }

    /// Append tokens to existing sequences (a pending token goes first), computing their
    /// K/V and the new next-token logits. `items` are (index into `seqs`, tokens).
    /// On an error the sequences involved are left without their cache.
    pub fn extend(&self, seqs: &mut [Sequence], items: &[(usize, &[u32])]) -> Result<()> {
        let mut i = 0;
        while i < items.len() {
            // Group items into one forward of at most max_prefill_rows rows.
            let mut rows = 0;
            let mut j = i;
            while j < items.len() {
                let n = items[j].1.len() + seqs[items[j].0].pending.is_some() as usize;
                if j > i && rows + n > self.max_prefill_rows {
                    break;
                }
                rows += n;
                j += 1;
            }
            self.extend_group(seqs, &items[i..j])?;
            i = j;
        }
        Ok(())
    }

    fn extend_group(&self, seqs: &mut [Sequence], items: &[(usize, &[u32])]) -> Result<()> {
        let mut caches: Vec<KvCache> = Vec::with_capacity(items.len());
        let mut rows = Vec::new();
        let mut out_rows = Vec::new();
        let mut fed: Vec<Vec<u32>> = Vec::with_capacity(items.len());
        // A remote causal LM samples on its server: no logits come back here.
        let remote = self.model.remote().is_some();
        for (slot, &(si, toks)) in items.iter().enumerate() {
            let s = &mut seqs[si];
            let mut feed: Vec<u32> = s.pending.take().into_iter().collect();
            feed.extend_from_slice(toks);
            let start = s.cache.len();
            for (k, &t) in feed.iter().enumerate() {
                rows.push(Row {
                    seq: slot,
                    token: t,
                    pos: start + k,
                });
            }
            if !feed.is_empty() && !remote {
                out_rows.push(rows.len() - 1);
            }
            caches.push(std::mem::replace(&mut s.cache, KvCache::placeholder()));
            fed.push(feed);
        }
        let logits = self.model.forward(&mut caches, &rows, &out_rows)?;
        self.counters
            .prefill_tokens
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        let v = self.model.head_outputs();
        let mut o = 0;
        for ((&(si, toks), cache), feed) in items.iter().zip(caches).zip(fed) {
            let s = &mut seqs[si];
            s.cache = cache;
            // A pending token is already in `tokens` (it was appended when sampled).
            s.tokens.extend_from_slice(toks);
            if !feed.is_empty() && !remote {
                s.logits = Arc::new(logits[o * v..(o + 1) * v].to_vec());
                o += 1;
            }
        }
        Ok(())
    }

    /// Text of generated ids (EOS dropped); cut right after a stop string when `stop` is
    /// given. Byte-level tokenizers: exactly the tokens' bytes; others: the tokenizer's
    /// own decode (which handles their whitespace conventions).
    pub(crate) fn decode_text(&self, ids: &[u32], stop: Option<&[String]>) -> String {
        let ids: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|t| !self.eos.contains(t))
            .collect();
        let mut bytes = if self.byte_level {
            ids.iter()
                .flat_map(|&t| self.token_bytes[t as usize].iter().copied())
                .collect()
        } else {
            self.tokenizer
                .decode(&ids, false)
                .map(String::into_bytes)
                .unwrap_or_default()
        };
        if let Some(end) = stop.and_then(|s| stop_hit(&bytes, 0, s)) {
            bytes.truncate(end);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// `n` continuations of each prompt: each prompt is prefilled once, its cache forked
    /// `n` ways. Continuation `j` of prompt `i` is seeded `derive_seed(seed, i, j)`.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        n: usize,
        params: &SamplingParams,
        seed: u64,
    ) -> Result<Vec<Vec<Generation>>> {
        let mut base = self.prefill(prompts)?;
        let mut seqs = Vec::with_capacity(prompts.len() * n);
        let mut seeds = Vec::with_capacity(prompts.len() * n);
        for (i, b) in base.iter_mut().enumerate() {
            for j in 0..n {
                seqs.push(b.fork());
                seeds.push(derive_seed(seed, i as u64, j as u64));
            }
        }
        drop(base);
        let mut out: Vec<Vec<Generation>> = vec![Vec::with_capacity(n); prompts.len()];
        for (k, (_, g)) in self.decode(seqs, params, &seeds)?.into_iter().enumerate() {
            out[k / n.max(1)].push(g);
        }
        Ok(out)
    }
}

/// GPT-2's byte ↔ printable-character table, inverted (char → byte).
fn byte_level_inverse() -> std::collections::HashMap<char, u8> {
    let mut map = std::collections::HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        let c = if printable {
            b as u32
        } else {
            extra += 1;
            255 + extra
        };
        map.insert(char::from_u32(c).expect("valid scalar"), b);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_a_bijection() {
        let inv = byte_level_inverse();
        assert_eq!(inv.len(), 256);
        assert_eq!(inv[&'Ċ'], b'\n');
        assert_eq!(inv[&'Ġ'], b' ');
        assert_eq!(inv[&'a'], b'a');
    }
}
