//! Running a stage's resumable parts (DESIGN §11): each pending chunk of this shard, behind
//! a progress bar; in merge mode only the check that every part is there.

use anyhow::Result;
use ttc_data::shards::{Parts, Shard};

use crate::run::stage::{Ctx, Mode};

/// Run `work` on every pending chunk of `parts` owned by `shard`, with a progress bar
/// over questions (`ttc merge`: only checks that every part is there). True when every chunk (all shards) is done.
pub fn run_parts<T: serde::Serialize>(
    ctx: &Ctx,
    parts: &Parts,
    label: &str,
    mut work: impl FnMut(usize, std::ops::Range<usize>) -> Result<Vec<T>>,
) -> Result<bool> {
    if ctx.mode == Mode::MergeOnly {
        let missing = parts.pending(Shard::ALL);
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().take(20).map(|c| c.to_string()).collect();
            anyhow::bail!(
                "{label}: cannot merge {}: {} of {} parts missing (chunks {}{}); run the shards that own them (chunk c belongs to shard c % n)",
                parts.output.display(),
                missing.len(),
                parts.n_chunks(),
                list.join(", "),
                if missing.len() > 20 { ", …" } else { "" }
            );
        }
        return Ok(true);
    }
    let pending = parts.pending(ctx.shard);
    let n_q: usize = pending.iter().map(|&c| parts.range(c).len()).sum();
    let pb = ctx.progress.bar(n_q as u64, label);
    for c in pending {
        let r = parts.range(c);
        let len = r.len();
        let rows = work(c, r)?;
        parts.write_part(c, &rows)?;
        pb.inc(len as u64);
    }
    pb.finish();
    Ok(parts.complete())
}
