//! ttc-core: the plumbing every stage shares (DESIGN §1, stage contract).
//!
//! Atomic writes (temp file + rename, so no partial file is ever visible under a final
//! name), JSONL reading that names `file:line` on bad input, content hashes, and the
//! `manifest.json` each stage writes next to its outputs.

pub mod atomic;
pub mod confidence;
pub mod error;
pub mod hash;
pub mod jsonl;
pub mod manifest;
pub mod mem;
pub mod sampling_rules;
pub mod seed;
pub mod table;

pub use error::{Error, Result};
