#!/usr/bin/env bash
# Temporal-shift case study: SmolLM2-135M on Django release notes from before 2023-06-01
# ("members") and after 2025-01-01 ("non-members"), once for the full split and once within
# WINDOW days of each date (regression discontinuity); after each run, strata.py splits the AUROCs
# by genre of release note (feature vs patch release). Run from anywhere after `make install`:
#
#     examples/temporal_shift/run.sh
#
# Settings (environment): OUT (default runs/temporal_shift), DJANGO (the pinned sdist,
# default django==5.2.19), SDIST (a django-*.tar.gz already on disk: skips the download),
# WINDOW (days, default 365), N (texts per side, default 150), SEED (default 0).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
OUT=${OUT:-$ROOT/runs/temporal_shift}
DJANGO=${DJANGO:-django==5.2.19}
WINDOW=${WINDOW:-365}
N=${N:-150}
SEED=${SEED:-0}
HERE=$ROOT/examples/temporal_shift

if [[ -z "${SDIST:-}" ]]; then
    # Only the sdist carries docs/; it is read as data, never installed or built.
    SDIST=$OUT/sdist/django-${DJANGO#django==}.tar.gz
    [[ -f "$SDIST" ]] || "$BIN/python" -m pip download -q --no-binary :all: --no-deps \
        "$DJANGO" -d "$OUT/sdist"
fi
MODEL=$("$BIN/python" -c 'from miakit.assets import smollm2_gguf; print(smollm2_gguf())')

run_split() {  # NAME [build_sets.py options...]
    local name=$1
    shift
    echo "== $name"
    "$BIN/python" "$HERE/build_sets.py" --sdist "$SDIST" --out "$OUT/$name/data" \
        --n "$N" --seed "$SEED" "$@"
    "$BIN/miakit" run --model "$MODEL" \
        --members "$OUT/$name/data/members.jsonl" \
        --nonmembers "$OUT/$name/data/nonmembers.jsonl" \
        --out "$OUT/$name/run" --max-length 256 --n-bootstrap 1000 --seed "$SEED" \
        --no-progress
    echo "-- AUROC within one genre of release note (post hoc, see strata.py)"
    "$BIN/python" "$HERE/strata.py" --data "$OUT/$name/data" --run "$OUT/$name/run" --seed "$SEED"
}

run_split full
run_split "window$WINDOW" --window "$WINDOW"
