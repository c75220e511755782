//! `config.json` and `generation_config.json` as transformers 5 saves them
//! (`tests/fixtures/tf5`, made by `tests/fixtures/make_tf5_fixtures.py`): `dtype` instead of
//! `torch_dtype`, RoPE's θ in `rope_parameters`, and the EOS ids `generate` stops on from
//! `generation_config.json` (a list there; one id in `config.json`).

use std::path::{Path, PathBuf};

use ttc_model::LlamaConfig;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tf5")
}

#[test]
fn a_transformers_5_config_loads_with_its_dtype_theta_and_generation_eos() {
    let cfg = LlamaConfig::load(&fixture().join("config.json")).unwrap();
    assert_eq!(cfg.dtype.as_deref(), Some("bfloat16"));
    assert_eq!(cfg.weights_dtype(), "bfloat16");
    assert_eq!(cfg.theta(), 10_000.0);
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
            .unwrap();
    let mut eos = cfg.eos_ids();
    assert_eq!(eos[0], 2, "config.json's own EOS first");
    eos.sort();
    let want: Vec<u32> = serde_json::from_value(expected["eos_ids"].clone()).unwrap();
    assert_eq!(eos, want);
    // Written back (an export), `dtype` stays and the generation config stays its own file.
    let back = serde_json::to_value(&cfg).unwrap();
    assert_eq!(back["dtype"], "bfloat16");
    assert!(back.get("generation_eos").is_none(), "{back}");
}

#[test]
fn without_a_generation_config_the_eos_ids_are_the_configs() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(fixture().join("config.json"), d.path().join("config.json")).unwrap();
    let cfg = LlamaConfig::load(&d.path().join("config.json")).unwrap();
    assert_eq!(cfg.eos_ids(), vec![2]);
    std::fs::write(d.path().join("generation_config.json"), "{not json").unwrap();
    let e = LlamaConfig::load(&d.path().join("config.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("generation_config.json"), "{e}");
}
