#!/usr/bin/env bash
# Scale-out check (DESIGN §9): SCALE_WORKERS vf-worker daemons (default 4)
# on SCALE_JOBS short full-auto jobs (default 500: 15 s, 720p, x264
# ultrafast, SCALE_TTS voice, default none) on a stack of its own. Passes when
# every job completes with each step run exactly once, one ledger row each,
# the stored videos match their rows, and every worker took part; prints the
# wall time from the first job created to the last one completed.
# It is tests/it/queue.test.mjs with larger numbers; `make scale` runs it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VF_BUILD_DIR=${VF_BUILD_DIR:-$repo/build}
export QUEUE_JOBS=${SCALE_JOBS:-500}
export QUEUE_WORKERS=${SCALE_WORKERS:-4}
export QUEUE_TTS=${SCALE_TTS:-none}
export QUEUE_WAIT_MIN=${SCALE_WAIT_MIN:-90}
result=$(mktemp "${TMPDIR:-/tmp}/vf-scale.XXXXXX.json")
export QUEUE_RESULT=$result
trap 'rm -f "$result"' EXIT

echo "== scale-out: $QUEUE_JOBS jobs on $QUEUE_WORKERS workers (15 s, 720p, ultrafast, tts $QUEUE_TTS), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
node --test --test-concurrency=1 "$repo/tests/it/queue.test.mjs" || rc=$?
if [[ -s $result ]]; then
    node -e '
        const f = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(`   jobs ${f.jobs}, workers ${f.workers} (${f.workers_seen} held leases), wall ${f.wall_s} s ` +
            `(${f.jobs_per_minute} jobs/min), every step exactly once: ${f.steps_exactly_once ? "yes" : "no"}, ` +
            `ledger rows ${f.ledger_rows}`);' "$result"
fi
if ((rc)); then echo "   scale-out FAILED (see the test output above)"; else echo "   scale-out passed: no job left behind"; fi
exit $rc
