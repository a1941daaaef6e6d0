#!/usr/bin/env bash
# `osb contract check` of balena's real contracts as a whole process (see
# BENCHMARKS.md, section 10), against `osb --version` as the floor: the
# cost of starting the process at all.
#
#   device:  a `meta.context` whose children are the jetson-tx2 device type,
#            the aarch64 architecture and the balenaOS release, each the
#            fixture file unchanged (contract/tests/fixtures/);
#   require: a block requiring `arch.sw aarch64` and `sw.os balena-os`.
#
# The check reads both files, checks the requirements and the device's own
# children (aarch64 needs an aarch64 device type, balenaOS one of its
# architectures), and prints the report. A fourth command splits the
# difference: `contract check` of files that do not exist (exit 2) pays
# what the subcommand does before it reads a contract (logging set up, the
# device config looked for) and no more. The commands are run in turn,
# RUNS times, so that a neighbour's load falls on all of them alike; wall
# time from bash's $EPOCHREALTIME (no process started to read it).
#
# Usage: tests/benches/contract.sh                  (from anywhere in the repo)
#   SKIP_BUILD=1   use the binary already built
#   OSB=PATH       another binary (e.g. an older commit's)
#   RUNS=N         runs of each command (default 200)
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-200}

source tests/benches/common.sh
build_and_locate

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

FIXTURES=contract/tests/fixtures
DEVICE=$WORK/jetson-tx2.json
REQUIRE=$WORK/require.json
jq -n \
    --slurpfile tx2 "$FIXTURES/hw.device-type/jetson-tx2/contract.json" \
    --slurpfile arch "$FIXTURES/arch.sw/aarch64/contract.json" \
    --slurpfile os "$FIXTURES/sw.os/balenaos/contract.json" \
    '{type: "meta.context", slug: "device", children: [$tx2[0], $arch[0], $os[0]]}' >"$DEVICE"
jq -n '{type: "sw.block", slug: "bench", requires: [
    {type: "arch.sw", slug: "aarch64"},
    {type: "sw.os", slug: "balena-os"}]}' >"$REQUIRE"

# No device config: the check needs none, and one on this machine must not
# change what is measured.
unset OSB_CONFIG

echo "== machine"
echo "cpus: $(nproc); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "kernel: $(uname -r); date: $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $OSB ($(stat -c %s "$OSB") bytes); $("$OSB" --version)"

# The measurement is meaningless unless the check holds: exit 0 and
# `"holds": true`, device included.
"$OSB" contract check --device "$DEVICE" --require "$REQUIRE" --json >"$WORK/report.json" ||
    { echo "the check does not hold:" >&2; cat "$WORK/report.json" >&2; exit 1; }
jq -e '.holds and .device.holds and (.requirements | length) == 2' "$WORK/report.json" >/dev/null ||
    { echo "unexpected report:" >&2; cat "$WORK/report.json" >&2; exit 1; }
echo
echo "== the check (text)"
"$OSB" contract check --device "$DEVICE" --require "$REQUIRE"

# Microseconds since the epoch: $EPOCHREALTIME ("s.uuuuuu", the separator
# the locale's) without its separator, read in place (a function called as
# $(now) would fork a subshell inside the interval timed).

for f in version missing check json; do : >"$WORK/$f"; done
for _ in $(seq "$RUNS"); do
    t0=${EPOCHREALTIME//[.,]/}
    "$OSB" --version >/dev/null
    t1=${EPOCHREALTIME//[.,]/}
    missing=0
    "$OSB" contract check --device "$WORK/none" --require "$WORK/none" >/dev/null 2>&1 || missing=$?
    t2=${EPOCHREALTIME//[.,]/}
    ((missing == 2)) || { echo "a check of missing files exited $missing, not 2" >&2; exit 1; }
    "$OSB" contract check --device "$DEVICE" --require "$REQUIRE" >/dev/null
    t3=${EPOCHREALTIME//[.,]/}
    "$OSB" contract check --device "$DEVICE" --require "$REQUIRE" --json >/dev/null
    t4=${EPOCHREALTIME//[.,]/}
    echo $((t1 - t0)) >>"$WORK/version"
    echo $((t2 - t1)) >>"$WORK/missing"
    echo $((t3 - t2)) >>"$WORK/check"
    echo $((t4 - t3)) >>"$WORK/json"
done

# min, median, p90, max of a file of microseconds, in ms.
stats() {
    sort -n "$1" | awk '{a[NR] = $1} END {
        printf "%.2f %.2f %.2f %.2f\n", a[1] / 1000, a[int((NR + 1) / 2)] / 1000,
            a[int(NR * 0.9 + 0.5)] / 1000, a[NR] / 1000 }'
}
read -r v_min v_med v_p90 v_max < <(stats "$WORK/version")
read -r m_min m_med m_p90 m_max < <(stats "$WORK/missing")
read -r c_min c_med c_p90 c_max < <(stats "$WORK/check")
read -r j_min j_med j_p90 j_max < <(stats "$WORK/json")

echo
echo "== wall time, $RUNS runs each, interleaved (ms)"
printf '%-34s %8s %8s %8s %8s\n' command min median p90 max
printf '%-34s %8s %8s %8s %8s\n' "osb --version" "$v_min" "$v_med" "$v_p90" "$v_max"
printf '%-34s %8s %8s %8s %8s\n' "osb contract check, no such files" "$m_min" "$m_med" "$m_p90" "$m_max"
printf '%-34s %8s %8s %8s %8s\n' "osb contract check" "$c_min" "$c_med" "$c_p90" "$c_max"
printf '%-34s %8s %8s %8s %8s\n' "osb contract check --json" "$j_min" "$j_med" "$j_p90" "$j_max"
echo
awk -v v="$v_med" -v m="$m_med" -v c="$c_med" -v j="$j_med" 'BEGIN {
    printf "median no such files / --version:  %.2fx (no such files - version: %+.2f ms)\n", m / v, m - v
    printf "median check / --version:          %.2fx (check - version: %+.2f ms)\n", c / v, c - v
    printf "median check --json / --version:   %.2fx (check --json - version: %+.2f ms)\n", j / v, j - v }'
