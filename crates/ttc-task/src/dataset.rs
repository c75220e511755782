//! The `data` stage: generate the arith splits and write `train.jsonl`, `val.jsonl`,
//! `test.jsonl` and `manifest.json` into one directory (DESIGN §1–§2).

use std::path::Path;

use ttc_core::jsonl::write_jsonl;
use ttc_core::manifest::Manifest;

use crate::Result;
use crate::arith::{ArithConfig, generate};

/// The split files of a dataset directory, in order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// File name of a split.
pub fn split_file(split: &str) -> String {
    format!("{split}.jsonl")
}

/// Generate and write the dataset; the manifest is written last (its presence means done).
pub fn build_arith_dataset(cfg: &ArithConfig, dir: &Path) -> Result<Manifest> {
    let start = std::time::Instant::now();
    let splits = generate(cfg)?;
    let mut m = Manifest::new("data", cfg, cfg.seed);
    for (name, rows) in SPLITS
        .iter()
        .zip([&splits.train, &splits.val, &splits.test])
    {
        let file = split_file(name);
        write_jsonl(&dir.join(&file), rows)?;
        m.counts.insert(name.to_string(), rows.len() as u64);
        for level in 1..=5u8 {
            let n = rows.iter().filter(|p| p.level == level).count() as u64;
            m.counts.insert(format!("{name}_level{level}"), n);
        }
    }
    m.wall_time_s = start.elapsed().as_secs_f64();
    m.save(dir)?;
    Ok(m)
}
