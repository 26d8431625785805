#!/usr/bin/env bash
# The benchmarks that print figures (BENCHMARKS.md says what each prints and what was measured).
# Installs and builds what each needs first, so every line below works on a fresh clone:
#
#   scripts/bench.sh train [train bench flags]        native: training images/s, inference ms
#   scripts/bench.sh compare [flags]                  the chapter's models in petlens and Keras
#   scripts/bench.sh browser [runs] [backends] [rounds]   the built page: sizes, start-up, latency
#   scripts/bench.sh soak [photos] [backends]         photos in a row: memory and speed over time
#   scripts/bench.sh memory [width] [height]          the models' thread's peak memory, one photo
#   scripts/bench.sh pool [runs] [backends] [threads] [grids]   1 against 2 models' threads
#   scripts/bench.sh drag [rounds] [backends] [threads]   a slider drag during an analysis
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-}"
[ $# -gt 0 ] && shift
case "$what" in
  train)
    exec cargo run --release --bin train -- bench "$@"
    ;;
  compare)
    exec bench/compare "$@"
    ;;
  browser | soak | memory | pool | drag)
    scripts/setup.sh browser
    scripts/deploy.sh
    exec node "bench/$what.mjs" "$@"
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
