//! Tests of `sft`: resume equivalence, NaN guard, score heads, fine-tuning from a checkpoint.

use super::*;

fn examples(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| Example {
            group: None,
            tokens: (0..12).map(|j| ((i * 3 + j * 5) % 50) as u32 + 1).collect(),
            prompt_len: 4,
            scores: vec![],
        })
        .collect()
}

fn cfg(lr: f64) -> SftConfig {
    SftConfig {
        epochs: 2.0,
        batch_tokens: 88,
        lr,
        min_lr_ratio: 0.1,
        warmup_steps: 1,
        weight_decay: 0.0,
        grad_clip: 0.0,
        eval_every: 4,
        checkpoint_every: 2,
        seed: 3,
        keep_best: false,
        patience: 0,
        dropout: 0.0,
        device: "cpu".into(),
    }
}

/// A run with pad 0 and a fixed run hash.
fn run<'a>(
    model_cfg: &'a LlamaConfig,
    init: Init<'a>,
    cfg: &'a SftConfig,
    train: &'a [Example],
    val: &'a [Example],
    out: &'a Path,
) -> SftRun<'a> {
    SftRun {
        model_cfg,
        init,
        cfg,
        train,
        val,
        pad: 0,
        run_hash: "h",
        out,
        reading: None,
    }
}

#[test]
fn loss_goes_down_and_state_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mc = LlamaConfig::tiny(64);
    let ex = examples(32);
    let st = train_sft(
        run(&mc, Init::Seeded, &cfg(3e-3), &ex, &ex[..8], dir.path()),
        &mut |_| {},
    )
    .unwrap();
    assert!(st.done);
    let m: Vec<Metric> = ttc_core::jsonl::read_jsonl(&dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(m.len(), st.total_steps);
    assert!(
        m.last().unwrap().loss < m[0].loss,
        "{} -> {}",
        m[0].loss,
        m.last().unwrap().loss
    );
    assert!(dir.path().join("model.safetensors").exists());
    assert!(!dir.path().join("state").exists());
}

#[test]
fn nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mc = LlamaConfig::tiny(64);
    let ex = examples(32);
    let c = SftConfig {
        checkpoint_every: 1,
        ..cfg(1e12)
    };
    let e = train_sft(
        run(&mc, Init::Seeded, &c, &ex, &[], dir.path()),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("loss became") && e.contains("last good checkpoint"),
        "{e}"
    );
    assert!(!dir.path().join("model.safetensors").exists());
    let st = load_state(dir.path()).unwrap().unwrap();
    assert!(!st.done);
    assert!(st.step >= 1);
    assert!(
        dir.path()
            .join(format!("state/step-{}-model.bin", st.step))
            .exists()
    );
    assert!(e.contains(&format!("(step {})", st.step)), "{e}");
}

/// A score head learns soft targets at marked positions (a PRM in miniature): the
/// target depends on the token at the position, so the head must read the input.
#[test]
fn score_head_learns_soft_targets_and_keeps_the_best_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mc = LlamaConfig::tiny(64).with_score_head();
    let ex = score_examples();
    score_head_run(&mc, Init::Seeded, &ex, dir.path());
}

/// Regression: a model loaded from a checkpoint (PRM from the policy, revision model)
/// must train — burn 0.21 drops require_grad on parameters loaded from tensors.
#[test]
fn fine_tuning_from_a_checkpoint_changes_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let policy_dir = dir.path().join("policy");
    let pc = LlamaConfig::tiny(64);
    let policy = ttc_model::init_cpu_seeded(&pc, 3);
    ttc_model::io::hf_io::save_checkpoint(&policy_dir, &policy).unwrap();
    let ex = score_examples();
    let mc = pc.with_score_head();
    score_head_run(
        &mc,
        Init::ScoreHeadFrom(&policy_dir),
        &ex,
        &dir.path().join("prm"),
    );
}

fn score_examples() -> Vec<Example> {
    (0..48)
        .map(|i| {
            let tokens: Vec<u32> = (0..10).map(|j| ((i * 7 + j * 3) % 60) as u32 + 1).collect();
            let scores = [3usize, 6, 8]
                .iter()
                .map(|&p| {
                    (
                        p,
                        if tokens[p].is_multiple_of(2) {
                            0.9
                        } else {
                            0.2
                        },
                    )
                })
                .collect();
            Example {
                group: None,
                tokens,
                prompt_len: 2,
                scores,
            }
        })
        .collect()
}

fn score_head_run(mc: &LlamaConfig, init: Init, ex: &[Example], out: &Path) {
    let c = SftConfig {
        epochs: 6.0,
        keep_best: true,
        patience: 3,
        dropout: 0.1,
        ..cfg(5e-3)
    };
    let st = train_sft(run(mc, init, &c, ex, &ex[..16], out), &mut |_| {}).unwrap();
    assert!(st.done);
    let m: Vec<Metric> = ttc_core::jsonl::read_jsonl(&out.join("metrics.jsonl")).unwrap();
    let vals: Vec<f64> = m.iter().filter_map(|m| m.val_loss).collect();
    assert!(
        st.best_val_loss.unwrap() < vals[0] - 0.01,
        "validation loss never improved: {vals:?}"
    );
    // The kept weights are the best evaluation's.
    let kept =
        ttc_model::io::hf_io::load_checkpoint::<ttc_model::CpuBackend>(out, &Default::default())
            .unwrap();
    let vl = eval_loss(&kept, &ex[..16], c.batch_tokens, 0, None);
    assert!(
        (vl - st.best_val_loss.unwrap()).abs() < 1e-5,
        "{vl} vs {:?}",
        st.best_val_loss
    );
}

#[test]
fn device_must_be_cpu_or_an_available_cuda() {
    let bad = SftConfig {
        device: "tpu".into(),
        ..cfg(1e-3)
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("[train] device") && e.contains("tpu"), "{e}");
    let cuda = SftConfig {
        device: "cuda".into(),
        ..cfg(1e-3)
    };
    assert_eq!(cuda.validate().is_ok(), cfg!(feature = "cuda"));
    // A CPU config's JSON (its run hash) has no device key.
    let json = serde_json::to_string(&cfg(1e-3)).unwrap();
    assert!(!json.contains("device"), "{json}");
}
