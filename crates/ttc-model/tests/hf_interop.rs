//! HF interop: checkpoints saved by `transformers` (tests/fixtures/hf, made by
//! make_hf_fixtures.py) load here and reproduce transformers' outputs, through both the
//! burn model and the CPU decoder; and our saved checkpoints load back identically.

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use ttc_model::cpu::{CpuModel, Row};
use ttc_model::io::checkpoint_files::{INDEX_FILE, read_checkpoint_weights, weight_files};
use ttc_model::io::hf_io::{load_checkpoint, save_checkpoint, save_checkpoint_sharded};
use ttc_model::io::weights::read_safetensors;
use ttc_model::{CpuBackend, LlamaConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/hf")
        .join(name)
}

struct Expected {
    ids: Vec<Vec<u32>>,
    shape: Vec<usize>,
    outputs: Vec<f32>,
}

fn expected(dir: &Path) -> Expected {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let ids = v["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let outputs = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Expected {
        ids,
        shape,
        outputs,
    }
}

fn max_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn burn_outputs(dir: &Path, ids: &[Vec<u32>]) -> Vec<f32> {
    let dev = Default::default();
    let model = load_checkpoint::<CpuBackend>(dir, &dev).unwrap();
    let (b, t) = (ids.len(), ids[0].len());
    let flat: Vec<i64> = ids.iter().flatten().map(|&x| x as i64).collect();
    let tokens = Tensor::<CpuBackend, 2, Int>::from_data(TensorData::new(flat, [b, t]), &dev);
    model.forward(tokens).into_data().to_vec::<f32>().unwrap()
}

fn cpu_outputs(dir: &Path, ids: &[Vec<u32>]) -> Vec<f32> {
    let cfg = LlamaConfig::load(&dir.join("config.json")).unwrap();
    let w = read_checkpoint_weights(dir).unwrap();
    model_outputs(&CpuModel::from_weights(&cfg, &w).unwrap(), ids)
}

/// Every position's outputs of each sequence of `ids` through `m`.
fn model_outputs(m: &CpuModel, ids: &[Vec<u32>]) -> Vec<f32> {
    let mut out = Vec::new();
    for seq in ids {
        let mut caches = vec![m.new_cache()];
        let rows: Vec<Row> = seq
            .iter()
            .enumerate()
            .map(|(p, &t)| Row {
                seq: 0,
                token: t,
                pos: p,
            })
            .collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        out.extend(m.forward(&mut caches, &rows, &all));
    }
    out
}

fn check(name: &str) {
    let dir = fixture(name);
    let e = expected(&dir);
    assert_eq!(e.shape.iter().product::<usize>(), e.outputs.len());
    let burn = burn_outputs(&dir, &e.ids);
    let err = max_err(&burn, &e.outputs);
    assert!(
        err <= 1e-4,
        "{name}: burn vs transformers max abs err {err}"
    );
    eprintln!("{name}: burn vs transformers max abs err {err:e}");
    let cpu = cpu_outputs(&dir, &e.ids);
    let err = max_err(&cpu, &e.outputs);
    eprintln!("{name}: cpu decoder vs transformers max abs err {err:e}");
    assert!(
        err <= 1e-4,
        "{name}: cpu decoder vs transformers max abs err {err}"
    );
}

#[test]
fn llama_matches_transformers() {
    check("llama");
}

#[test]
fn qwen2_with_bias_and_tied_embeddings_matches_transformers() {
    check("qwen2");
}

/// Qwen3 as transformers 5 saves it: q_norm / k_norm over each head before RoPE, an
/// explicit head_dim (24) unlike hidden / heads (16), tied embeddings.
#[test]
fn qwen3_with_head_norms_matches_transformers() {
    check("qwen3");
    let cfg = LlamaConfig::load(&fixture("qwen3").join("config.json")).unwrap();
    assert!(cfg.qk_norm() && cfg.head_dim() == 24);
    let file = fixture("qwen3").join("model.safetensors");
    let stored: usize = read_safetensors(&file)
        .unwrap()
        .values()
        .map(|t| t.data.len())
        .sum();
    assert_eq!(cfg.num_params(), stored);
    assert_eq!(
        cfg.with_score_head().architectures,
        vec!["Qwen3ForTokenClassification".to_string()]
    );
}

#[test]
fn token_classification_score_head_matches_transformers() {
    check("llama_score");
}

/// bf16 weights in three shards with transformers' index: read through the index (burn
/// model and CPU decoder), matching transformers' outputs of the same bf16 weights.
#[test]
fn bf16_sharded_checkpoints_match_transformers() {
    for name in ["llama_bf16_sharded", "qwen2_bf16_sharded"] {
        assert!(fixture(name).join(INDEX_FILE).exists());
        assert_eq!(weight_files(&fixture(name)).unwrap().len(), 3, "{name}");
        check(name);
    }
}

