#!/usr/bin/env bash
# Installing a host OS image's files (see BENCHMARKS.md, section 13): the
# same `docker export` stream of a root filesystem of a few hundred MB,
# unpacked by `osb-hostos` (hostapp rules: every entry made beneath a
# directory capability, nothing followed) and by `tar -x`, in turn, RUNS
# times, so a neighbour's load falls on both alike. Neither syncs: the
# slot writer's one `syncfs` is timed apart, once. Wall time from bash's
# $EPOCHREALTIME; bytes from the stream and `du` of each result.
#
# The image is made here, as the tests make theirs: `docker import` of a
# tar of the host's /usr/bin and /etc with an `sbin/init` marker.
#
# Usage: tests/benches/hostos.sh                  (from anywhere in the repo; root)
#   SKIP_BUILD=1   use the example binary already built
#   RUNS=N         runs of each (default 7)
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -q -p osb-hostos --example unpack_stdin
UNPACK=$PWD/target/release/examples/unpack_stdin
IMAGE=osb-bench/hostos-rootfs:1

WORK=$(mktemp -d)
CONTAINER=
cleanup() {
    [[ -z $CONTAINER ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/marker/sbin"
ln -s ../usr/bin/true "$WORK/marker/sbin/init"
tar -c -C / usr/bin etc -C "$WORK/marker" sbin 2>/dev/null | docker import - "$IMAGE" >/dev/null
CONTAINER=$(docker create "$IMAGE" /sbin/init)
stream_bytes=$(docker export "$CONTAINER" | wc -c)
entries=$(docker export "$CONTAINER" | tar -t | wc -l)

now() { echo "${EPOCHREALTIME/./}"; }
declare -a t_tar t_osb
for ((i = 0; i < RUNS; i++)); do
    for who in tar osb; do
        rm -rf "$WORK/$who" && mkdir "$WORK/$who"
        sync
        start=$(now)
        if [[ $who == tar ]]; then
            docker export "$CONTAINER" | tar -x -C "$WORK/tar"
        else
            docker export "$CONTAINER" | "$UNPACK" "$WORK/osb" >"$WORK/report.json"
        fi
        end=$(now)
        if [[ $who == tar ]]; then t_tar+=($((end - start))); else t_osb+=($((end - start))); fi
    done
done
start=$(now)
sync -f "$WORK/osb"
sync_us=$(($(now) - start))

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
m_tar=$(median "${t_tar[@]}")
m_osb=$(median "${t_osb[@]}")
echo "image: $stream_bytes bytes of export stream, $entries entries"
echo "on disk: tar $(du -sb "$WORK/tar" | cut -f1) B, osb $(du -sb "$WORK/osb" | cut -f1) B"
echo "osb report: $(cat "$WORK/report.json")"
awk -v t="$m_tar" -v o="$m_osb" -v s="$sync_us" -v n="$RUNS" 'BEGIN {
    printf "docker export | tar -x        median %8.1f ms  (%d runs)\n", t / 1000, n
    printf "docker export | osb unpack    median %8.1f ms  (%d runs)\n", o / 1000, n
    printf "ratio osb / tar               %8.2f\n", o / t
    printf "syncfs of the result, once    %8.1f ms\n", s / 1000
}'
