#!/usr/bin/env bash
# Prints the median (and its 95% confidence interval) of every criterion
# benchmark of the last run, from target/criterion/*/*/new/estimates.json,
# plus the ratios BENCHMARKS.md quotes. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${CRITERION_HOME:-target/criterion}

median_ns() { jq -r '.median.point_estimate' "$DIR/$1/new/estimates.json"; }

fmt() {
    awk -v ns="$1" 'BEGIN {
        if (ns >= 1e9) printf "%.3f s", ns / 1e9;
        else if (ns >= 1e6) printf "%.2f ms", ns / 1e6;
        else if (ns >= 1e3) printf "%.2f us", ns / 1e3;
        else printf "%.1f ns", ns }'
}

printf '%-40s %14s %14s %14s\n' benchmark median "ci95 low" "ci95 high"
for f in "$DIR"/*/*/new/estimates.json; do
    id=${f#"$DIR"/}
    id=${id%/new/estimates.json}
    read -r m lo hi < <(jq -r '[.median.point_estimate, .median.confidence_interval.lower_bound, .median.confidence_interval.upper_bound] | @tsv' "$f")
    printf '%-40s %14s %14s %14s\n' "$id" "$(fmt "$m")" "$(fmt "$lo")" "$(fmt "$hi")"
done

ratio() {
    [[ -f $DIR/$1/new/estimates.json && -f $DIR/$2/new/estimates.json ]] || return 0
    awk -v a="$(median_ns "$1")" -v b="$(median_ns "$2")" -v l="$1 / $2" 'BEGIN { printf "%-45s %8.2fx\n", l, a / b }'
}
echo
echo "ratios of medians:"
ratio call/plugin_trivial call/native_trait
ratio call/plugin_one_host_call call/native_trait
ratio call/plugin_one_host_call call/plugin_trivial
ratio call/raw_record call/raw_u64
ratio call/raw_record_async call/raw_u64_async
ratio call/raw_u64_async call/raw_u64
ratio call/raw_record_async call/raw_record
ratio call/plugin_trivial call/raw_u64
ratio call/plugin_trivial call/raw_record
ratio call/plugin_trivial call/raw_record_async
ratio load/compile load/cache_hit
ratio load/compile_load_only load/cache_hit_load_only
ratio gate/release_20_blocks gate/release_20_blocks_no_requirements
ratio gate/release_20_blocks gate/check_one_block
ratio gate/requirements_and_check_one_block gate/check_one_block
ratio policy/gate_and_evaluate policy/gate
ratio policy/evaluate policy/gate
ratio policy/evaluate policy/decide_native
