#!/usr/bin/env bash
# Renders one video end to end through the HTTP API of the local stack:
# starts the stack unless it is up, submits a full-auto job, follows its event
# stream until it ends, and prints where the video is and how to log in.
#
#   VF_DEMO_TOPIC    the topic (default: why octopuses have three hearts)
#   VF_DEMO_TIMEOUT  seconds to wait for the job (default 900)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
topic=${VF_DEMO_TOPIC:-why octopuses have three hearts}
timeout=${VF_DEMO_TIMEOUT:-900}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

if ! "$repo/scripts/stack.sh" status >/dev/null 2>&1; then
    "$repo/scripts/stack.sh" up
fi
var=${VF_VAR_DIR:-$repo/var}
var=$(cd "$var" && pwd)
# shellcheck disable=SC1091
. "$var/stack.env"

tmp=$(mktemp -d)
curl_pid=""
cleanup() {
    [[ -z $curl_pid ]] || kill "$curl_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# jget PATH: a value from the JSON document on standard input, by dotted path
# ("job.video.size_bytes"); prints nothing for a missing value or null.
jget() {
    node -e '
        let v = JSON.parse(require("fs").readFileSync(0, "utf8"));
        for (const k of process.argv[1].split(".")) v = v == null ? undefined : v[k];
        if (v !== undefined && v !== null)
            process.stdout.write(typeof v === "object" ? JSON.stringify(v) : String(v));
    ' "$1"
}

# api METHOD PATH [BODY]: the response body in $tmp/body, the status echoed.
api() {
    local args=(-sS -o "$tmp/body" -w '%{http_code}' --max-time 30
                -H "Authorization: Bearer $VF_TOKEN" -X "$1")
    [[ $# -lt 3 ]] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "$VF_URL$2"
}

body=$(TOPIC="$topic" node -e 'process.stdout.write(JSON.stringify({topic: process.env.TOPIC}))')
status=$(api POST /api/jobs/generate "$body")
[[ $status == 202 ]] || die "POST /api/jobs/generate answered $status: $(cat "$tmp/body")"
id=$(jget job.id <"$tmp/body")
[[ -n $id ]] || die "no job id in $(cat "$tmp/body")"
say "job $id: \"$topic\" submitted to $VF_URL"
started=$SECONDS

# Follow the job's event stream. curl writes into a fifo that node reads;
# node stops at the first terminal state and curl is stopped with it.
mkfifo "$tmp/events"
curl -sS -N --max-time "$timeout" -H "Authorization: Bearer $VF_TOKEN" \
    -H 'Accept: text/event-stream' "$VF_URL/api/jobs/$id/events" >"$tmp/events" &
curl_pid=$!
set +e
# shellcheck disable=SC2016
node -e '
    const rl = require("readline").createInterface({ input: process.stdin });
    const t0 = Date.now();
    let type = "message", data = [], lastKey = "", lastTenth = -1;
    const reset = () => { type = "message"; };
    const stamp = () => ("   " + Math.round((Date.now() - t0) / 1000)).slice(-4) + "s";
    rl.on("line", (line) => {
        if (line.startsWith("event:")) { type = line.slice(6).trim(); return; }
        if (line.startsWith("data:")) { data.push(line.slice(5).trim()); return; }
        if (line !== "" || data.length === 0) return;
        let e = {};
        try { e = JSON.parse(data.join("\n")); } catch { e = { message: data.join(" ") }; }
        data = [];
        if (type === "state") {
            console.log(`  ${stamp()}  state     ${e.state}${e.step ? "  (" + e.step + ")" : ""}`);
            if (e.state === "COMPLETED") process.exit(0);
            if (e.state === "FAILED" || e.state === "CANCELLED") process.exit(3);
        } else if (type === "progress") {
            // Every tenth percent, and whenever the message changes.
            const key = `${e.step}|${e.message}`, tenth = Math.floor(e.percent / 10);
            if (key === lastKey && tenth === lastTenth) return reset();
            lastKey = key; lastTenth = tenth;
            console.log(`  ${stamp()}  progress  ${e.step || ""} ${e.percent}%${e.message ? "  " + e.message : ""}`);
        } else if (type === "log") {
            console.log(`  ${stamp()}  log       ${e.message}`);
        }
        type = "message";
    });
    rl.on("close", () => process.exit(2));
' <"$tmp/events"
follow=$?
set -e
kill "$curl_pid" 2>/dev/null || true
wait "$curl_pid" 2>/dev/null || true
curl_pid=""

# The stream ended without a final state (dropped, or not served): poll.
state=""
while :; do
    status=$(api GET "/api/jobs/$id")
    [[ $status == 200 ]] || die "GET /api/jobs/$id answered $status: $(cat "$tmp/body")"
    state=$(jget job.state <"$tmp/body")
    case $state in COMPLETED | FAILED | CANCELLED) break ;; esac
    ((follow != 2)) || { say "the event stream ended; polling the job (state $state)"; follow=1; }
    ((SECONDS - started < timeout)) || die "job $id still $state after $timeout s"
    sleep 2
done

if [[ $state != COMPLETED ]]; then
    step=$(jget job.error.step <"$tmp/body")
    message=$(jget job.error.message <"$tmp/body")
    die "job $id $state${step:+ in step $step}${message:+: $message}"
fi

store=$(sed -n 's/^[[:space:]]*local_store_dir[[:space:]]*=[[:space:]]*//p' "$VF_CONFIG" | tail -n 1)
store=${VF_LOCAL_STORE_DIR:-${store:-$VF_VAR_DIR/store}}
mp4="$store/jobs/$id/video.mp4"
duration=$(jget job.video.duration_s <"$tmp/body")
size=$(jget job.video.size_bytes <"$tmp/body")
width=$(jget job.video.width <"$tmp/body")
height=$(jget job.video.height <"$tmp/body")
[[ -n $size ]] || size=$(stat -c %s "$mp4" 2>/dev/null || echo 0)

echo
say "job $id COMPLETED in $((SECONDS - started)) s"
if [[ -f $mp4 ]]; then
    printf '  video      %s\n' "$mp4"
else
    printf '  video      %s\n' "$(jget job.video.url <"$tmp/body")"
fi
[[ -z $duration ]] || duration=$(awk -v d="$duration" 'BEGIN { printf "%.1f", d }')
printf '             %s s, %s MB%s\n' "${duration:-?}" \
    "$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "${width:+, ${width}x${height}}"
printf '  dashboard  %s/dashboard/video-factory\n' "$VF_URL"
printf '  login      %s / %s\n' "$VF_USER" "$VF_PASSWORD"
