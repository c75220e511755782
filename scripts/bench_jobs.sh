#!/usr/bin/env bash
# `ttc pipeline run --jobs K` against the serial runner on the same preset, interleaved
# (serial, jobs, serial, jobs, …) so the machine's drift hits both alike. Each run starts from
# an empty run directory; prints one JSON line per run and a summary line with the medians.
#
#   scripts/bench_jobs.sh [PRESET] [JOBS] [REPEATS]
set -euo pipefail
preset=$(realpath "${1:-pipelines/bench-jobs.toml}")
jobs=${2:-2}
repeats=${3:-3}
ttc=$(realpath "${TTC_BIN:-target/release/ttc}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wall() { # K: seconds of one whole run with --jobs K
    rm -rf "$work/run" && mkdir "$work/run"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$work/run" && "$ttc" pipeline run "$preset" --jobs "$1" >/dev/null 2>"$work/log") ||
        { cat "$work/log" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk "BEGIN {printf \"%.2f\", $t1 - $t0}"
}
serial=() parallel=()
for r in $(seq "$repeats"); do
    s=$(wall 1); serial+=("$s")
    echo "{\"bench\":\"pipeline-jobs\",\"jobs\":1,\"repeat\":$r,\"wall_s\":$s}"
    p=$(wall "$jobs"); parallel+=("$p")
    echo "{\"bench\":\"pipeline-jobs\",\"jobs\":$jobs,\"repeat\":$r,\"wall_s\":$p}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms=$(median "${serial[@]}") mp=$(median "${parallel[@]}")
echo "{\"bench\":\"pipeline-jobs\",\"preset\":\"$(basename "$preset")\",\"cores\":$(nproc),\"repeats\":$repeats,\"serial_median_s\":$ms,\"jobs\":$jobs,\"jobs_median_s\":$mp,\"ratio\":$(awk "BEGIN {printf \"%.3f\", $mp / $ms}")}"
