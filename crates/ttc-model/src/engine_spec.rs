//! Which backend runs a model, and loading a checkpoint onto it (a preset's `[engine]`).
//!
//! - `cpu`: the hand-tuned host decoder ([`crate::cpu`]), f32;
//! - `burn`: the burn decoder with a paged device cache ([`crate::burn_decoder`]) on flex
//!   (`device = "cpu"`) or burn-cuda (`device = "cuda"` / `"cuda:N"`, needs a ttc built with
//!   `--features cuda`), in f32 or — on a GPU — bf16 / f16;
//! - `openai`: a server speaking the OpenAI completions API (`ttc serve`, vLLM, SGLang,
//!   TGI, llama.cpp, `transformers serve`) at `urls`; the client is the `ttc-remote` crate,
//!   which the pipeline loads it with (this crate knows no HTTP).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::burn_decoder::BurnDecoder;
use crate::config::LlamaConfig;
use crate::cpu::CpuModel;
use crate::decoder::Decoder;
use crate::io::checkpoint_files::{read_checkpoint_weights, weights_path};
use crate::io::weights::WeightMap;
use crate::model::Transformer;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Cpu,
    Burn,
    Openai,
}

/// The server behind an `openai` backend. Servers differ in what they return (vLLM keeps
/// the stop string when asked and returns token ids; OpenAI strips it; `transformers serve`
/// keeps it and ignores `n`); `auto` asks `/v1/models` and decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    #[default]
    Auto,
    Ttc,
    Vllm,
    Sglang,
    Openai,
    Transformers,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Auto => "auto",
            ServerKind::Ttc => "ttc",
            ServerKind::Vllm => "vllm",
            ServerKind::Sglang => "sglang",
            ServerKind::Openai => "openai",
            ServerKind::Transformers => "transformers",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        }
    }
}

/// A backend choice: `{ backend = "burn", device = "cuda:0", dtype = "bf16" }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    #[serde(default)]
    pub backend: BackendKind,
    /// "cpu" (default), "cuda" or "cuda:N" (burn backend only).
    #[serde(default = "d_device")]
    pub device: String,
    #[serde(default)]
    pub dtype: Dtype,
    /// `openai` only: the servers' base URLs (`http://host:8000`); requests spread over
    /// them. Not part of a stage's fingerprint (the same model answers on any of them).
    #[serde(default, skip_serializing)]
    pub urls: Vec<String>,
    /// `openai` only: the name the server knows the model by (vLLM's `--served-model-name`,
    /// `transformers serve`'s model path); default: the checkpoint's directory as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `openai` only: which server answers (default `auto`: asked from `/v1/models`).
    #[serde(default, skip_serializing_if = "is_auto")]
    pub server: ServerKind,
    /// `openai` only: the environment variable holding the API key (the key itself is never
    /// written to a preset, log, manifest or report).
    #[serde(default, skip_serializing)]
    pub api_key_env: Option<String>,
    /// `openai` only: seconds a request may take before it is retried (default 300).
    #[serde(default, skip_serializing)]
    pub timeout_s: Option<u64>,
    /// `openai` only: requests in flight per server at most (default 256).
    #[serde(default, skip_serializing)]
    pub max_in_flight: Option<usize>,
    /// `openai` only: attempts per request after the first, on connection errors,
    /// timeouts, 429 and 5xx, with exponential backoff (default 6).
    #[serde(default, skip_serializing)]
    pub retries: Option<u32>,
    /// A prompt longer than the model's context: `refuse` (default; an error naming the
    /// question and both lengths) or `truncate-left` (keep its last tokens, leaving
    /// `reserve` positions to generate in — transformers' `truncation_side="left"`).
    #[serde(default, skip_serializing_if = "LongPrompts::is_refuse")]
    pub long_prompts: LongPrompts,
}

/// What the engine does with a prompt longer than the model's context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LongPrompts {
    /// An error naming the question and both lengths.
    #[default]
    Refuse,
    /// Keep the prompt's last tokens.
    TruncateLeft,
}

impl LongPrompts {
    pub fn is_refuse(&self) -> bool {
        *self == LongPrompts::Refuse
    }
}

fn is_auto(k: &ServerKind) -> bool {
    *k == ServerKind::Auto
}

fn d_device() -> String {
    "cpu".into()
}

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Cuda(usize),
}

