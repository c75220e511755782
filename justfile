# ttc. `just pipeline` runs the default preset end to end; `just test` is what CI runs.
# The stages and their order live in one place, the plan (crates/ttc-pipeline/src/plan.rs):
# `just stage <id>` runs any stage of it (and what it needs), `just stages` lists them.

preset := "pipelines/default.toml"
ttc := "cargo run --release --quiet --"

# List recipes.
default:
    @just --list

# The main job: the preset's whole DAG (finished stages skipped, a killed stage resumed; per-stage times in reports/<run>/timings.csv).
pipeline preset=preset:
    {{ttc}} pipeline run {{preset}}

# Each stage of the preset: done / stale (why) / partial / missing / waiting.
status preset=preset:
    {{ttc}} pipeline status {{preset}}

# The stage ids of the preset's plan, in order, with their state (same as `status`).
stages preset=preset:
    {{ttc}} pipeline status {{preset}}

# One stage and whatever it needs, e.g. `just stage prm`, `just stage policy-large`, `just stage "search beam-m4-n16-last"`.
stage id preset=preset:
    {{ttc}} pipeline run {{preset}} --until "{{id}}"

# The preset as the plan reads it: what it extends merged in, every default filled in.
show preset=preset:
    {{ttc}} pipeline show {{preset}}

# CI's end-to-end run on the tiny preset (the whole DAG, a minute or two).
smoke: (pipeline "pipelines/smoke.toml")

# Benchmarks (JSON lines): sampler at batch 1/64/256 and PRM scoring on both CPU engines (cpu, burn on flex), ttc serve at 64 concurrent requests vs in-process, training throughput (fused CPU kernels, then burn's composed ops) and forward-only, default policy size
bench:
    {{ttc}} bench generate --size default --batch 1,64,256 --backend cpu
    {{ttc}} bench generate --size default --batch 1,64,256 --backend burn
    {{ttc}} bench generate --size large --batch 1,8,64 --new-tokens 48 --weights f32,bf16
    {{ttc}} bench score --size default --batch 16,64 --backend cpu
    {{ttc}} bench score --size default --batch 16,64 --backend burn
    {{ttc}} bench serve --size default --batch 64
    {{ttc}} bench train --size default
    {{ttc}} bench train --size default --composed
    {{ttc}} bench train --size default --forward-only

# Search wall time on a run's own policy and PRM: weighted best-of-N (the baseline), beam, particle filtering, REBASE and DeepConf at N = 16, interleaved repeats (run the preset's `prm` stage first)
bench-search preset="pipelines/default.toml" questions="50":
    {{ttc}} bench search --preset {{preset}} --n 16 --questions {{questions}} --repeats 5 --strategies weighted-bon,beam,pf,rebase,deepconf

# The cost model (`status`'s "cost" estimates) against a run's recorded walls: each stage leave-one-out and at a probe's speed (run the preset first)
bench-cost preset=preset:
    {{ttc}} bench cost-model --preset {{preset}}

# PyTorch + transformers on the same shapes, for comparison (needs: pip install torch transformers).
# bf16 decode on SmolLM-135M's shape: ttc (each bf16 kernel) vs transformers bf16, interleaved.
bench-bf16:
    scripts/bench_bf16_decode.sh

bench-torch:
    python3 scripts/bench_torch_generate.py --size default --batch 1,64,256
    python3 scripts/bench_torch_train.py --size default

# An OpenAI-compatible server over a checkpoint (`ttc serve --help` lists every flag).
serve checkpoint port="8000":
    {{ttc}} serve --checkpoint {{checkpoint}} --port {{port}}

# The smoke preset through a real one-node Slurm on this machine (installs slurm-wlm + munge; needs root; CI runs it after `test`)
test-slurm:
    cargo test --release --features slurm-tests --test slurm

# A real `transformers serve` (pip `transformers[serving]` + torch; the program: $TTC_TRANSFORMERS or `transformers`) behind a `/v1` base URL (CI runs it after `test`)
test-transformers-serve:
    cargo test --release --features transformers-serve-tests --test transformers_serve

# Format, lint, unit + integration tests (incl. the smoke pipeline and the fault test), CUDA build check
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo test --workspace --release --no-fail-fast
    cargo check --workspace --features cuda --quiet
