#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) over its seed
# corpus. New interesting inputs go to BUILD/fuzz-corpus/NAME (not kept);
# a crash is written to tests/fuzz/crashes/NAME/, where `make unit` replays it
# from then on as a regression test.
#   scripts/fuzz.sh BUILD NAME...
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
shift
seconds=${FUZZ_SECONDS:-60}
status=0
for name in "$@"; do
    work="$repo/$build/fuzz-corpus/$name"
    crashes="$repo/tests/fuzz/crashes/$name"
    mkdir -p "$work" "$crashes"
    echo "fuzz: $name for ${seconds}s"
    if ! "$repo/$build/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$crashes/" -print_final_stats=1 \
            "$work" "$repo/tests/fuzz/corpus/$name" 2>"$repo/$build/fuzz-$name.log"; then
        echo "fuzz: $name found a crash; see $build/fuzz-$name.log and $crashes/"
        status=1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$repo/$build/fuzz-$name.log" | \
        sed "s/^/fuzz: $name /" || true
done
exit $status