impl EngineSpec {
    pub fn cpu() -> Self {
        EngineSpec {
            backend: BackendKind::Cpu,
            device: d_device(),
            dtype: Dtype::F32,
            urls: Vec::new(),
            model: None,
            server: ServerKind::Auto,
            api_key_env: None,
            timeout_s: None,
            max_in_flight: None,
            retries: None,
            long_prompts: LongPrompts::Refuse,
        }
    }

    pub fn burn(device: &str) -> Self {
        EngineSpec {
            backend: BackendKind::Burn,
            device: device.into(),
            ..EngineSpec::cpu()
        }
    }

    /// An OpenAI-compatible server (or several) at `urls`.
    pub fn openai(urls: &[&str]) -> Self {
        EngineSpec {
            backend: BackendKind::Openai,
            urls: urls.iter().map(|u| u.to_string()).collect(),
            ..EngineSpec::cpu()
        }
    }

    /// The `openai` keys, checked: URLs present and well formed; none of them set for a
    /// local backend. The message names the key.
    fn check_remote_keys(&self) -> std::result::Result<(), String> {
        if self.backend != BackendKind::Openai {
            let set = [
                ("urls", !self.urls.is_empty()),
                ("model", self.model.is_some()),
                ("server", self.server != ServerKind::Auto),
                ("api_key_env", self.api_key_env.is_some()),
                ("timeout_s", self.timeout_s.is_some()),
                ("max_in_flight", self.max_in_flight.is_some()),
                ("retries", self.retries.is_some()),
            ];
            if let Some((k, _)) = set.iter().find(|(_, on)| *on) {
                return Err(format!("{k}: only with backend = \"openai\""));
            }
            return Ok(());
        }
        if self.urls.is_empty() {
            return Err("urls: backend = \"openai\" needs the servers' URLs (urls = [\"http://127.0.0.1:8000\"])".into());
        }
        for u in &self.urls {
            let rest = u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return Err(format!(
                    "urls: {u:?} is not an http:// or https:// URL with a host"
                ));
            }
        }
        if self.device != "cpu" || self.dtype != Dtype::F32 {
            return Err(
                "device: a remote server picks its own device and dtype; leave device and dtype unset with backend = \"openai\"".into(),
            );
        }
        if self.timeout_s == Some(0) || self.max_in_flight == Some(0) {
            return Err("timeout_s / max_in_flight: must be at least 1".into());
        }
        Ok(())
    }

    /// The device, checked against the choice itself (not the build): the message names
    /// the offending key (`device`, `dtype`).
    pub fn device_kind(&self) -> std::result::Result<DeviceKind, String> {
        self.check_remote_keys()?;
        let dev = match self.device.as_str() {
            "cpu" => DeviceKind::Cpu,
            "cuda" => DeviceKind::Cuda(0),
            d => match d.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => DeviceKind::Cuda(i),
                _ => {
                    return Err(format!(
                        "device: {d:?} is not a device (use \"cpu\", \"cuda\" or \"cuda:N\")"
                    ));
                }
            },
        };
        if matches!(dev, DeviceKind::Cuda(_)) && self.backend == BackendKind::Cpu {
            return Err(format!(
                "device: {:?} needs backend = \"burn\" (the cpu backend runs on the host only)",
                self.device
            ));
        }
        if self.dtype != Dtype::F32 && dev == DeviceKind::Cpu {
            return Err(format!(
                "dtype: {:?} runs on a GPU only; on the CPU both backends compute in f32",
                self.dtype.name()
            ));
        }
        Ok(dev)
    }

    /// Check the choice (see [`EngineSpec::device_kind`]); a GPU choice still validates on
    /// a CPU build, so GPU presets plan anywhere.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.device_kind().map(|_| ())
    }

    /// Check the choice and that this build can run it (`cuda` needs `--features cuda`).
    pub fn check_build(&self) -> std::result::Result<DeviceKind, String> {
        let dev = self.device_kind()?;
        if matches!(dev, DeviceKind::Cuda(_)) && !cfg!(feature = "cuda") {
            return Err(format!(
                "device: {:?} needs a ttc built with `--features cuda` (cargo build --release --features cuda)",
                self.device
            ));
        }
        Ok(dev)
    }

    /// A short name for logs: "cpu", "burn-flex", "burn-cuda:0 bf16".
    pub fn describe(&self) -> String {
        match (self.backend, self.device_kind()) {
            (BackendKind::Cpu, _) => "cpu".into(),
            (BackendKind::Burn, Ok(DeviceKind::Cuda(i))) => {
                format!("burn-cuda:{i} {}", self.dtype.name())
            }
            (BackendKind::Burn, _) => "burn-flex".into(),
            (BackendKind::Openai, _) => format!("openai {}", self.urls.join(",")),
        }
    }
}

