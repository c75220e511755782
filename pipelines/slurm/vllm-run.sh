#!/usr/bin/env bash
# A preset against N vLLM servers started on the cluster: submits the server array, waits
# until every server answers, submits the pipeline's stages as jobs with every generating
# stage of the policy on them (an [engine] block appended to a copy of the preset), then cancels the servers.
# The preset must not have its own [engine] section.
#
#   pipelines/slurm/vllm-run.sh PRESET POLICY_DIR [SERVERS]
set -euo pipefail
preset=${1:?usage: vllm-run.sh PRESET POLICY_DIR [SERVERS]}
policy=${2:?policy checkpoint directory}
n=${3:-4}
cd "$(dirname "$0")/../.."
mkdir -p logs
cargo build --release
dir=$(mktemp -d "$PWD/logs/servers.XXXX")
job=$(sbatch --parsable --array=0-$((n - 1)) pipelines/slurm/vllm-servers.sbatch "$policy" policy "$dir")
trap 'scancel "$job"' EXIT
echo "servers: job $job; waiting for $n URLs in $dir"
until [ "$(ls "$dir"/*.url 2>/dev/null | wc -l)" -ge "$n" ]; do sleep 10; done
urls=$(cat "$dir"/*.url | sed 's/.*/"&"/' | paste -sd, -)
run="$dir/preset.toml"
cat "$preset" > "$run"
printf '\n[engine]\nbackend = "openai"\nurls = [%s]\nmodel = "policy"\nserver = "vllm"\n' "$urls" >> "$run"
# Relative paths in the preset resolve against its directory: keep the copy beside it.
cp "$run" "$(dirname "$preset")/.vllm-$job.toml"
# Every stage as a job of its own (`ttc pipeline submit`), against the servers; --wait keeps
# the servers up until the last job has left the queue.
target/release/ttc pipeline submit "$(dirname "$preset")/.vllm-$job.toml" --executor slurm \
    --array-tasks "$n" --wait
