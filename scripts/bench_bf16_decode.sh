#!/usr/bin/env bash
# bf16 decode on a real shape — SmolLM-135M's (30 layers, hidden 576, 9 / 3 heads, vocab
# 49,152, tied embeddings; random weights): ttc's cpu backend with each bf16 kernel and
# transformers in bf16 on the same shape, interleaved for ROUNDS rounds in one run, greedy.
# Prints every JSON line, then the medians: tok/s, ttc ÷ transformers, and ttc's share of the
# decode bound the read bandwidth (measured in the same run, same threads) sets.
#
#   just bench-bf16                       # ROUNDS=3 THREADS=2 BATCH=1,4,16
#   ROUNDS=5 KERNELS=native python3 …     # environment overrides
# Needs: pip install torch transformers (the peer only).
set -euo pipefail
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
BATCH=${BATCH:-1,4,16}
NEW=${NEW:-64}
PROMPT=${PROMPT:-32}
KERNELS=${KERNELS:-avx512,native,portable}
TTC=${TTC:-target/release/ttc}
CFG=${CFG:-scripts/smol135m-shape.json}
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for r in $(seq "$ROUNDS"); do
  "$TTC" bench generate --config "$CFG" --weights bf16 --bf16-kernel "$KERNELS" \
    --batch "$BATCH" --threads "$THREADS" --new-tokens "$NEW" --prompt-len "$PROMPT" \
    --temperature 0 | tee -a "$lines"
  python3 scripts/bench_torch_generate.py --config "$CFG" --dtype bf16 --batch "$BATCH" \
    --threads "$THREADS" --new-tokens "$NEW" --prompt-len "$PROMPT" --temperature 0 \
    | tee -a "$lines"
done
python3 - "$lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def key(r):
    return f"ttc {r['kernel']}" if r["bench"] == "generate" else f"transformers bf16 ({r['bench'][6:]})"
med = {}
for r in rows:
    med.setdefault((key(r), r["batch"]), []).append(r)
peer = {b: statistics.median(x.get("decode_tok_s", x.get("tok_s")) for x in v)
        for (k, b), v in med.items() if k == "transformers bf16 (generate)"}
print("\n| engine | batch | decode tok/s (median) | runs | × transformers generate | % of bound |")
print("|---|---|---|---|---|---|")
for (k, b), v in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    tok = statistics.median(x.get("decode_tok_s", x.get("tok_s")) for x in v)
    ratio = f"{tok / peer[b]:.2f}×" if b in peer else ""
    pct = f"{statistics.median(x['pct_of_bound'] for x in v):.0f}%" if "pct_of_bound" in v[0] else ""
    print(f"| {k} | {b} | {tok:.1f} | {len(v)} | {ratio} | {pct} |")
bw = [r["bandwidth_gb_s"] for r in rows if "bandwidth_gb_s" in r]
if bw:
    wb = next(r["weight_bytes"] for r in rows if "weight_bytes" in r)
    print(f"\nread bandwidth {statistics.median(bw):.1f} GB/s; {wb / 1e6:.1f} MB of weights per decode step")
PY
