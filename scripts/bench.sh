#!/usr/bin/env bash
# Benchmarks (DESIGN §8, targets in §9), still to be written:
#   - render: a 60 s 1080x1920 30 fps video, wall time as a ratio to the
#     equivalent ffmpeg command run in the same session, and peak RSS;
#   - API: GET /api/jobs/:id through nginx with wrk, 64 connections
#     (requests per second, p99 latency, errors);
#   - event fan-out: 1,000 open streams, time for a state change to reach all.
echo "bench: not yet implemented" >&2
exit 1
