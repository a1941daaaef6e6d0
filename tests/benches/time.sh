#!/usr/bin/env bash
# Whole-process figures of the time service (see BENCHMARKS.md), with real
# servers on loopback:
#   - HTTPS only (time-https against a local HTTPS server whose Date is the
#     machine's clock, certificate from a test CA trusted through
#     `[http] ca_files`): how long until the clock is `coarse`;
#   - NTP only (time-ntp against a local chronyd, `local stratum 8`, never
#     touching the system clock): how long until it is `synced`;
# each measured two ways, RUNS times, with the compile cache warm (one
# untimed warm-up first, whose time is shown as the cold start):
#   1. `osb time --wait coarse|synced`: process start to exit, wall clock;
#      the width of the interval it reports (twice the error bound);
#   2. `osb daemon`: process start to its log line "time state changed"
#      to that state (the line's own timestamp).
# Plugin settings are the manifests' defaults (call deadline 1 s, HTTPS
# budget 800 ms, NTP timeout 800 ms), as on a device.
#   - Offline: time-https against a server that accepts connections and
#     never answers, time-ntp against a UDP port that never answers, and
#     time-build-floor: how long one `osb time` round takes when the
#     network is gone. With BASELINE=path/to/another/osb, that binary runs
#     the same case, alternating with this one, for a side-by-side ratio.
#
# Usage: tests/benches/time.sh            (from anywhere in the repo)
#   SKIP_BUILD=1   use target/release/osb and the packages already built
#   RUNS=N         timed runs of each (default 10)
#   BASELINE=FILE  an osb binary to compare with in the offline case
# Needs: chronyd (package chrony; scripts/services installs it), openssl,
# python3 (its ssl module serves HTTPS), jq.
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10}

for tool in openssl python3 jq; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
CHRONYD=$(command -v chronyd || echo /usr/sbin/chronyd)
[[ -x $CHRONYD ]] || { echo "needs chronyd: scripts/services installs chrony" >&2; exit 1; }

source tests/benches/common.sh
build_and_locate time-https

WORK=$(mktemp -d)
PIDS=()
DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -INT "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { # tcp|udp
    python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == 'tcp' else socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])" "$1"
}

echo "== machine"
echo "cpus: $(nproc); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "kernel: $(uname -r); date: $(date -u +%FT%TZ)"
echo "load: $(uptime)"
echo "osb: $OSB, built $(date -u -r "$OSB" +%FT%TZ); packages: $PACKAGES"
echo "chronyd: $("$CHRONYD" -v | head -1); $(openssl version); python $(python3 -c 'import platform; print(platform.python_version())')"

# A test CA and a certificate it signs for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" -days 2 -subj "/CN=osb time bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -out "$WORK/server.pem" -days 2 -extfile "$WORK/server.ext" 2>/dev/null

# The HTTPS server: every response carries the machine's clock as its Date
# (BaseHTTPRequestHandler.send_response adds it), one request per
# connection, HEAD and GET.
cat >"$WORK/https_date.py" <<'PY'
import http.server, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(b"ok\n")

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)

    def log_message(self, *args):
        pass

cert, key, port_file = sys.argv[1:4]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
# The handshake happens on the connection's own thread, at its first read
# (with the handler's timeout), not in accept(): a client that connects
# and stalls must not stop the server.
server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY
python3 "$WORK/https_date.py" "$WORK/server.pem" "$WORK/server.key" "$WORK/https.port" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $WORK/https.port ]] && break; sleep 0.05; done
HTTPS_PORT=$(cat "$WORK/https.port")
curl -fsS --cacert "$WORK/ca.pem" -o /dev/null "https://127.0.0.1:$HTTPS_PORT/time" ||
    { echo "the HTTPS server does not answer" >&2; exit 1; }

# chronyd: serves the machine's clock, never sets it (-x), no command
# sockets. As root, -u root keeps it from switching to a user that cannot
# write its drift file here; as anyone else, -U lets it run.
NTP_PORT=$(free_port udp)
cat >"$WORK/chrony.conf" <<CONF
port $NTP_PORT
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
bindcmdaddress /
pidfile $WORK/chronyd.pid
driftfile $WORK/drift
CONF
if ((EUID == 0)); then user=(-u root); else user=(-U); fi
"$CHRONYD" -d -x "${user[@]}" -f "$WORK/chrony.conf" >"$WORK/chronyd.log" 2>&1 &
PIDS+=($!)
sntp_answers() {
    python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
s.sendto(b'\x23' + bytes(39) + b'osbbench', ('127.0.0.1', int(sys.argv[1])))
reply = s.recv(512)
sys.exit(0 if len(reply) >= 48 and reply[0] & 7 == 4 and reply[24:32] == b'osbbench' else 1)" "$1" 2>/dev/null
}
for _ in $(seq 75); do sntp_answers "$NTP_PORT" && break; sleep 0.2; done
sntp_answers "$NTP_PORT" || { echo "chronyd does not answer:" >&2; cat "$WORK/chronyd.log" >&2; exit 1; }

