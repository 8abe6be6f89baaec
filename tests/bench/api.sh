#!/usr/bin/env bash
# API load benchmark (DESIGN §8, targets in §9): wrk through nginx on a stack
# of its own, with 64 connections and the stack's bearer token,
#   1. GET /api/jobs/:id of one of the token owner's jobs;
#   2. POST /api/jobs/generate (each body a fresh topic), the job-creation
#      path: auth, validation, the unfinished-jobs count, the insert and
#      its event row.
# For each: requests per second, p50/p99/max latency, and errors (socket
# errors and answers of 400 or more), then how many jobs the database holds
# against the 202s wrk saw.
#
# The stack runs no vf-worker (the created jobs stay queued) and raises
# max_unfinished_jobs so that the per-user cap does not answer 429 here.
# nginx's per-address limit on job creation (limit_req) would turn all but
# the first few hundred creations from wrk's one address into 429s, so this
# bench stack's generated nginx config goes without it (API_BENCH_KEEP_LIMITS=1
# keeps it, to watch the limit at work).
# Knobs: API_BENCH_SECONDS (30 per run), API_BENCH_CONNS (64),
# API_BENCH_THREADS (2), VF_API_PROCS (vf-api processes, 4),
# VF_BUILD_DIR, and any VF_* for the stack.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export VF_BUILD_DIR=${VF_BUILD_DIR:-$repo/build}
export VF_WORKERS=0
export VF_MAX_UNFINISHED_JOBS=${VF_MAX_UNFINISHED_JOBS:-100000}
# Four vf-api processes, as the local stack and nginx/production run them
# (spawn-fcgi -F 4).
export VF_API_PROCS=${VF_API_PROCS:-4}
seconds=${API_BENCH_SECONDS:-30}
conns=${API_BENCH_CONNS:-64}
threads=${API_BENCH_THREADS:-2}
lua="$repo/tests/bench/wrk-report.lua"
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

var=$(mktemp -d "${TMPDIR:-/tmp}/vf-bench-api.XXXXXX")
export VF_VAR_DIR=$var
stop() {
    "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
    rm -rf "$var"
}
trap stop EXIT

"$repo/scripts/stack.sh" up >"$var/stack-up.log" 2>&1 || { cat "$var/stack-up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$var/stack.env"
sql() { mariadb --no-defaults --protocol=socket -S "$VF_DB_SOCKET" -u "$(id -un)" -N -B vf -e "$1"; }
api_procs=$(wc -w <"$var/run/api.pid")
limits="nginx limit_req on job creation lifted for the bench"
if [[ ${API_BENCH_KEEP_LIMITS:-0} != 1 ]] && grep -qE '^\s*limit_req zone=vf_jobs' "$var/nginx/vf-site.conf"; then
    sed -i -E '/^\s*limit_req zone=vf_jobs/d' "$var/nginx/vf-site.conf"
    nginx -q -p "$var/nginx" -c "$var/nginx/nginx.conf" -s reload 2>/dev/null
    sleep 1
else
    limits="nginx limits as configured"
fi

echo "== API load (wrk through nginx): $conns connections, $threads wrk threads, ${seconds}s a run," \
     "$api_procs vf-api processes, $limits, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

job=$(curl -fsS -X POST -H "Authorization: Bearer $VF_TOKEN" -H 'Content-Type: application/json' \
      --data '{"topic":"a job to read back"}' "$VF_URL/api/jobs/generate" |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).job.id))')

# run_wrk NAME URL: runs wrk with the WRK_* environment; sets RESULT to its figures line.
run_wrk() {
    local name=$1 url=$2
    wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 5s -s "$lua" "$url" >"$var/wrk-$name.log" 2>&1 ||
        { cat "$var/wrk-$name.log" >&2; return 1; }
    RESULT=$(grep '^RESULT ' "$var/wrk-$name.log" | tail -n 1)
    [[ -n $RESULT ]] || { cat "$var/wrk-$name.log" >&2; return 1; }
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$RESULT"; }

report() {
    local errors
    errors=$(($(field connect) + $(field read) + $(field write) + $(field timeout) + $(field status)))
    printf '   %-28s %9s req/s   p50 %7s ms   p99 %7s ms   max %8s ms   requests %8s   errors %s' \
        "$1" "$(field rps)" "$(field p50_ms)" "$(field p99_ms)" "$(field max_ms)" "$(field requests)" "$errors"
    if ((errors)); then
        printf ' (connect %s, read %s, write %s, timeout %s, status >= 400: %s)' \
            "$(field connect)" "$(field read)" "$(field write)" "$(field timeout)" "$(field status)"
    fi
    printf '\n'
}

# A short warm-up: every vf-api process opens its database connection and
# prepares its statements before the measured run.
WRK_METHOD=GET WRK_TOKEN=$VF_TOKEN wrk -t"$threads" -c"$conns" -d3s -s "$lua" "$VF_URL/api/jobs/$job" >/dev/null 2>&1 || true

WRK_METHOD=GET WRK_TOKEN=$VF_TOKEN run_wrk get "$VF_URL/api/jobs/$job"
report "GET /api/jobs/$job"
get_errors=$(($(field connect) + $(field read) + $(field write) + $(field timeout) + $(field status)))
awk -v r="$(field rps)" -v p="$(field p99_ms)" -v e="$get_errors" 'BEGIN {
    printf "   target: >= 5000 req/s with p99 <= 25 ms and no errors: %s\n",
        (r >= 5000 && p <= 25 && e == 0) ? "met" : "NOT met" }'

before=$(sql "SELECT COUNT(*) FROM jobs")
WRK_METHOD=POST WRK_TOKEN=$VF_TOKEN WRK_TOPIC_SERIAL=1 \
WRK_BODY='{"topic":"load test topic number %d","options":{"duration_s":15,"resolution":720}}' \
    run_wrk create "$VF_URL/api/jobs/generate"
report "POST /api/jobs/generate"
after=$(sql "SELECT COUNT(*) FROM jobs")
created=$((after - before))
ok=$(($(field requests) - $(field status)))
echo "   jobs in the database after the create run: $created new ($ok answers below 400 seen by wrk;" \
     "wrk counts requests cut off at the end as neither)"

rss=""
for pid in $(cat "$var/run/api.pid"); do
    rss+=" $(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo '?') MB"
done
echo "   vf-api VmRSS per process after both runs:$rss"
if grep -qE 'ERROR|AddressSanitizer|runtime error' "$var/log/vf-api.log"; then
    echo "   vf-api logged errors:"
    grep -E 'ERROR|AddressSanitizer|runtime error' "$var/log/vf-api.log" | tail -n 5 | sed 's/^/     /'
fi
