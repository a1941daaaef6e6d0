#!/usr/bin/env bash
# Whole-process figures of `osb apply` against a real Docker engine (see
# BENCHMARKS.md), measured side by side in one run:
#
#   1. one compose file of 20 services applied from nothing (images present,
#      no containers, no network) by `docker-compose up -d` and by
#      `osb apply`, alternating, ROUNDS times each; everything is removed
#      (untimed) between runs;
#   2. a no-op `osb apply` of 50 converged blocks, NOOP times: the whole
#      process (start, engine connection, store write, one observation, an
#      empty plan), and inside it the reconcile alone (the report's
#      elapsed_ms: observe + plan), which is what a daemon cycle costs;
#   3. `osb daemon` keeping those 50 blocks: resident memory, CPU and
#      context switches over IDLE_SECS of quiet;
#   4. `osb daemon` with one block waiting for synced time and no time
#      source (an offline device): its CPU and dockerd's over IDLE_SECS,
#      and with BASELINE=path/to/another/osb the same for that binary;
#   5. `osb daemon` keeping 6 blocks, 4 of them with a 1 s healthcheck:
#      dockerd's CPU with the stack alone, then the daemon's and dockerd's
#      CPU and the daemon's reconciles over IDLE_SECS (BASELINE too);
#   6. as 1, with each service also holding container settings (cap_add,
#      devices, ulimits, sysctls, read_only, tmpfs, init, mem_limit, cpus,
#      extra_hosts, dns, logging, ...): the same file for both.
#
# Usage: tests/benches/blocks.sh        (from anywhere in the repo)
#   SKIP_BUILD=1  use target/release/osb as it is
#   ROUNDS=N      compose-vs-apply rounds (default 5)
#   NOOP=N        no-op applies (default 20)
#   IDLE_SECS=N   quiet seconds measured for 3 and 4 (default 10)
#   BASELINE=FILE an osb binary to compare with in 4 and 5
#   CASES="1 2 3 4 5 6"  the cases to run (3 needs 2's blocks)
# Needs: a running engine (scripts/services), docker-compose, busybox-static.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
NOOP=${NOOP:-20}
CASES=" ${CASES:-1 2 3 4 5 6} "
run_case() { [[ $CASES == *" $1 "* ]]; }

source tests/benches/common.sh
build_and_locate
command -v docker-compose >/dev/null || { echo "needs docker-compose" >&2; exit 1; }
docker version --format '{{.Server.Version}}' >/dev/null || { echo "needs a running engine: scripts/services" >&2; exit 1; }

WORK=$(mktemp -d)
INSTANCE=bench-$$
cleanup_osb() {
    local ids
    ids=$(docker ps -aq --filter "label=io.osb.runtime=$INSTANCE")
    [[ -z $ids ]] || docker rm -f $ids >/dev/null
    ids=$(docker network ls -q --filter "label=io.osb.runtime=$INSTANCE")
    [[ -z $ids ]] || docker network rm $ids >/dev/null
    rm -rf "$WORK/state"
}
cleanup() {
    cleanup_osb
    (cd "$WORK/compose" 2>/dev/null && docker-compose -p benchc down -t 1 >/dev/null 2>&1) || true
    (cd "$WORK/settings" 2>/dev/null && docker-compose -p benchs down -t 1 >/dev/null 2>&1) || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The image: busybox from scratch, built here (no registry is reachable).
mkdir -p "$WORK/image"
cp /usr/bin/busybox "$WORK/image/busybox"
cat >"$WORK/image/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sleep", "3600"]
EOF
docker build -q -t osb-bench/busybox:1 "$WORK/image" >/dev/null