/// Our sharded output loads back to the same weights, and a shard gone missing is an
/// error naming it.
#[test]
fn sharded_save_roundtrips_and_a_missing_shard_is_named() {
    let dev = Default::default();
    let t = tempfile::tempdir().unwrap();
    let m = load_checkpoint::<CpuBackend>(&fixture("llama"), &dev).unwrap();
    save_checkpoint_sharded(t.path(), &m, 100_000).unwrap();
    let files = weight_files(t.path()).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    assert!(!t.path().join("model.safetensors").exists());
    let a = read_checkpoint_weights(&fixture("llama")).unwrap();
    let b = read_checkpoint_weights(t.path()).unwrap();
    assert_eq!(a, b);
    let e = cpu_outputs(t.path(), &expected(&fixture("llama")).ids);
    assert_eq!(
        e,
        cpu_outputs(&fixture("llama"), &expected(&fixture("llama")).ids)
    );
    std::fs::remove_file(&files[1]).unwrap();
    let err = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    let shard = files[1].file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(INDEX_FILE) && err.contains(&shard), "{err}");
}

#[test]
fn saved_checkpoint_loads_back_identically() {
    let dev = Default::default();
    let t = tempfile::tempdir().unwrap();
    for name in ["llama", "qwen2", "qwen3", "llama_score"] {
        let m = load_checkpoint::<CpuBackend>(&fixture(name), &dev).unwrap();
        save_checkpoint(t.path(), &m).unwrap();
        let a = read_safetensors(&fixture(name).join("model.safetensors")).unwrap();
        let mut b = read_safetensors(&t.path().join("model.safetensors")).unwrap();
        // Tied: transformers may omit lm_head; we never write it.
        b.retain(|k, _| a.contains_key(k));
        assert_eq!(a.len(), b.len(), "{name}");
        for (k, v) in &a {
            assert_eq!(Some(v), b.get(k), "{name}: {k}");
        }
    }
}

#[test]
fn config_and_weights_that_disagree_name_the_tensor() {
    let dev = Default::default();
    let t = tempfile::tempdir().unwrap();
    let src = fixture("llama");
    std::fs::copy(
        src.join("model.safetensors"),
        t.path().join("model.safetensors"),
    )
    .unwrap();
    // Wrong shape: more kv heads than the weights have.
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    cfg["num_key_value_heads"] = 4.into();
    std::fs::write(t.path().join("config.json"), cfg.to_string()).unwrap();
    let e = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.layers.0.self_attn.k_proj.weight") && e.contains("shape"),
        "{e}"
    );
    // Missing tensor: a third layer the file does not have.
    cfg["num_key_value_heads"] = 2.into();
    cfg["num_hidden_layers"] = 3.into();
    std::fs::write(t.path().join("config.json"), cfg.to_string()).unwrap();
    let e = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing tensor model.layers.2."), "{e}");
    // Extra tensors: fewer layers than the file has.
    cfg["num_hidden_layers"] = 1.into();
    std::fs::write(t.path().join("config.json"), cfg.to_string()).unwrap();
    let e = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.layers.1.") && e.contains("not part of"),
        "{e}"
    );
    // Truncated file.
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(
        t.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    cfg["num_hidden_layers"] = 2.into();
    std::fs::write(t.path().join("config.json"), cfg.to_string()).unwrap();
    let e = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    // Unsupported rope type.
    cfg["rope_parameters"] = serde_json::json!({"rope_type": "yarn", "factor": 2.0});
    std::fs::write(t.path().join("config.json"), cfg.to_string()).unwrap();
    let e = load_checkpoint::<CpuBackend>(t.path(), &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.json") && e.contains("yarn"), "{e}");
}

/// A checkpoint loads with a longer context (RoPE has no weights) but not with any other
/// config change.
#[test]
fn checkpoints_load_with_a_longer_context_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ttc_model::LlamaConfig::tiny(40);
    let m = ttc_model::init_cpu_seeded(&cfg, 2);
    ttc_model::io::hf_io::save_checkpoint(dir.path(), &m).unwrap();
    let dev = Default::default();
    let mut long = cfg.clone();
    long.max_position_embeddings = cfg.max_position_embeddings * 4;
    let l =
        ttc_model::io::hf_io::load_checkpoint_as::<ttc_model::CpuBackend>(dir.path(), &long, &dev)
            .unwrap();
    assert_eq!(
        l.config().max_position_embeddings,
        long.max_position_embeddings
    );
    assert_eq!(l.to_weights().len(), m.to_weights().len());
    let mut other = long.clone();
    other.num_hidden_layers += 1;
    let Err(e) =
        ttc_model::io::hf_io::load_checkpoint_as::<ttc_model::CpuBackend>(dir.path(), &other, &dev)
    else {
        panic!("a different depth must not load");
    };
    assert!(e.to_string().contains("max_position_embeddings"), "{e}");
}

