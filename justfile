# ttc — one recipe per stage. `just pipeline` runs the default preset end to end;
# `just test` is what CI runs.

preset := "pipelines/default.toml"
ttc := "cargo run --release --quiet --"

# List recipes.
default:
    @just --list

# Finished stages are skipped, a killed stage resumes; per-stage times in reports/<run>/timings.csv.
# The main job: the preset's whole DAG (ttc pipeline run), skipping finished stages
pipeline preset=preset:
    {{ttc}} pipeline run {{preset}}

# Each stage of the preset: done / stale / partial / missing / waiting.
status preset=preset:
    {{ttc}} pipeline status {{preset}}

# CI's end-to-end run on the tiny preset (the whole DAG, a few minutes).
smoke: (pipeline "pipelines/smoke.toml")

# Generate the problem dataset (datasets/<run>/).
data preset=preset:
    {{ttc}} data gen --preset {{preset}}

# Train the BPE tokenizer (checkpoints/<run>/tokenizer/).
tokenizer preset=preset: (data preset)
    {{ttc}} tokenizer train --preset {{preset}}

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

# An OpenAI-compatible server over a checkpoint (`ttc serve --help` lists every flag).
serve checkpoint port="8000":
    {{ttc}} serve --checkpoint {{checkpoint}} --port {{port}}

# PyTorch + transformers on the same shapes, for comparison (needs: pip install torch transformers).
bench-torch:
    python3 scripts/bench_torch_generate.py --size default --batch 1,64,256
    python3 scripts/bench_torch_train.py --size default

# Train the policy (checkpoints/<run>/policy/); resumes a killed run.
policy preset=preset: (tokenizer preset)
    {{ttc}} train policy --preset {{preset}}

# Train the ~14x larger policy for the FLOPs-matched comparison (checkpoints/<run>/policy-large/).
policy-large preset=preset: (tokenizer preset)
    {{ttc}} train policy --large --preset {{preset}}

# Train the verifier (`[verifier]`: the policy trained on past itself) whose likelihood judges the policy's solutions (checkpoints/<run>/verifier/).
verifier preset=preset: (policy preset)
    {{ttc}} train verifier --preset {{preset}}

# Policy samples of train questions (datasets/<run>/samples-train/).
samples preset=preset: (policy preset)
    {{ttc}} sample --split train --preset {{preset}}

# Monte Carlo step labels of those samples (datasets/<run>/labels/).
labels preset=preset: (samples preset)
    {{ttc}} label --preset {{preset}}

# Train the PRM on the labels (checkpoints/<run>/prm/); regenerates it when its inputs changed.
prm preset=preset: (labels preset)
    {{ttc}} train prm --preset {{preset}}

# N samples per test question (datasets/<run>/samples-test/).
test-samples preset=preset: (policy preset)
    {{ttc}} sample --split test --preset {{preset}}

# PRM evaluation: AUROC, first-error F1, calibration, best-of-N vs majority (reports/<run>/prm/).
eval-prm preset=preset: (prm preset) (test-samples preset)
    {{ttc}} eval prm --preset {{preset}}

# Every search strategy at budget N over the PRM (reports/<run>/search/<strategy>-n<N>-<agg>/).
search preset=preset n="16": (prm preset)
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy majority
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy bon
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy weighted-bon
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy beam
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy dvts
    {{ttc}} search --preset {{preset}} --n {{n}} --strategy lookahead --lookahead 2

# High-temperature samples and revision trajectories (datasets/<run>/revisions/).
revision-data preset=preset: (policy preset)
    {{ttc}} sample --split revision --preset {{preset}}
    {{ttc}} revisions build --preset {{preset}}

# Fine-tune the revision model from the policy (checkpoints/<run>/revision/).
revision preset=preset: (revision-data preset)
    {{ttc}} train revision --preset {{preset}}

# Revision chains of train questions and the ORM trained on them (checkpoints/<run>/orm/).
orm preset=preset: (revision preset)
    {{ttc}} revise --split train --preset {{preset}}
    {{ttc}} train orm --preset {{preset}}

# Revision chains on the test split and selection over them (reports/<run>/revisions/).
eval-revisions preset=preset: (orm preset)
    {{ttc}} revise --split test --preset {{preset}}
    {{ttc}} eval revisions --preset {{preset}}

# Every evaluation stage (PRM, searches, revisions, bins, compute-optimal, exchange): the DAG up to the report
eval preset=preset:
    {{ttc}} pipeline run {{preset}}

# FLOPs-matched exchange against the larger policy (needs `just policy-large`).
exchange preset=preset: (analysis preset)
    {{ttc}} eval policy --large --split test --preset {{preset}}
    {{ttc}} eval exchange --preset {{preset}}

# Accuracy vs budget, difficulty bins, two-fold CV compute-optimal (reports/<run>/{sweep,bins,compute_optimal}/).
analysis preset=preset: (eval-prm preset) (search preset)
    {{ttc}} eval sweep --preset {{preset}}
    {{ttc}} eval bins --preset {{preset}}
    {{ttc}} eval compute-optimal --preset {{preset}}

# The report: reports/<run>/report.md + report.html (figures inline), findings first.
report preset=preset:
    {{ttc}} report --preset {{preset}}

# Greedy pass@1 per level of the trained policy on the test split.
eval-policy preset=preset:
    {{ttc}} eval policy --preset {{preset}} --split test

# tests/pipeline_fault.rs runs the smoke pipeline end to end, twice, killing it in every stage.
# Format, lint, unit + integration tests (incl. the smoke pipeline and the fault test), CUDA build check
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo test --workspace --release --no-fail-fast
    cargo check --workspace --features cuda --quiet
