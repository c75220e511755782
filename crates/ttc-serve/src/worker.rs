//! One model's worker: a thread that owns the engine and runs continuous batching.
//! Requests wait in a bounded queue; between decode steps the worker admits whatever has
//! arrived (while fewer than `max_active` sequences are live), prefills the new prompts in
//! one batch, forks each prompt `n` ways (its prefill shared), and steps every live
//! sequence together. A request is answered when its last choice ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use tokenizers::Tokenizer;
use tokio::sync::oneshot;

use crate::prefix_cache::PrefixCache;
use ttc_engine::decoding::{Admit, Decoding};
use ttc_engine::{Engine, Generation, Sequence};
use ttc_model::decoder::Decoder;
use ttc_model::sampling::SamplingParams;

/// How long an idle worker waits for more requests after the first.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// A completions request, checked and tokenized.
pub struct CompleteJob {
    pub prompts: Vec<Vec<u32>>,
    pub n: usize,
    pub params: SamplingParams,
    pub seed: u64,
    pub reply: Reply,
}

/// A finished request: its generations per prompt, and how many prompt tokens came from
/// the prefix cache.
pub struct Done {
    pub generations: Vec<Vec<Generation>>,
    pub cached_tokens: usize,
}

/// Per-token head outputs of each input.
pub struct PoolJob {
    pub inputs: Vec<Vec<u32>>,
    pub reply: oneshot::Sender<Result<Vec<Vec<Vec<f32>>>, String>>,
}

pub enum Job {
    Complete(CompleteJob),
    Pool(PoolJob),
}

/// A request being decoded: its choices as they end.
struct Live {
    choices: Vec<Option<Generation>>,
    left: usize,
    n: usize,
    cached_tokens: usize,
    reply: Reply,
}

