#!/usr/bin/env bash
# The board adapters as whole processes (see BENCHMARKS.md, section 12):
# what an operator's `osb device` costs next to the tools a board ships.
#
#   tpm:  hw-x86-tpm against a swtpm on loopback. `osb device sensors
#         random` (TPM2_GetRandom, 6 bytes) next to `tpm2_getrandom 32`,
#         and `osb device sensors pcr:0:0` (one TPM2_PCR_Read) next to
#         `tpm2_pcrread sha256:0`, with `osb --version` as the floor: the
#         cost of starting the process at all. Without a daemon, as here,
#         each `osb device` sets up a plugin host and loads the adapter
#         from the compile cache (warmed first) before its one call.
#   tx2:  hw-jetson-tx2 on a copy of its fixture tree: `osb device set
#         power-mode`, MAXN and MAXQ in turn.
#
# The commands are run in turn, RUNS times, so that a neighbour's load
# falls on all of them alike; wall time from bash's $EPOCHREALTIME. Their
# output and logs go to /dev/null.
#
# Usage: tests/benches/board.sh                   (from anywhere in the repo)
#   SKIP_BUILD=1   use the binary and packages already built
#   OSB=PATH       another binary (e.g. an older commit's)
#   RUNS=N         runs of each command (default 100)
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-100}

source tests/benches/common.sh
build_and_locate hw-x86-tpm

