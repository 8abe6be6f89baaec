#!/usr/bin/env bash
# Benchmarks (DESIGN §8, targets in §9). Each section prints its figures;
# nothing here asserts a time, and a section fails only when it cannot run.
#
#   scripts/bench.sh [SECTION...]      sections: render sse api soak (default: all)
#
#   render  a 60 s 1080x1920 30 fps short in the default style, rendered
#           in-process by build/vf-bench-render, then the equivalent ffmpeg
#           command line (the same gradient colours, the same captions.ass,
#           the same narration, the same x264/AAC settings) in the same run:
#           wall time, real-time factor and peak RSS of both, and their ratio.
#
#   sse     event fan-out: 10, 100 and 1000 streams through nginx on a stack
#           of its own (tests/bench/sse.sh): latency from a job_events row's
#           time to its arrival at each client, vf-sse's database queries per
#           second, its memory per stream.
#
#   api     wrk through nginx on a stack of its own (tests/bench/api.sh):
#           GET /api/jobs/:id and POST /api/jobs/generate with 64 connections
#           and a bearer token: req/s, p50/p99/max latency, errors.
#
#   soak    ten minutes of mixed load (tests/bench/soak.sh): GETs, a trickle
#           of job creation, event streams opening and closing; vf-api's and
#           vf-sse's VmRSS sampled every 30 s, and whether it stayed flat.
#
# VF_BUILD_DIR (default build) holds the binaries; VF_BENCH_DIR (default
# var/bench) receives the videos.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${VF_BUILD_DIR:-build}
OUT=${VF_BENCH_DIR:-var/bench}

now() { date +%s.%N; }

# run_measured LOG CMD...: runs CMD under GNU time; sets WALL (s) and RSS_KB.
run_measured() {
    local log=$1 t0 t1
    shift
    t0=$(now)
    /usr/bin/time -v -o "$log.time" "$@" >"$log" 2>&1 || {
        echo "bench: '$*' failed:" >&2
        tail -n 20 "$log" >&2
        return 1
    }
    t1=$(now)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.time")
}

section_render() {
    local dir="$OUT/render" vf_dir="$OUT/render/vf" ff_dir="$OUT/render/ffmpeg"
    rm -rf "$dir"
    mkdir -p "$vf_dir" "$ff_dir"
    [ -x "$BUILD/vf-bench-render" ] || { echo "bench: $BUILD/vf-bench-render missing (make bench builds it)" >&2; return 1; }

    echo "== render: 60 s 1080x1920 30 fps, default style (espeak, deep-sea gradient, captions), $(nproc) cores"
    # a warm-up so both sides start with the same files in the page cache
    "$BUILD/vf-bench-render" -r 720 -t none -n "$vf_dir" >/dev/null 2>&1 || true

    run_measured "$dir/vf.log" "$BUILD/vf-bench-render" "$vf_dir"
    local vf_wall=$WALL vf_rss=$RSS_KB
    local duration
    duration=$(awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "duration_s") print kv[2] } }' "$dir/vf.log")

    # The same narration for ffmpeg, as 16-bit PCM (not timed: ffmpeg cannot speak).
    ffmpeg -hide_banner -loglevel error -y -i "$vf_dir/video.mp4" -vn -c:a pcm_s16le "$dir/narration.wav"

    # deep-sea: the four stops of app/render/palette.c
    local gradient="gradients=s=1080x1920:r=30:d=$duration:n=4:c0=0x03045e:c1=0x023e8a:c2=0x0077b6:c3=0x00a6c8:speed=0.01"
    local ffmpeg_cmd=(ffmpeg -hide_banner -loglevel error -y
        -f lavfi -i "$gradient" -i "$dir/narration.wav"
        -vf "ass=$vf_dir/captions.ass"
        -c:v libx264 -preset veryfast -profile:v high -crf 21 -g 120
        -x264-params aq-strength=0.6:me=dia:subme=1 -pix_fmt yuv420p
        -c:a aac -b:a 128k -ar 48000 -ac 2 -shortest -movflags +faststart
        "$ff_dir/video.mp4")
    run_measured "$dir/ffmpeg.log" "${ffmpeg_cmd[@]}"
    local ff_wall=$WALL ff_rss=$RSS_KB

    printf '%s\n' "${ffmpeg_cmd[*]}" >"$dir/ffmpeg-command.txt"
    awk -v d="$duration" -v vw="$vf_wall" -v vr="$vf_rss" -v fw="$ff_wall" -v fr="$ff_rss" 'BEGIN {
        printf "   video: %.1f s\n", d
        printf "   %-22s %8s %12s %10s\n", "", "wall", "real time", "peak RSS"
        printf "   %-22s %7.1fs %11.2fx %7d MB\n", "vf (in-process)", vw, d / vw, vr / 1024
        printf "   %-22s %7.1fs %11.2fx %7d MB\n", "ffmpeg command line", fw, d / fw, fr / 1024
        printf "   wall-time ratio vf/ffmpeg: %.2f   (targets: ratio <= 1.0, >= 4x real time, peak RSS <= 400 MB)\n", vw / fw
    }'
    echo "   ffmpeg command: $dir/ffmpeg-command.txt; videos under $dir"
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(render sse api soak)
for s in "${sections[@]}"; do
    case $s in
    render) section_render ;;
    sse) VF_BUILD_DIR=$BUILD tests/bench/sse.sh ;;
    api) VF_BUILD_DIR=$BUILD tests/bench/api.sh ;;
    soak) VF_BUILD_DIR=$BUILD tests/bench/soak.sh ;;
    *) echo "bench: no section '$s' (have: render sse api soak)" >&2; exit 2 ;;
    esac
done
