#!/usr/bin/env bash
# Event fan-out benchmark: starts a stack of its own, runs
# tests/bench/sse-bench.mjs against it (N = 10, 100, 1000 streams through
# nginx), prints the figures and stops the stack.
#
# The stack has no vf-worker (the bench writes job_events rows itself, at a
# steady rate, so that vf-sse's queries can be told apart from everyone
# else's; see sse-bench.mjs) and enough stream threads for the largest N.
# Knobs: SSE_BENCH_N, SSE_BENCH_RATE, SSE_BENCH_SECONDS, SSE_BENCH_JSON,
# VF_SSE_THREADS (default 1100), VF_BUILD_DIR, and any VF_* for the stack.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export VF_BUILD_DIR=${VF_BUILD_DIR:-$repo/build}
export VF_SSE_THREADS=${VF_SSE_THREADS:-1100}
export VF_WORKERS=0

var=$(mktemp -d "${TMPDIR:-/tmp}/vf-bench-sse.XXXXXX")
export VF_VAR_DIR=$var
stop() {
    "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
    rm -rf "$var"
}
trap stop EXIT

echo "== event fan-out (vf-sse): VF_SSE_THREADS=$VF_SSE_THREADS, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$repo/scripts/stack.sh" up >"$var/stack-up.log" 2>&1 || { cat "$var/stack-up.log" >&2; exit 1; }
node "$repo/tests/bench/sse-bench.mjs"
