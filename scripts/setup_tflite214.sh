#!/usr/bin/env bash
# A separate environment with tflite-runtime 2.14 (the last release; needs numpy < 2), used by the
# tests that run .tflite bundles on it in a subprocess. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv-tflite214/bin/python ] && .venv-tflite214/bin/python -c "import tflite_runtime, cv2" 2>/dev/null; then
  exit 0
fi
python3 -m venv .venv-tflite214
.venv-tflite214/bin/python -m pip install -q --upgrade pip
.venv-tflite214/bin/python -m pip install -q "tflite-runtime==2.14.0" "numpy<2" "opencv-python-headless<4.11" typer rich psutil
.venv-tflite214/bin/python -m pip install -q --no-deps -e .
