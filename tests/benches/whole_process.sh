#!/usr/bin/env bash
# Whole-process figures of the `osb` binary (see BENCHMARKS.md):
#   - size of the release binary (the release profile is opt-level "s",
#     fat LTO, one codegen unit, panic=abort, stripped);
#   - resident memory of `osb daemon` holding 6 plugins after ~3 s idle,
#     once with an empty compile cache (cold start) and once with it warm;
#   - idle CPU time and context switches of that daemon over ~10 s;
#   - wall time of `osb daemon --once` loading the 6 plugins, warm cache.
#
# Usage: tests/benches/whole_process.sh            (from anywhere in the repo)
#   SKIP_BUILD=1   use the binary and packages already built
#   IDLE_SECS=N    length of the idle CPU window (default 10)
#   SETTLE_SECS=N  idle time before reading RSS (default 3)
set -euo pipefail

cd "$(dirname "$0")/../.."
IDLE_SECS=${IDLE_SECS:-10}
SETTLE_SECS=${SETTLE_SECS:-3}
CLK_TCK=$(getconf CLK_TCK)

source tests/benches/common.sh
build_and_locate osb-test-probe

WORK=$(mktemp -d)
DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -INT "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Six packages: each built package as is, plus a renamed copy of it (the
# component file and the manifest's `name` must match the new name).
PLUGINS=$WORK/plugins
mkdir -p "$PLUGINS"
for pkg in time-fake-hwclock osb-test-probe osb-test-hostile; do
    cp -r "$PACKAGES/$pkg" "$PLUGINS/$pkg"
    rm -f "$PLUGINS/$pkg/$pkg.wasm.sig"
    copy=$pkg-2
    mkdir -p "$PLUGINS/$copy"
    cp "$PACKAGES/$pkg/$pkg.wasm" "$PLUGINS/$copy/$copy.wasm"
    sed "s/^name = \"$pkg\"/name = \"$copy\"/" "$PACKAGES/$pkg/plugin.toml" >"$PLUGINS/$copy/plugin.toml"
done

echo "== machine"
echo "packages: $PACKAGES"
echo "cpus: $(nproc); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "memory: $(free -h | awk '/^Mem:/ {print $2}'); kernel: $(uname -r); date: $(date -u +%FT%TZ)"

echo
echo "== binary"
ls -l "$OSB"
file "$OSB" 2>/dev/null || true
SIZE=$(stat -c %s "$OSB")
echo "size: $SIZE bytes ($(awk -v s="$SIZE" 'BEGIN {printf "%.2f MiB", s / 1048576}'))"

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Starts the daemon on $PLUGINS with state dir $1, waits for it to load,
# lets it idle, then prints memory and idle CPU.
measure_daemon() {
    local label=$1 state=$2 log=$WORK/daemon-$1.log
    : >"$log"
    RUST_LOG=info "$OSB" --development --log-json daemon --plugin-dir "$PLUGINS" --state-dir "$state" 2>"$log" &
    DAEMON_PID=$!
    local started=$SECONDS
    until grep -q "plugin host running" "$log"; do
        kill -0 "$DAEMON_PID" 2>/dev/null || { echo "daemon exited:" >&2; cat "$log" >&2; exit 1; }
        ((SECONDS - started < 120)) || { echo "daemon did not come up" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    # Outcome of the start-up load (lines before "plugin host running").
    local loaded failed
    loaded=$(sed '/plugin host running/q' "$log" | grep -c "plugin loaded" || true)
    failed=$(sed '/plugin host running/q' "$log" | grep -c "plugin refused" || true)
    sleep "$SETTLE_SECS"
    local rss hwm anon file threads
    rss=$(status_kb "$DAEMON_PID" VmRSS)
    hwm=$(status_kb "$DAEMON_PID" VmHWM)
    anon=$(status_kb "$DAEMON_PID" RssAnon)
    file=$(status_kb "$DAEMON_PID" RssFile)
    threads=$(status_kb "$DAEMON_PID" Threads)
    local t0 c0 t1 c1
    local l0 l1
    t0=$(cpu_ticks "$DAEMON_PID")
    c0=$(ctx_switches "$DAEMON_PID")
    l0=$(grep -c "plugin loaded" "$log" || true)
    sleep "$IDLE_SECS"
    t1=$(cpu_ticks "$DAEMON_PID")
    c1=$(ctx_switches "$DAEMON_PID")
    l1=$(grep -c "plugin loaded" "$log" || true)
    echo
    echo "== daemon, $label: start-up loaded $loaded plugins, refused $failed"
    sed '/plugin host running/q' "$log" | grep -o '"cache":"[A-Za-z]*"' | sort | uniq -c | sed 's/^ */   start-up load /'
    # Nothing is written to the plugin directory after start-up: any load
    # logged from here on is the watcher reacting to something else.
    echo "loads logged while idle (no package changed): $((l1 - l0)) in $IDLE_SECS s; $l1 since start"
    echo "VmRSS ${rss} kB ($(awk -v k="$rss" 'BEGIN {printf "%.1f MiB", k / 1024}')), VmHWM ${hwm} kB, RssAnon ${anon} kB, RssFile ${file} kB, threads ${threads}"
    awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$IDLE_SECS" -v cs=$((c1 - c0)) 'BEGIN {
        printf "idle over %d s: %d ticks CPU (%.3f s, %.2f%% of one core), %d context switches (%.0f/s)\n",
            s, d, d / hz, 100 * d / hz / s, cs, cs / s }'
    kill -INT "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=
}

STATE=$WORK/state
measure_daemon cold-cache "$STATE"
measure_daemon warm-cache "$STATE"

echo
echo "== osb daemon --once, 6 plugins, warm cache (5 runs, wall ms)"
for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    "$OSB" --development daemon --plugin-dir "$PLUGINS" --state-dir "$STATE" --once >/dev/null 2>&1
    echo $((($(date +%s%N) - start) / 1000000))
done | sort -n | awk '{a[NR] = $1} END {printf "min %d, median %d, max %d\n", a[1], a[int((NR + 1) / 2)], a[NR]}'