# 20 services, each with a command, an environment variable and a label;
# every fifth publishes a port, so the comparison includes port bindings.
mkdir -p "$WORK/compose"
{
    echo "services:"
    for i in $(seq -w 1 20); do
        echo "  s$i:"
        echo "    image: osb-bench/busybox:1"
        echo "    command: [\"sleep\", \"3600\"]"
        echo "    environment:"
        echo "      SERVICE: \"s$i\""
        echo "    labels:"
        echo "      com.example.bench: \"s$i\""
        echo "    restart: always"
        if (( 10#$i % 5 == 0 )); then
            echo "    ports:"
            echo "      - \"127.0.0.1:$((19000 + 10#$i)):8080\""
        fi
    done
} >"$WORK/compose/docker-compose.yml"

now_ms() { date +%s%3N; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Brings the compose file in DIR up from nothing with docker-compose (as
# project PROJECT) and with `osb apply`, alternating, ROUNDS times each,
# removing everything (untimed) after each; prints each round and the
# medians.
compose_vs_osb() { # dir project
    local dir=$1 project=$2 round t0 t1 running c o
    : >"$WORK/compose.ms"
    : >"$WORK/osb.ms"
    for round in $(seq 1 "$ROUNDS"); do
        t0=$(now_ms)
        (cd "$dir" && docker-compose -p "$project" up -d >/dev/null 2>&1)
        t1=$(now_ms)
        echo $((t1 - t0)) >>"$WORK/compose.ms"
        running=$(docker ps -q --filter "label=com.docker.compose.project=$project" | wc -l)
        (cd "$dir" && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
        [[ $running == 20 ]] || { echo "compose started $running of 20" >&2; exit 1; }

        t0=$(now_ms)
        "$OSB" apply "$dir/docker-compose.yml" --app bencho --no-progress \
            --state-dir "$WORK/state" --instance "$INSTANCE" >/dev/null 2>"$WORK/osb.log"
        t1=$(now_ms)
        echo $((t1 - t0)) >>"$WORK/osb.ms"
        running=$(docker ps -q --filter "label=io.osb.runtime=$INSTANCE" | wc -l)
        cleanup_osb
        [[ $running == 20 ]] || { echo "osb started $running of 20" >&2; exit 1; }
        echo "round $round: compose $(tail -1 "$WORK/compose.ms") ms, osb $(tail -1 "$WORK/osb.ms") ms"
    done
    c=$(median <"$WORK/compose.ms")
    o=$(median <"$WORK/osb.ms")
    echo "median: docker-compose up -d $c ms, osb apply $o ms, ratio osb/compose $(awk -v o="$o" -v c="$c" 'BEGIN { printf "%.2f", o / c }')"
}

if run_case 1; then
echo "== 20 services from nothing: docker-compose up -d vs osb apply ($ROUNDS rounds each, alternating)"
compose_vs_osb "$WORK/compose" benchc
fi

if run_case 2 || run_case 3; then
echo "== no-op osb apply of 50 converged blocks ($NOOP runs)"
{
    echo '{"version": 1, "apps": {"noop": {"class": "app", "release": {"version": "1.0.0", "blocks": {'
    for i in $(seq -w 1 50); do
        sep=,; [[ $i == 50 ]] && sep=
        echo "  \"b$i\": {\"image\": \"osb-bench/busybox:1\", \"command\": [\"sleep\", \"3600\"]}$sep"
    done
    echo '}}}}}'
} >"$WORK/noop.json"
"$OSB" apply "$WORK/noop.json" --no-progress --state-dir "$WORK/state" --instance "$INSTANCE" >/dev/null 2>&1
: >"$WORK/noop.ms"
: >"$WORK/noop-reconcile.ms"
for _ in $(seq 1 "$NOOP"); do
    t0=$(now_ms)
    out=$("$OSB" apply "$WORK/noop.json" --json --state-dir "$WORK/state" --instance "$INSTANCE" 2>/dev/null)
    t1=$(now_ms)
    steps=$(jq '.steps | length' <<<"$out")
    [[ $steps == 0 ]] || { echo "no-op apply ran $steps steps" >&2; exit 1; }
    echo $((t1 - t0)) >>"$WORK/noop.ms"
    jq '.elapsed_ms' <<<"$out" >>"$WORK/noop-reconcile.ms"
done
echo "no-op reconcile inside the process (observe + plan): median $(median <"$WORK/noop-reconcile.ms") ms"
echo "no-op apply, whole process: median $(median <"$WORK/noop.ms") ms (min $(sort -n "$WORK/noop.ms" | head -1), max $(sort -n "$WORK/noop.ms" | tail -1))"
fi

IDLE_SECS=${IDLE_SECS:-10}
CLK_TCK=$(getconf CLK_TCK)
percent() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$IDLE_SECS" 'BEGIN { printf "%.2f", 100 * t / hz / s }'; }
DOCKERD=$(pgrep -xo dockerd || true)
# `osb daemon` with BINARY over TARGET, left 5 s to settle, then measured
# over IDLE_SECS: prints its RSS, its CPU and context switches, and
# dockerd's CPU over the same window (each reconcile asks the engine).
daemon_idle() { # binary target state-dir
    local daemon rss t0 s0 d0 t1 s1 d1
    mkdir -p "$WORK/plugins"
    "$1" daemon --target "$2" --plugin-dir "$WORK/plugins" \
        --state-dir "$3" --instance "$INSTANCE" >/dev/null 2>"$WORK/daemon.log" &
    daemon=$!
    sleep 5
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$daemon/status")
    t0=$(cpu_ticks "$daemon"); s0=$(ctx_switches "$daemon"); d0=$([[ -n $DOCKERD ]] && cpu_ticks "$DOCKERD" || echo 0)
    sleep "$IDLE_SECS"
    t1=$(cpu_ticks "$daemon"); s1=$(ctx_switches "$daemon"); d1=$([[ -n $DOCKERD ]] && cpu_ticks "$DOCKERD" || echo 0)
    kill -INT "$daemon"; wait "$daemon" || true
    echo "daemon RSS $((rss / 1024)) MiB ($rss KiB); idle CPU $(percent $((t1 - t0))) % of a core;" \
        "$(( (s1 - s0) / IDLE_SECS )) context switches/s; dockerd meanwhile $(percent $((d1 - d0))) %"
}

BINARIES=("$OSB")
[[ -n ${BASELINE:-} ]] && BINARIES+=("$BASELINE")

if run_case 3; then
echo "== osb daemon keeping the 50 blocks converged: resident memory and idle CPU"
daemon_idle "$OSB" "$WORK/noop.json" "$WORK/state"
fi

if run_case 4; then
echo "== osb daemon, one block waiting for synced time, no time source"
cleanup_osb
cat >"$WORK/waiting.json" <<'JSON'
{"version": 1, "apps": {"wait": {"class": "app", "release": {"version": "1.0.0", "blocks": {
  "app": {"image": "osb-bench/busybox:1", "command": ["sleep", "3600"], "time": "synced"}}}}}}
JSON
for binary in "${BINARIES[@]}"; do
    echo "$binary: $(daemon_idle "$binary" "$WORK/waiting.json" "$WORK/state-wait-$(basename "$binary")")"
done
fi

if run_case 5; then
echo "== osb daemon keeping 6 blocks, 4 with a 1 s healthcheck"
cleanup_osb
{
    echo '{"version": 1, "apps": {"health": {"class": "app", "release": {"version": "1.0.0", "blocks": {'
    for i in 1 2 3 4 5 6; do
        check=
        ((i <= 4)) && check=', "healthcheck": {"test": {"cmd": ["true"]}, "interval": "1s"}'
        sep=,; ((i == 6)) && sep=
        echo "  \"b$i\": {\"image\": \"osb-bench/busybox:1\", \"command\": [\"sleep\", \"3600\"]$check}$sep"
    done
    echo '}}}}}'
} >"$WORK/health.json"
"$OSB" apply "$WORK/health.json" --no-progress --state-dir "$WORK/state-health" --instance "$INSTANCE" >/dev/null 2>&1
sleep 3
if [[ -n $DOCKERD ]]; then
    d0=$(cpu_ticks "$DOCKERD"); sleep "$IDLE_SECS"; d1=$(cpu_ticks "$DOCKERD")
    echo "dockerd with the stack and no daemon: $(percent $((d1 - d0))) % of a core"
fi
for binary in "${BINARIES[@]}"; do
    echo "$binary: $(daemon_idle "$binary" "$WORK/health.json" "$WORK/state-health")"
    echo "  reconciles logged over the whole run (start + 5 s + IDLE_SECS): $(grep -c 'converged' "$WORK/daemon.log")"
done
fi

if run_case 6; then
echo "== 20 services with container settings from nothing: docker-compose up -d vs osb apply ($ROUNDS rounds each, alternating)"
cleanup_osb
# Case 1's services, each also confined and limited as a device's blocks
# are: what the engine must set up beyond a plain container (devices,
# cgroup limits, sysctls, a read-only root with a tmpfs, an init).
mkdir -p "$WORK/settings"
{
    echo "services:"
    for i in $(seq -w 1 20); do
        echo "  s$i:"
        echo "    image: osb-bench/busybox:1"
        echo "    command: [\"sleep\", \"3600\"]"
        echo "    environment:"
        echo "      SERVICE: \"s$i\""
        echo "    labels:"
        echo "      com.example.bench: \"s$i\""
        echo "    restart: always"
        echo "    cap_add: [NET_ADMIN]"
        echo "    cap_drop: [MKNOD]"
        echo "    devices: [\"/dev/null:/dev/bench:rw\"]"
        echo "    security_opt: [no-new-privileges]"
        echo "    ulimits:"
        echo "      nofile: {soft: 1024, hard: 2048}"
        echo "    sysctls:"
        echo "      net.core.somaxconn: \"1024\""
        echo "    read_only: true"
        # The long syntax: the importer does not read the `tmpfs:` key.
        echo "    volumes: [{type: tmpfs, target: /run}]"
        echo "    shm_size: 16m"
        echo "    init: true"
        echo "    mem_limit: 64m"
        echo "    cpus: 0.5"
        echo "    oom_score_adj: 100"
        echo "    hostname: s$i"
        echo "    extra_hosts: [\"gateway.local:10.1.2.3\"]"
        echo "    dns: [192.0.2.53]"
        echo "    dns_search: [example.org]"
        echo "    stop_grace_period: 2s"
        echo "    logging:"
        echo "      driver: json-file"
        echo "      options: {max-size: 1m, max-file: \"2\"}"
        if (( 10#$i % 5 == 0 )); then
            echo "    ports:"
            echo "      - \"127.0.0.1:$((19000 + 10#$i)):8080\""
        fi
    done
} >"$WORK/settings/docker-compose.yml"
compose_vs_osb "$WORK/settings" benchs
fi
echo "osb binary: $(stat -c %s "$OSB") bytes"
