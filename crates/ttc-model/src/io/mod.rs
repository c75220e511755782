//! A checkpoint on disk as transformers lays it out (DESIGN §4): safetensors files, one or
//! sharded with an index ([`checkpoint_files`]), read one tensor at a time
//! ([`tensor_files`]); host tensors by HF name ([`weights`]); the burn model's weights in
//! HF names, both directions ([`hf_io`]); what a checkpoint is ([`model_info`]).

pub mod checkpoint_files;
pub mod hf_io;
pub mod model_info;
pub mod tensor_files;
pub mod weights;
