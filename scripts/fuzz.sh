#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) over its seed
# corpus, FUZZ_JOBS targets at a time (default 1). New interesting inputs go
# to BUILD/fuzz-corpus/NAME (kept between runs, not committed); a crash is
# written to tests/fuzz/crashes/NAME/, where `make unit` replays it from then
# on as a regression test. Ends with one line per target: executions, time,
# executions per second, corpus size, peak RSS, and whether it crashed.
#   scripts/fuzz.sh BUILD NAME...
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_SECONDS must be a positive number" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_JOBS must be a positive number" >&2; exit 2; }

# run_one NAME: fuzzes NAME; its exit status and wall time go to BUILD/fuzz-NAME.result.
run_one() {
    local name=$1 work="$repo/$build/fuzz-corpus/$1" crashes="$repo/tests/fuzz/crashes/$1"
    local log="$repo/$build/fuzz-$name.log" t0 rc=0
    mkdir -p "$work" "$crashes"
    t0=$SECONDS
    "$repo/$build/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 \
        "$work" "$repo/tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - t0))" >"$repo/$build/fuzz-$name.result"
}

stat_of() { awk -v k="stat::$2:" '$1 == k { print $2 }' "$repo/$build/fuzz-$1.log"; }

echo "fuzz: $# target(s), ${seconds}s each, $jobs at a time"
running=0
for name in "$@"; do
    [[ -x $repo/$build/fuzz-$name ]] || { echo "fuzz: $build/fuzz-$name is not built" >&2; exit 2; }
    rm -f "$repo/$build/fuzz-$name.result"
    echo "fuzz: $name"
    run_one "$name" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

status=0
printf 'fuzz: %-14s %12s %7s %9s %7s %8s  %s\n' target executions seconds exec/s corpus 'peak RSS' result
for name in "$@"; do
    read -r rc took <"$repo/$build/fuzz-$name.result" || { rc=99; took=0; }
    result=clean
    if ((rc != 0)); then
        result="CRASH (see $build/fuzz-$name.log and tests/fuzz/crashes/$name/)"
        status=1
    fi
    printf 'fuzz: %-14s %12s %7s %9s %7s %5s MB  %s\n' "$name" "$(stat_of "$name" number_of_executed_units)" \
        "$took" "$(stat_of "$name" average_exec_per_sec)" \
        "$(find "$repo/$build/fuzz-corpus/$name" -type f | wc -l)" "$(stat_of "$name" peak_rss_mb)" "$result"
done
exit $status