# One plugin directory per source, the package's manifest asking for the
# local server instead of the public ones.
install() { # package dir capability-lines
    local pkg=$1 dir=$2 caps=$3
    mkdir -p "$dir/$pkg"
    cp "$PACKAGES/$pkg/$pkg.wasm" "$dir/$pkg/"
    awk -v caps="$caps" '
        /^\[capabilities\]/ { print; print caps; skip = 1; next }
        /^\[/ { skip = 0 }
        !skip' "$PACKAGES/$pkg/plugin.toml" >"$dir/$pkg/plugin.toml"
}
HTTPS_PREFIX="https://127.0.0.1:$HTTPS_PORT/"
NTP_ADDR="127.0.0.1:$NTP_PORT"
install time-https "$WORK/https-plugins" "http = [\"$HTTPS_PREFIX\"]"
install time-ntp "$WORK/ntp-plugins" "net = [{ addr = \"$NTP_ADDR\", protocol = \"udp\" }]"
cat >"$WORK/device.toml" <<TOML
development = true

[http]
ca_files = ["$WORK/ca.pem"]

[plugins.time-https]
grants = { http = ["$HTTPS_PREFIX"] }
config = { urls = "${HTTPS_PREFIX}time" }

[plugins.time-ntp]
grants = { net = [{ addr = "$NTP_ADDR", protocol = "udp" }] }
config = { servers = "$NTP_ADDR" }
TOML

now_ns() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
# min, median (mean of the middle two for an even count), max of stdin.
stats() {
    sort -g | awk '{ a[NR] = $1 } END {
        m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "median %.2f, min %.2f, max %.2f (n=%d)", m, a[1], a[NR], NR }'
}

# `osb time --wait STATE`: prints "wall_ms width_ms state" of one run.
time_wait() { # plugin-dir state-dir wait-state
    local start end out
    start=$(now_ns)
    out=$("$OSB" --config "$WORK/device.toml" time --plugin-dir "$1" --state-dir "$2" \
        --wait "$3" --timeout 30s --json 2>>"$WORK/osb-time.log") ||
        { echo "osb time did not reach $3:" >&2; echo "$out" >&2; tail -20 "$WORK/osb-time.log" >&2; exit 1; }
    end=$(now_ns)
    echo "$(ms $((end - start))) $(jq -r '"\(.estimate.error_bound_ms * 2) \(.state)"' <<<"$out")"
}

# `osb daemon` until it logs a change to a state matching the extended
# regex STATES: prints the ms from the process start to that log line's
# timestamp, and the state.
daemon_until() { # plugin-dir state-dir states
    local log=$WORK/daemon.log start line stamp
    : >"$log"
    start=$(now_ns)
    # DOCKER_HOST: no engine is needed (the block loop retries in the
    # background) and none is touched.
    RUST_LOG=info DOCKER_HOST="unix://$WORK/no-engine.sock" "$OSB" --config "$WORK/device.toml" \
        --log-json daemon --plugin-dir "$1" --state-dir "$2" --instance osb-time-bench \
        >/dev/null 2>"$log" &
    DAEMON_PID=$!
    local waited=0
    # grep, not jq: a line still being written is no JSON yet.
    until line=$(grep -F '"message":"time state changed"' "$log" | grep -E "\"to\":\"($3)\"" | head -1) &&
        [[ -n $line ]]; do
        kill -0 "$DAEMON_PID" 2>/dev/null || { echo "daemon exited:" >&2; head -40 "$log" >&2; exit 1; }
        ((waited++ < 3000)) || { echo "daemon did not reach $3 in 30 s:" >&2; head -40 "$log" >&2; exit 1; }
        sleep 0.01
    done
    kill -INT "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=
    stamp=$(jq -r '.timestamp' <<<"$line")
    echo "$(ms $(($(date -d "$stamp" +%s%N) - start))) $(jq -r '.fields.to' <<<"$line")"
}

