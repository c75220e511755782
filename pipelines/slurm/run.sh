#!/usr/bin/env bash
# A whole preset on a Slurm cluster, from the plan itself: `ttc pipeline submit` (one job per
# stage, arrays + merges for the sharded ones, afterok dependencies; `--help` lists the flags).
#   pipelines/slurm/run.sh PRESET [TASKS] [more submit flags…]
set -euo pipefail
cd "$(dirname "$0")/../.." && cargo build --release && exec target/release/ttc pipeline submit "${1:?usage: run.sh PRESET [TASKS]}" --executor slurm --array-tasks "${2:-16}" "${@:3}"
