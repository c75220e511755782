//! A sequence's outputs do not depend on what it is batched with, nor on whether its
//! tokens were prefilled together or decoded one by one: `ttc serve` batches whatever
//! arrives together and prefills a partial solution that in-process was decoded, and its
//! answers must be the in-process engine's, bit for bit. (Two code paths on one machine.)

use ttc_engine::bench::random_cpu_model;
use ttc_model::LlamaConfig;
use ttc_model::cpu::{CpuModel, Row};

fn tokens(s: usize) -> Vec<u32> {
    (0..9 + s % 5)
        .map(|p| ((s * 3 + p * 5) % 60) as u32)
        .collect()
}

/// Sequences 0..seqs: prefill the first 7 tokens, then decode the last 2 one by one;
/// sequence 0's outputs after each call.
fn stepped(m: &CpuModel, seqs: usize) -> Vec<Vec<f32>> {
    let v = m.head_outputs();
    let mut caches: Vec<_> = (0..seqs).map(|_| m.new_cache()).collect();
    let mut rows = vec![];
    let mut outs = vec![];
    for s in 0..seqs {
        let t = tokens(s);
        for (pos, &token) in t[..t.len() - 2].iter().enumerate() {
            rows.push(Row { seq: s, token, pos });
        }
        outs.push(rows.len() - 1);
    }
    let mut got = vec![m.forward(&mut caches, &rows, &outs)[..v].to_vec()];
    for back in [2, 1] {
        let rows: Vec<Row> = (0..seqs)
            .map(|s| {
                let t = tokens(s);
                let pos = t.len() - back;
                Row {
                    seq: s,
                    token: t[pos],
                    pos,
                }
            })
            .collect();
        let all: Vec<usize> = (0..seqs).collect();
        got.push(m.forward(&mut caches, &rows, &all)[..v].to_vec());
    }
    got
}

#[test]
fn outputs_do_not_depend_on_the_batch_or_on_prefill_versus_decode() {
    let cfg = LlamaConfig::named("tiny", 64).unwrap();
    let m = random_cpu_model(&cfg, 5).unwrap();
    let alone = stepped(&m, 1);
    for n in [2, 3, 64, 300] {
        assert_eq!(stepped(&m, n), alone, "batch of {n}");
    }
    // All 9 tokens prefilled at once: the last row equals the last decode step's.
    let mut caches = vec![m.new_cache()];
    let rows: Vec<Row> = tokens(0)
        .iter()
        .enumerate()
        .map(|(pos, &token)| Row { seq: 0, token, pos })
        .collect();
    let all = m.forward(&mut caches, &rows, &[6, 7, 8]);
    let v = m.head_outputs();
    assert_eq!(all[..v], alone[0][..], "prefill row 6");
    assert_eq!(all[2 * v..], alone[2][..], "prefill row 8 vs decoded");
}
