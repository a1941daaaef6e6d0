#!/usr/bin/env bash
# Build time of the test suite from clean: `cargo test --workspace --no-run`
# (what scripts/test compiles, the plugins' wasm32 build included) in a
# fresh clone of each commit given, one after the other on the same
# machine, with nothing shared (each clone has its own target directory;
# the registry's downloaded sources are shared, as on any developer's
# machine). Also the rebuild after touching one file of the planner and
# one of the plugin host, to show what each change recompiles.
#
#   tests/benches/build_time.sh 025c92d HEAD
#
# Needs about 20 GB free per commit while it runs; each clone is removed
# when measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
(($# > 0)) || { echo "usage: $0 COMMIT..." >&2; exit 2; }
seconds() { # COMMAND...: its wall time in seconds; fails if it fails
    local start=$SECONDS
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
    echo $((SECONDS - start))
}
first() { for f in "$@"; do [[ -e $f ]] && { echo "$f"; return; }; done; return 1; }
printf '%-12s %10s %14s %18s\n' commit clean_s touch_state_s touch_plugin_host_s
for rev in "$@"; do
    work=$(mktemp -d)
    git clone -q "$root" "$work/osb"
    git -C "$work/osb" checkout -q "$(git rev-parse "$rev")"
    cd "$work/osb"
    clean=$(seconds cargo test --workspace --no-run)
    # The planner and the plugin host's loader, wherever the commit keeps them.
    plan=$(first state/src/plan.rs runtime/src/block/plan.rs)
    host=$(first plugin-host/src/host.rs runtime/src/plugin/host.rs)
    echo "// touched" >>"$plan"
    state=$(seconds cargo test --workspace --no-run)
    echo "// touched" >>"$host"
    plugin_host=$(seconds cargo test --workspace --no-run)
    printf '%-12s %10s %14s %18s\n' "$(git rev-parse --short HEAD)" "$clean" "$state" "$plugin_host"
    cd "$root"
    rm -rf "$work"
done
