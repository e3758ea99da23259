#!/usr/bin/env bash
# The main job on a fresh machine, on the built-in default detection model:
#   1. set up: .venv + pip install -e '.[host]' (skipped when .venv already has edgemnv2);
#   2. generate the default calibration images and a small held-out set (synthetic, seeded);
#   3. build a Raspberry Pi int8 bundle (edgemnv2 build --target pi --precision int8 --calib ...);
#   4. run the detection camera app headless on the synthetic source, writing an annotated video,
#      per-frame JSON results and a per-stage latency profile;
#   5. benchmark the bundle (latency, throughput, memory, accuracy on the held-out set): report.{json,md,html}.
# Usage: scripts/main_job.sh [OUT_DIR]   (default out/main_job; FRAMES=N, RUNS=N, PYTHON=python3.11 override)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/main_job}
FRAMES=${FRAMES:-120}
RUNS=${RUNS:-100}
PYTHON=${PYTHON:-python3}
T0=$(date +%s)
step() { printf '\n== [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

step "setting up .venv"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if ! python -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in
        ('edgemnv2', 'torch', 'tensorflow', 'onnxruntime', 'ai_edge_litert', 'cv2', 'faster_coco_eval')))"; then
    python -m pip install -q --upgrade pip
    python -m pip install -q -e '.[host]'
fi
mkdir -p "$OUT"

step "generating calibration images and a held-out set (synthetic, seed 2 = the default detector's dataset)"
edgemnv2 data synth --task detect --out "$OUT/data" --train 0 --val 100 --calib 300 --seed 2

step "building the Raspberry Pi int8 bundle from the built-in default detector"
edgemnv2 build --target pi --task detect --precision int8 --calib "$OUT/data/calib" --calib-count 300 \
    --eval "$OUT/data" \
    --out "$OUT/detect_pi_int8"

step "camera app, headless, on the synthetic source ($FRAMES frames)"
edgemnv2 camera --task detect --bundle "$OUT/detect_pi_int8" --source "synthetic://?fps=0&frames=$FRAMES" \
    --max-frames "$FRAMES" --no-window --video-out "$OUT/detect.avi" --json-out "$OUT/detections.jsonl" \
    --profile "$OUT/profile.json"

step "benchmark report"
edgemnv2 bench --bundle "$OUT/detect_pi_int8" --report "$OUT/report" --runs "$RUNS" --eval "$OUT/data/val"

step "done"
echo "annotated video: $OUT/detect.avi"
echo "results:         $OUT/detections.jsonl"
echo "profile:         $OUT/profile.json"
echo "benchmark:       $OUT/report/report.md (and report.json, report.html)"
