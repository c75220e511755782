# ttc — one recipe per stage. `just pipeline` runs the default preset end to end;
# `just test` is what CI runs.

preset := "pipelines/default.toml"
ttc := "cargo run --release --quiet --"

# List recipes.
default:
    @just --list

# The main job: every stage that exists, on the default preset.
pipeline preset=preset: (data preset) (tokenizer preset) (policy preset)

# CI's end-to-end run on the tiny preset.
smoke: (pipeline "pipelines/smoke.toml")

# Generate the problem dataset (datasets/<run>/).
data preset=preset:
    {{ttc}} data gen --preset {{preset}}

# Train the BPE tokenizer (checkpoints/<run>/tokenizer/).
tokenizer preset=preset: (data preset)
    {{ttc}} tokenizer train --preset {{preset}}

# Benchmarks (JSON lines): sampler throughput at batch 1/64/256 and training throughput,
# for the default policy size.
bench:
    {{ttc}} bench generate --size default --batch 1,64,256
    {{ttc}} bench train --size default

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

# Greedy pass@1 per level of the trained policy on the test split.
eval-policy preset=preset:
    {{ttc}} eval policy --preset {{preset}} --split test

# Format, lint, unit + integration tests, the CUDA build check, and the smoke pipeline.
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo test --workspace --release
    cargo check --workspace --features cuda --quiet
    just smoke
