#!/usr/bin/env bash
# Mixed soak: starts a stack of its own (no vf-worker: the created jobs stay
# queued; max_unfinished_jobs raised so that the per-user cap does not
# answer), runs tests/bench/soak.mjs against it and stops the stack.
# Knobs: SOAK_SECONDS (600), SOAK_SAMPLE_S (30), SOAK_WARMUP_S (60),
# SOAK_GET_CONNS (8), SOAK_CREATE_DELAY_MS (200), SOAK_STREAMS (40),
# SOAK_FLAT_KB (2048), VF_API_PROCS (4, as for tests/bench/api.sh), VF_BUILD_DIR,
# and any VF_* for the stack (VF_SSE_THREADS: see the README on thread stacks).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export VF_BUILD_DIR=${VF_BUILD_DIR:-$repo/build}
export VF_WORKERS=0
export VF_MAX_UNFINISHED_JOBS=${VF_MAX_UNFINISHED_JOBS:-100000}
export VF_API_PROCS=${VF_API_PROCS:-4}
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

var=$(mktemp -d "${TMPDIR:-/tmp}/vf-bench-soak.XXXXXX")
export VF_VAR_DIR=$var
stop() {
    "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
    rm -rf "$var"
}
trap stop EXIT

"$repo/scripts/stack.sh" up >"$var/stack-up.log" 2>&1 || { cat "$var/stack-up.log" >&2; exit 1; }
echo "== soak stack: $(wc -w <"$var/run/api.pid") vf-api processes, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
node "$repo/tests/bench/soak.mjs"
if grep -qE 'AddressSanitizer|runtime error|ERROR' "$var/log/vf-api.log" "$var/log/vf-sse.log"; then
    echo "   the programs logged errors:"
    grep -hE 'AddressSanitizer|runtime error|ERROR' "$var/log/vf-api.log" "$var/log/vf-sse.log" | tail -n 5 | sed 's/^/     /'
fi
