# ttc — one recipe per stage. `just pipeline` runs the default preset end to end;
# `just test` is what CI runs.

preset := "pipelines/default.toml"
ttc := "cargo run --release --quiet --"

# List recipes.
default:
    @just --list

# The main job: every stage that exists, on the default preset.
pipeline preset=preset: (data preset) (tokenizer preset)

# CI's end-to-end run on the tiny preset.
smoke: (pipeline "pipelines/smoke.toml")

# Generate the problem dataset (datasets/<run>/).
data preset=preset:
    {{ttc}} data gen --preset {{preset}}

# Train the BPE tokenizer (checkpoints/<run>/tokenizer/).
tokenizer preset=preset: (data preset)
    {{ttc}} tokenizer train --preset {{preset}}

# Format, lint, unit + integration tests, and the smoke pipeline.
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo test --workspace --release
    just smoke
