#!/usr/bin/env bash
# A whole preset on a Slurm cluster: the sharded stages (policy samples, MC labels, test
# samples, searches, revision chains) as 16-task arrays, each followed by its merge job;
# the training and analysis stages as single jobs, all chained by dependencies.
#
#   pipelines/slurm/run.sh pipelines/default.toml [TASKS]
set -euo pipefail
preset=${1:?usage: run.sh PRESET [TASKS]}
tasks=${2:-16}
cd "$(dirname "$0")/../.."
mkdir -p logs
cargo build --release
dep=""
after() { [ -n "$dep" ] && echo "--dependency=afterok:$dep" || true; }
single() { # run a whole stage (`ttc pipeline run --until STAGE` skips what is done)
    dep=$(sbatch --parsable $(after) --job-name="ttc-$1" --gres=gpu:1 --cpus-per-task=16 \
        --output="logs/%x-%j.out" --wrap="target/release/ttc pipeline run $preset --until '$1'")
}
sharded() { # STAGE-ARGS...: an array over the chunks, then the merge
    local a
    a=$(sbatch --parsable $(after) --array=0-$((tasks - 1)) pipelines/slurm/shard.sbatch "$preset" "$@")
    dep=$(sbatch --parsable --dependency=afterok:"$a" pipelines/slurm/merge.sbatch "$preset" "$@")
}
single policy
sharded sample --split train
sharded label
single prm
sharded sample --split test
single report   # everything else (searches, revisions, evaluations) in stage order
echo "submitted; last job $dep — watch with: squeue -u $USER; target/release/ttc pipeline status $preset"