/// Run the worker until every sender is gone.
pub fn run(
    model: Box<dyn Decoder>,
    tok: Tokenizer,
    jobs: Receiver<Job>,
    max_batch: usize,
    max_active: usize,
    prefix_cache: usize,
) {
    let engine = match Engine::new(&*model, &tok) {
        Ok(mut e) => {
            e.max_batch = max_batch;
            e
        }
        Err(e) => {
            // The server checked the pair at start; answer anything that comes anyway.
            for j in jobs {
                fail(j, &format!("engine: {e}"));
            }
            return;
        }
    };
    let mut cache = PrefixCache::new(prefix_cache);
    let mut d: Decoding<(u64, usize)> = Decoding::default();
    let mut live: HashMap<u64, Live> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        // Take what has arrived; block only when nothing is live.
        let mut new = Vec::new();
        if d.is_empty() {
            match jobs.recv() {
                Ok(j) => new.push(j),
                Err(_) => return,
            }
            // Requests sent together arrive a little apart: gather them into one batch
            // (a short wait, only when the worker was idle).
            while new.iter().map(size).sum::<usize>() < max_active {
                match jobs.recv_timeout(GATHER) {
                    Ok(j) => new.push(j),
                    Err(_) => break,
                }
            }
        }
        let mut waiting: usize = new.iter().map(size).sum();
        while d.len() + waiting < max_active {
            match jobs.try_recv() {
                Ok(j) => {
                    waiting += size(&j);
                    new.push(j);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if d.is_empty() && new.is_empty() => return,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let mut admits = Vec::new();
        for j in new {
            match j {
                Job::Pool(p) => {
                    let r = pool(&engine, &p.inputs);
                    let _ = p.reply.send(r);
                }
                Job::Complete(c) => match start(&engine, c, next_id, &mut live, &mut cache) {
                    Ok(a) => {
                        admits.extend(a);
                        next_id += 1;
                    }
                    Err((reply, e)) => {
                        let _ = reply.send(Err(e));
                    }
                },
            }
        }
        if !admits.is_empty()
            && let Err(e) = engine.admit(&mut d, admits)
        {
            abort_all(&mut d, &mut live, &e.to_string());
            continue;
        }
        if d.is_empty() {
            continue;
        }
        match engine.step(&mut d) {
            Ok(done) => {
                for f in done {
                    let (id, j) = f.tag;
                    let l = live.get_mut(&id).expect("live request");
                    l.choices[j] = Some(f.generation);
                    cache.insert(f.seq);
                    l.left -= 1;
                    if l.left == 0 {
                        let l = live.remove(&id).expect("live request");
                        let all: Vec<Generation> =
                            l.choices.into_iter().map(|c| c.expect("ended")).collect();
                        let generations = all.chunks(l.n).map(<[Generation]>::to_vec).collect();
                        let _ = l.reply.send(Ok(Done {
                            generations,
                            cached_tokens: l.cached_tokens,
                        }));
                    }
                }
            }
            Err(e) => abort_all(&mut d, &mut live, &e.to_string()),
        }
    }
}

fn size(j: &Job) -> usize {
    match j {
        Job::Complete(c) => c.prompts.len() * c.n,
        Job::Pool(_) => 0,
    }
}

pub type Reply = oneshot::Sender<Result<Done, String>>;
/// A choice being decoded: (request id, choice index).
type Tag = (u64, usize);

/// Bring a request's prompts into cache — from the prefix cache where a kept sequence
/// starts them, computing only the rest — and fork each `n` ways; choice `j` of a prompt is
/// seeded `seed + j`.
fn start(
    engine: &Engine,
    c: CompleteJob,
    id: u64,
    live: &mut HashMap<u64, Live>,
    cache: &mut PrefixCache,
) -> Result<Vec<Admit<Tag>>, (Reply, String)> {
    let mut found: Vec<Option<(Sequence, usize)>> =
        c.prompts.iter().map(|p| cache.lookup(p)).collect();
    let fresh: Vec<Vec<u32>> = c
        .prompts
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    let mut prefilled = match engine.prefill(&fresh) {
        Ok(b) => b.into_iter(),
        Err(e) => return Err((c.reply, e.to_string())),
    };
    let mut cached_tokens = 0;
    let mut bases: Vec<Sequence> = Vec::with_capacity(c.prompts.len());
    let mut rest: Vec<(usize, &[u32])> = Vec::new();
    for (p, f) in found.iter_mut().enumerate() {
        match f.take() {
            Some((seq, n)) => {
                cached_tokens += n;
                // The rest of the prompt, and a pending token, computed once before forks.
                if n < c.prompts[p].len() || seq.pending.is_some() {
                    rest.push((p, &c.prompts[p][n..]));
                }
                bases.push(seq);
            }
            None => bases.push(prefilled.next().expect("one per fresh prompt")),
        }
    }
    if !rest.is_empty()
        && let Err(e) = engine.extend(&mut bases, &rest)
    {
        return Err((c.reply, e.to_string()));
    }
    let params = Arc::new(c.params);
    let mut out = Vec::with_capacity(c.prompts.len() * c.n);
    for (p, base) in bases.iter_mut().enumerate() {
        for j in 0..c.n {
            out.push(Admit {
                tag: (id, p * c.n + j),
                seq: base.fork(),
                params: params.clone(),
                seed: c.seed.wrapping_add(j as u64),
                limit: params.max_new_tokens,
                gate: None,
            });
        }
    }
    for b in bases {
        cache.insert(b);
    }
    live.insert(
        id,
        Live {
            choices: (0..out.len()).map(|_| None).collect(),
            left: out.len(),
            n: c.n,
            cached_tokens,
            reply: c.reply,
        },
    );
    Ok(out)
}

/// Per-token head outputs of each input (one batch; each input from an empty cache).
fn pool(engine: &Engine, inputs: &[Vec<u32>]) -> Result<Vec<Vec<Vec<f32>>>, String> {
    let model = engine.model;
    let mut caches: Vec<_> = inputs.iter().map(|_| model.new_cache()).collect();
    let mut rows = Vec::new();
    for (s, t) in inputs.iter().enumerate() {
        for (pos, &token) in t.iter().enumerate() {
            rows.push(ttc_model::cpu::Row { seq: s, token, pos });
        }
    }
    let all: Vec<usize> = (0..rows.len()).collect();
    let out = model
        .forward(&mut caches, &rows, &all)
        .map_err(|e| e.to_string())?;
    let h = model.head_outputs();
    let mut k = 0;
    Ok(inputs
        .iter()
        .map(|t| {
            t.iter()
                .map(|_| {
                    let r = out[k * h..(k + 1) * h].to_vec();
                    k += 1;
                    r
                })
                .collect()
        })
        .collect())
}

/// A backend error breaks every live sequence: answer all their requests with it.
fn abort_all(d: &mut Decoding<(u64, usize)>, live: &mut HashMap<u64, Live>, e: &str) {
    *d = Decoding::default();
    for (_, l) in live.drain() {
        let _ = l.reply.send(Err(format!("engine: {e}")));
    }
}

fn fail(j: Job, e: &str) {
    match j {
        Job::Complete(c) => {
            let _ = c.reply.send(Err(e.to_string()));
        }
        Job::Pool(p) => {
            let _ = p.reply.send(Err(e.to_string()));
        }
    }
}
