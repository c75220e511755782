//! The whole decoder with the fused CPU ops (attention, RMSNorm, SwiGLU) against the same
//! weights with the composed burn ops: logits, and the gradient of every weight kind under
//! autodiff (grouped-query heads, right-padded lengths irrelevant: plain causal batches).

use burn::module::Param;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use ttc_model::model::fused;
use ttc_model::{CpuAutodiff, LlamaConfig};

type M = ttc_model::model::Transformer<CpuAutodiff>;

fn tokens(b: usize, t: usize, vocab: usize) -> Tensor<CpuAutodiff, 2, Int> {
    let ids: Vec<i64> = (0..b * t).map(|i| ((i * 7 + 3) % vocab) as i64).collect();
    Tensor::from_data(TensorData::new(ids, [b, t]), &Default::default())
}

fn grad<const D: usize>(
    p: &Param<Tensor<CpuAutodiff, D>>,
    grads: &<CpuAutodiff as AutodiffBackend>::Gradients,
) -> Vec<f32> {
    let g = p.val().grad(grads).expect("a gradient for every weight");
    g.into_data().to_vec::<f32>().unwrap()
}

/// Logits and the gradients of a fixed weighting of them, with the fused ops on or off.
fn run(cfg: &LlamaConfig, fused_ops: bool) -> Vec<(String, Vec<f32>)> {
    let dev = Default::default();
    let m: M = ttc_model::init_seeded::<CpuAutodiff>(cfg, 7, &dev);
    fused::set_enabled(fused_ops);
    let (b, t) = (3, 19);
    let logits = m.forward(tokens(b, t, cfg.vocab_size));
    fused::set_enabled(true);
    let n = b * t * cfg.vocab_size;
    let w: Vec<f32> = (0..n).map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0).collect();
    let w = Tensor::<CpuAutodiff, 3>::from_data(TensorData::new(w, [b, t, cfg.vocab_size]), &dev);
    let grads = (logits.clone() * w).sum().backward();
    let vals = |x: Tensor<CpuAutodiff, 2>| x.into_data().to_vec::<f32>().unwrap();
    let mut out = vec![(
        "logits".to_string(),
        vals(logits.reshape([b * t, cfg.vocab_size])),
    )];
    for (i, l) in m.layers.iter().enumerate() {
        let a = &l.self_attn;
        for (name, p) in [
            ("q", &a.q_proj.weight),
            ("k", &a.k_proj.weight),
            ("v", &a.v_proj.weight),
            ("o", &a.o_proj.weight),
            ("gate", &l.mlp.gate_proj.weight),
            ("up", &l.mlp.up_proj.weight),
            ("down", &l.mlp.down_proj.weight),
        ] {
            out.push((format!("layer {i} {name}"), grad(p, &grads)));
        }
        out.push((
            format!("layer {i} norm1"),
            grad(&l.input_layernorm.gamma, &grads),
        ));
        out.push((
            format!("layer {i} norm2"),
            grad(&l.post_attention_layernorm.gamma, &grads),
        ));
    }
    out.push(("final norm".into(), grad(&m.norm.gamma, &grads)));
    out.push(("embed".into(), grad(&m.embed_tokens.weight, &grads)));
    out
}

#[test]
fn fused_decoder_matches_composed_ops_in_logits_and_every_gradient() {
    // Grouped-query (4 heads over 2) and plain multi-head.
    for cfg in [
        LlamaConfig::llama(50, 64, 96, 2, 4, 2),
        LlamaConfig::llama(40, 32, 64, 1, 2, 2),
    ] {
        let (f, c) = (run(&cfg, true), run(&cfg, false));
        for ((name, got), (_, want)) in f.iter().zip(&c) {
            let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * scale,
                    "{name}[{i}]: fused {g} vs composed {w} (max |composed| {scale})"
                );
            }
        }
    }
}
