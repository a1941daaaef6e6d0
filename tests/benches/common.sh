# What the whole-process benchmark scripts share; sourced from the
# repository root, not run.

# Unless SKIP_BUILD is set, builds osb in release mode and, when PACKAGE is
# given, the plugin packages (tests/artifacts/build.rs). Sets OSB (unless
# it is set already: another build to compare, such as an older commit's),
# and with PACKAGE sets PACKAGES: the newest build directory holding that
# package (several profiles and older builds may hold packages).
build_and_locate() { # [PACKAGE]
    if [[ -z "${SKIP_BUILD:-}" ]]; then
        cargo build --release -p osb-cli
        [[ -z ${1:-} ]] || cargo build -p osb-tests
    fi
    OSB=${OSB:-$PWD/target/release/osb}
    [[ -x $OSB ]] || { echo "no $OSB: build it first" >&2; exit 1; }
    [[ -n ${1:-} ]] || return 0
    PACKAGES=$(find target -path "*osb-test-artifacts*/out/packages/$1/$1.wasm" \
        -printf '%T@ %h\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2- | xargs -r dirname)
    [[ -n $PACKAGES ]] || { echo "no built packages: cargo build -p osb-tests" >&2; exit 1; }
}

# Fields 14 and 15 of /proc/PID/stat: utime and stime in clock ticks (the
# comm field has no spaces for the processes measured here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Context switches of every thread: /proc/PID/status counts the main
# thread's alone.
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {n += $2} END {print n}'
}