for tool in swtpm tpm2_getrandom tpm2_pcrread jq; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/services installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d)
SWTPM_PID=
cleanup() {
    [[ -z $SWTPM_PID ]] || kill "$SWTPM_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A free port whose next one (swtpm's control port) is free too.
PORT=$(python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
')
mkdir -p "$WORK/swtpm"
swtpm socket --tpm2 --tpmstate dir="$WORK/swtpm" \
    --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear 2>"$WORK/swtpm.log" &
SWTPM_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT"

# Two devices, each with its one adapter; development mode, as the
# packages are unsigned.
mkdir -p "$WORK/tpm/plugins" "$WORK/tx2/plugins"
cp -r "$PACKAGES/hw-x86-tpm" "$WORK/tpm/plugins/"
cp -r "$PACKAGES/hw-jetson-tx2" "$WORK/tx2/plugins/"
cat >"$WORK/tpm/device.toml" <<EOF
development = true
plugin_dir = "$WORK/tpm/plugins"
state_dir = "$WORK/tpm/state"

[devices]
tpm0 = { tcp = "127.0.0.1:$PORT" }

[plugins.hw-x86-tpm]
grants = { device = ["tpm0"] }
EOF
BOARD=$WORK/tx2/board
cp -a plugins/hw-jetson-tx2/tests/fixture/tx2 "$BOARD"
# The manifest asks for the board's real paths; here they are in the copy.
# (Development mode: the edited package needs no signature.)
rm -f "$WORK"/*/plugins/*/*.wasm.sig
sed -i "s|host = \"/|host = \"$BOARD/|" "$WORK/tx2/plugins/hw-jetson-tx2/plugin.toml"
grants=
for g in /sys/firmware/devicetree/base:ro /sys/devices/virtual/thermal:ro /etc/nvpmodel:ro \
    /sys/devices/system/cpu:rw /sys/devices/17000000.gp10b/devfreq/17000000.gp10b:rw \
    /sys/kernel/nvpmodel_emc_cap:rw /sys/devices/pwm-fan:rw; do
    grants+="{ host = \"$BOARD${g%:*}\", guest = \"${g%:*}\", mode = \"${g#*:}\" }, "
done
cat >"$WORK/tx2/device.toml" <<EOF
development = true
plugin_dir = "$WORK/tx2/plugins"
state_dir = "$WORK/tx2/state"

[plugins.hw-jetson-tx2]
grants = { fs = [${grants%, }], kv = true }
EOF

echo "== machine"
echo "cpus: $(nproc); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "kernel: $(uname -r); date: $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $OSB ($(stat -c %s "$OSB") bytes); $("$OSB" --version)"
echo "$(swtpm --version | head -1); $(tpm2_getrandom --version | head -1)"

TPM=(--config "$WORK/tpm/device.toml")
TX2=(--config "$WORK/tx2/device.toml")
# The measurement is meaningless unless each command does its work: PCR 0
# reads the same both ways, the power mode lands in the tree. The first
# runs also fill the compile caches.
"$OSB" device sensors random --json "${TPM[@]}" | jq -e '.[0].value >= 0' >/dev/null
word=$("$OSB" device sensors pcr:0:0 --json "${TPM[@]}" | jq -r '.[0].value')
pcr0=$(tpm2_pcrread sha256:0 -o "$WORK/pcr0" >/dev/null && od -An -tx1 -N4 "$WORK/pcr0" | tr -d ' ')
((word == 16#$pcr0)) || { echo "pcr:0:0 read $word through the plugin, 0x$pcr0 by tpm2_pcrread" >&2; exit 1; }
"$OSB" device set power-mode MAXQ "${TX2[@]}" >/dev/null
[[ $(cat "$BOARD/sys/devices/system/cpu/cpu1/online") == 0 ]] || { echo "MAXQ left cpu1 online" >&2; exit 1; }
"$OSB" device set power-mode MAXN "${TX2[@]}" >/dev/null
[[ $(cat "$BOARD/sys/devices/system/cpu/cpu1/online") == 1 ]] || { echo "MAXN left cpu1 offline" >&2; exit 1; }

NAMES=(version osb_random tpm2_getrandom osb_pcr tpm2_pcrread osb_power_mode)
for f in "${NAMES[@]}"; do : >"$WORK/$f"; done
modes=(MAXQ MAXN)
for i in $(seq "$RUNS"); do
    t0=${EPOCHREALTIME//[.,]/}
    "$OSB" --version >/dev/null 2>&1
    t1=${EPOCHREALTIME//[.,]/}
    "$OSB" device sensors random "${TPM[@]}" >/dev/null 2>&1
    t2=${EPOCHREALTIME//[.,]/}
    tpm2_getrandom 32 >/dev/null 2>&1
    t3=${EPOCHREALTIME//[.,]/}
    "$OSB" device sensors pcr:0:0 "${TPM[@]}" >/dev/null 2>&1
    t4=${EPOCHREALTIME//[.,]/}
    tpm2_pcrread sha256:0 >/dev/null 2>&1
    t5=${EPOCHREALTIME//[.,]/}
    "$OSB" device set power-mode "${modes[i % 2]}" "${TX2[@]}" >/dev/null 2>&1
    t6=${EPOCHREALTIME//[.,]/}
    echo $((t1 - t0)) >>"$WORK/version"
    echo $((t2 - t1)) >>"$WORK/osb_random"
    echo $((t3 - t2)) >>"$WORK/tpm2_getrandom"
    echo $((t4 - t3)) >>"$WORK/osb_pcr"
    echo $((t5 - t4)) >>"$WORK/tpm2_pcrread"
    echo $((t6 - t5)) >>"$WORK/osb_power_mode"
done

# min, median, p90, max of a file of microseconds, in ms.
stats() {
    sort -n "$1" | awk '{a[NR] = $1} END {
        printf "%.2f %.2f %.2f %.2f\n", a[1] / 1000, a[int((NR + 1) / 2)] / 1000,
            a[int(NR * 0.9 + 0.5)] / 1000, a[NR] / 1000 }'
}
median() { stats "$WORK/$1" | cut -d' ' -f2; }

echo
echo "== wall time, $RUNS runs each, interleaved (ms)"
printf '%-42s %8s %8s %8s %8s\n' command min median p90 max
label() {
    case $1 in
    version) echo "osb --version" ;;
    osb_random) echo "osb device sensors random" ;;
    tpm2_getrandom) echo "tpm2_getrandom 32" ;;
    osb_pcr) echo "osb device sensors pcr:0:0" ;;
    tpm2_pcrread) echo "tpm2_pcrread sha256:0" ;;
    osb_power_mode) echo "osb device set power-mode (tx2 fixture)" ;;
    esac
}
for f in "${NAMES[@]}"; do
    printf '%-42s %8s %8s %8s %8s\n' "$(label "$f")" $(stats "$WORK/$f")
done
echo
awk -v v="$(median version)" -v r="$(median osb_random)" -v g="$(median tpm2_getrandom)" \
    -v p="$(median osb_pcr)" -v q="$(median tpm2_pcrread)" -v m="$(median osb_power_mode)" 'BEGIN {
    printf "median osb random / tpm2_getrandom:   %.2fx (%+.2f ms)\n", r / g, r - g
    printf "median osb pcr / tpm2_pcrread:        %.2fx (%+.2f ms)\n", p / q, p - q
    printf "median osb random - osb --version:    %+.2f ms\n", r - v
    printf "median power mode - osb --version:    %+.2f ms\n", m - v }'