/// A model on the backend `spec` names, from its config and HF-named weights (`file` names
/// where they came from, for errors).
pub fn decoder_from_weights(
    cfg: &LlamaConfig,
    weights: WeightMap,
    file: &Path,
    spec: &EngineSpec,
) -> Result<Box<dyn Decoder>> {
    let dev = spec
        .check_build()
        .map_err(|m| Error::Config(format!("engine {m}")))?;
    let label = spec.describe();
    match (spec.backend, dev) {
        (BackendKind::Openai, _) => Err(Error::Config(
            "engine backend: \"openai\" is loaded by the pipeline's remote client (ttc-remote), not from weights".into(),
        )),
        (BackendKind::Cpu, _) => Ok(Box::new(CpuModel::from_weights_owned(cfg, weights)?)),
        (BackendKind::Burn, DeviceKind::Cpu) => {
            type B = crate::CpuBackend;
            let dev = Default::default();
            let m = Transformer::<B>::from_weights(cfg, weights, file, &dev)?;
            Ok(Box::new(BurnDecoder::<B>::new(m, dev, label)))
        }
        #[cfg(feature = "cuda")]
        (BackendKind::Burn, DeviceKind::Cuda(index)) => {
            let dev = burn::backend::cuda::CudaDevice { index };
            // One arm per float type (the element trait of burn-cuda is not re-exported).
            macro_rules! on {
                ($f:ty) => {{
                    type C = burn::backend::Cuda<$f, i32>;
                    let m = Transformer::<C>::from_weights(cfg, weights, file, &dev)?;
                    Ok(Box::new(BurnDecoder::<C>::new(m, dev, label)))
                }};
            }
            match spec.dtype {
                Dtype::F32 => on!(f32),
                Dtype::Bf16 => on!(burn::tensor::bf16),
                Dtype::F16 => on!(burn::tensor::f16),
            }
        }
        #[cfg(not(feature = "cuda"))]
        (BackendKind::Burn, DeviceKind::Cuda(_)) => unreachable!("check_build refuses cuda"),
    }
}

/// The checkpoint in `dir` (`config.json` + `model.safetensors` or shards) on the backend
/// `spec` names.
pub fn load_decoder(dir: &Path, spec: &EngineSpec) -> Result<Box<dyn Decoder>> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    if spec.backend == BackendKind::Cpu {
        // Read a tensor at a time; a bf16 checkpoint stays bf16 in memory (the products
        // widen it exactly, so the outputs are those of its f32 copy).
        spec.check_build()
            .map_err(|m| Error::Config(format!("engine {m}")))?;
        return Ok(Box::new(CpuModel::load(dir, &cfg, true)?));
    }
    let w = read_checkpoint_weights(dir)?;
    decoder_from_weights(&cfg, w, &weights_path(dir), spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_and_dtype_errors_name_the_key() {
        let parse = |s: &str| toml_like(s);
        assert!(EngineSpec::cpu().validate().is_ok());
        assert!(EngineSpec::burn("cpu").validate().is_ok());
        let e = EngineSpec::burn("gpu").validate().unwrap_err();
        assert!(e.starts_with("device:"), "{e}");
        let e = EngineSpec {
            dtype: Dtype::Bf16,
            ..EngineSpec::burn("cpu")
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("dtype:"), "{e}");
        let e = EngineSpec {
            device: "cuda".into(),
            ..EngineSpec::cpu()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("backend = \"burn\""), "{e}");
        assert!(EngineSpec::burn("cuda:1").validate().is_ok());
        if !cfg!(feature = "cuda") {
            let e = EngineSpec::burn("cuda:1").check_build().unwrap_err();
            assert!(e.contains("--features cuda"), "{e}");
        }
        assert_eq!(parse("burn").backend, BackendKind::Burn);
    }

    fn toml_like(backend: &str) -> EngineSpec {
        serde_json::from_value(serde_json::json!({ "backend": backend })).unwrap()
    }
}