measure() { # label plugin-dir state
    local label=$1 dir=$2 state=$3 cache=$WORK/cache-$1 results=$WORK/$1.txt
    # What --wait accepts: the state or better. Several HTTPS answers that
    # straddle a second boundary can make even HTTPS alone synced.
    local states=$state
    [[ $state == coarse ]] && states="coarse|synced"
    echo
    echo "== $label: to '$state'"
    local first cold width
    first=$(time_wait "$dir" "$cache" "$state")
    read -r cold width _ <<<"$first"
    printf "osb time --wait %s, cold (empty compile cache): %s ms, width %.2f ms\n" "$state" "$cold" "$width"
    : >"$results"
    for _ in $(seq "$RUNS"); do time_wait "$dir" "$cache" "$state" >>"$results"; done
    echo "osb time --wait $state, warm cache, wall ms: $(cut -d' ' -f1 "$results" | stats)"
    echo "reported width (2 x error bound), ms:        $(cut -d' ' -f2 "$results" | stats)"
    echo "states reported: $(cut -d' ' -f3 "$results" | sort | uniq -c | xargs)"
    local daemon_state=$WORK/daemon-$label
    daemon_until "$dir" "$daemon_state" "$states" >/dev/null # fills its compile cache
    local daemon=$WORK/$label-daemon.txt
    : >"$daemon"
    for _ in $(seq "$RUNS"); do daemon_until "$dir" "$daemon_state" "$states" >>"$daemon"; done
    echo "osb daemon start to '$state' or better, warm cache, ms: $(cut -d' ' -f1 "$daemon" | stats)"
    echo "states the daemon reached: $(cut -d' ' -f2 "$daemon" | sort | uniq -c | xargs)"
}

measure https "$WORK/https-plugins" coarse
measure ntp "$WORK/ntp-plugins" synced

# Offline: servers that take connections and datagrams and never answer.
cat >"$WORK/silent.py" <<'PY'
import socket, sys, time
tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
tcp.listen(64)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
held = []
with open(sys.argv[1], "w") as f:
    f.write(f"{tcp.getsockname()[1]} {udp.getsockname()[1]}\n")
while True:
    conn, _ = tcp.accept()
    held.append(conn)  # kept open, never read nor written
PY
python3 "$WORK/silent.py" "$WORK/silent.ports" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $WORK/silent.ports ]] && break; sleep 0.05; done
read -r SILENT_TCP SILENT_UDP <"$WORK/silent.ports"
SILENT_PREFIX="https://127.0.0.1:$SILENT_TCP/"
SILENT_NTP="127.0.0.1:$SILENT_UDP"
install time-https "$WORK/offline-plugins" "http = [\"$SILENT_PREFIX\"]"
install time-ntp "$WORK/offline-plugins" "net = [{ addr = \"$SILENT_NTP\", protocol = \"udp\" }]"
install time-build-floor "$WORK/offline-plugins" ""
cat >"$WORK/offline.toml" <<TOML
development = true

[plugins.time-https]
grants = { http = ["$SILENT_PREFIX"] }
config = { urls = "${SILENT_PREFIX}time" }

[plugins.time-ntp]
grants = { net = [{ addr = "$SILENT_NTP", protocol = "udp" }] }
config = { servers = "$SILENT_NTP" }

[plugins.time-build-floor]
config = { build_time = "$(date +%s)" }
TOML

# One `osb time` round with BINARY: prints "wall_ms state sources-failed".
offline_round() { # binary state-dir
    local start end out
    start=$(now_ns)
    out=$("$1" --config "$WORK/offline.toml" time --plugin-dir "$WORK/offline-plugins" \
        --state-dir "$2" --json 2>>"$WORK/offline.log") ||
        { echo "osb time failed offline:" >&2; tail -20 "$WORK/offline.log" >&2; exit 1; }
    end=$(now_ns)
    echo "$(ms $((end - start))) $(jq -r '"\(.state) \([.sources[] | select(.error != null)] | length)"' <<<"$out")"
}

echo
echo "== offline: one round, HTTPS and NTP servers silent, build floor answering"
BINARIES=("$OSB")
[[ -n ${BASELINE:-} ]] && BINARIES+=("$BASELINE")
for i in "${!BINARIES[@]}"; do
    offline_round "${BINARIES[$i]}" "$WORK/offline-state-$i" >/dev/null # compile cache
    : >"$WORK/offline-$i.txt"
done
for _ in $(seq "$RUNS"); do
    for i in "${!BINARIES[@]}"; do
        offline_round "${BINARIES[$i]}" "$WORK/offline-state-$i" >>"$WORK/offline-$i.txt"
    done
done
for i in "${!BINARIES[@]}"; do
    echo "${BINARIES[$i]}: osb time, one round, wall ms: $(cut -d' ' -f1 "$WORK/offline-$i.txt" | stats)"
    echo "  states: $(cut -d' ' -f2 "$WORK/offline-$i.txt" | sort | uniq -c | xargs);" \
        "sources failed per round: $(cut -d' ' -f3 "$WORK/offline-$i.txt" | sort | uniq -c | xargs)"
done
if [[ -n ${BASELINE:-} ]]; then
    this=$(cut -d' ' -f1 "$WORK/offline-0.txt" | stats | sed 's/median \([0-9.]*\).*/\1/')
    base=$(cut -d' ' -f1 "$WORK/offline-1.txt" | stats | sed 's/median \([0-9.]*\).*/\1/')
    echo "median ratio, this / baseline: $(awk -v a="$this" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
fi
echo
echo "load after: $(uptime)"
