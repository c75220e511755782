#!/usr/bin/env bash
# Byte-identity check of two ttc builds on the smoke preset (the architecture refactor's
# contract): run `ttc pipeline run pipelines/smoke.toml` with each binary in its own empty
# directory and compare every output file. Files that record wall time or the runner's own
# bookkeeping (manifest.json, train_state.json, metrics.jsonl, summary.json, timings.*,
# the runner's records) are not compared; every dataset, checkpoint, table, figure and the
# report itself are compared byte for byte.
#
# usage: scripts/smoke_identity.sh OLD_TTC NEW_TTC [PRESET]
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2")
preset=$(realpath "${3:-pipelines/smoke.toml}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
    mkdir -p "$work/$side"
    bin=$old; [ "$side" = new ] && bin=$new
    (cd "$work/$side" && "$bin" pipeline run "$preset" >/dev/null 2>"$work/$side.log") || {
        echo "$side: pipeline failed:"; tail -5 "$work/$side.log"; exit 1; }
done
skip='(/manifest\.json|/train_state\.json|/metrics\.jsonl|/summary\.json|/timings\.(csv|json)|/pipeline/|/\.ttc-record-|/\.ttc-lock$)'
same=0; differ=0; only=0; skipped=0
while IFS= read -r f; do
    if [[ "$f" =~ $skip ]]; then skipped=$((skipped + 1)); continue; fi
    if [ ! -e "$work/new/$f" ]; then echo "missing in new: $f"; only=$((only + 1)); continue; fi
    if cmp -s "$work/old/$f" "$work/new/$f"; then same=$((same + 1)); else echo "differs: $f"; differ=$((differ + 1)); fi
done < <(cd "$work/old" && find datasets checkpoints reports -type f | sort)
added=0
while IFS= read -r f; do
    [[ "$f" =~ $skip ]] && continue
    [ -e "$work/old/$f" ] || { echo "new output: $f"; added=$((added + 1)); }
done < <(cd "$work/new" && find datasets checkpoints reports -type f | sort)
echo "identical: $same, differ: $differ, missing in new: $only, new outputs: $added, not compared (wall times, bookkeeping): $skipped"
# New files are additions (e.g. a table's parquet beside its CSV); a changed or lost one fails.
[ "$differ" -eq 0 ] && [ "$only" -eq 0 ]