/// The PRM fixtures of the field's formats (tests/fixtures/prm): a Mistral causal LM and
/// Qwen2.5-Math-PRM's two-layer two-class head load in both engines with the same outputs,
/// and the head saves back under its own names.
#[test]
fn process_reward_head_and_mistral_load_in_both_engines() {
    let dev = Default::default();
    let t = tempfile::tempdir().unwrap();
    for name in ["qwen_prm", "math_shepherd"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/prm")
            .join(name);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let ids: Vec<u32> = serde_json::from_value(v["cases"][0]["input_ids"].clone()).unwrap();
        let ids = vec![ids[..40].to_vec()];
        let burn = burn_outputs(&dir, &ids);
        let cpu = cpu_outputs(&dir, &ids);
        let err = max_err(&burn, &cpu);
        assert!(err <= 1e-4, "{name}: burn vs cpu max abs err {err}");
        let m = load_checkpoint::<CpuBackend>(&dir, &dev).unwrap();
        save_checkpoint(t.path(), &m).unwrap();
        let a = read_safetensors(&dir.join("model.safetensors")).unwrap();
        let b = read_safetensors(&t.path().join("model.safetensors")).unwrap();
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{name}"
        );
    }
    let cfg = LlamaConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/prm/qwen_prm/config.json"),
    )
    .unwrap();
    assert_eq!(cfg.head(), ttc_model::config::Head::ProcessReward);
    assert_eq!(cfg.labels(), 2);
}

/// A bf16 checkpoint loaded the way the CPU engine loads it (a tensor at a time, matrices
/// kept in bf16) holds half the matrix bytes and gives the outputs of its f32 copy up to f32
/// summation order (each bf16 dot-product kernel sums in its own order; the products are the
/// same), and still matches transformers, with either kernel.
#[test]
fn bf16_weights_stay_bf16_in_memory_with_the_f32_outputs() {
    for name in ["llama_bf16_sharded", "qwen2_bf16_sharded"] {
        let dir = fixture(name);
        let e = expected(&dir);
        let cfg = LlamaConfig::load(&dir.join("config.json")).unwrap();
        let half = CpuModel::load(&dir, &cfg, true).unwrap();
        let full = CpuModel::load(&dir, &cfg, false).unwrap();
        assert!(half.has_half_weights() && !full.has_half_weights());
        assert!(
            (half.weight_bytes() as f64) < 0.6 * full.weight_bytes() as f64,
            "{name}: {} vs {} bytes",
            half.weight_bytes(),
            full.weight_bytes()
        );
        let b = model_outputs(&full, &e.ids);
        use ttc_model::cpu::bf16_dot::Kernel;
        for kernel in Kernel::ALL {
            if !kernel.available() {
                continue;
            }
            Kernel::choose(Some(kernel)).unwrap();
            let a = model_outputs(&half, &e.ids);
            Kernel::choose(None).unwrap();
            let gap = max_err(&a, &b);
            eprintln!("{name}: bf16 kept ({kernel:?}) vs widened to f32: max abs diff {gap:e}");
            assert!(
                gap <= 5e-5,
                "{name} {kernel:?}: bf16 and f32 weights of the same values: {gap}"
            );
            let err = max_err(&a, &e.outputs);
            assert!(
                err <= 1e-4,
                "{name} {kernel:?}: bf16 weights vs transformers {err}"
            );
        }
    }
    // An f16 checkpoint: kept in f16, the outputs of its f32 copy.
    let dir = fixture("llama");
    let e = expected(&dir);
    let cfg = LlamaConfig::load(&dir.join("config.json")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let w = read_checkpoint_weights(&dir).unwrap();
    ttc_model::io::weights::write_safetensors_f16(&t.path().join("model.safetensors"), &w).unwrap();
    let half = CpuModel::load(t.path(), &cfg, true).unwrap();
    let full = CpuModel::load(t.path(), &cfg, false).unwrap();
    assert!(
        half.has_half_weights() && (half.weight_bytes() as f64) < 0.6 * full.weight_bytes() as f64
    );
    assert_eq!(model_outputs(&half, &e.ids), model_outputs(&full, &e.ids));
}
