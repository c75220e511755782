//! Helpers shared by the end-to-end tests: run the `ttc` binary as a user would.

use std::path::Path;
use std::process::{Command, Output};

/// Run `ttc args…` in `dir`.
pub fn ttc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running ttc")
}

/// The process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `ttc model init --size tiny --tokenizer tok --out out extra…` in `dir`.
#[allow(dead_code)] // not every test binary builds a model
pub fn init_tiny(dir: &Path, tok: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "model",
        "init",
        "--size",
        "tiny",
        "--tokenizer",
        tok,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    ttc(dir, &args)
}
