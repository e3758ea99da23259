"""Device-side code (runners, tasks, apps, bench, CLI entry) never imports torch, tensorflow or onnx.

Checked two ways in fresh subprocesses: importing every device-side module leaves none of them in
``sys.modules``; and a real device flow (predict on an ONNX Runtime bundle) runs with those packages
made unimportable.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "tensorflow", "onnx", "keras", "tf_keras", "onnxslim")

# Host-only modules: export, conversion, calibration, training. Everything else must stay light.
HOST_ONLY_PREFIXES = (
    "edgemnv2.models", "edgemnv2.export", "edgemnv2.model_source", "edgemnv2.training", "edgemnv2.training.loop",
    "edgemnv2.calibration", "edgemnv2.targets.cpu.build", "edgemnv2.targets.pi.build",
    "edgemnv2.targets.keras_builder", "edgemnv2.targets.jetson.export", "edgemnv2.targets.pi.tf_twin",
    "edgemnv2.onnx_import", "edgemnv2.targets.pi.ssd_postprocess", "edgemnv2.targets.pi.tflite_metadata",
)
# Device modules that need a runtime which may be absent here (they import it lazily anyway).
OPTIONAL_RUNTIME = ()


def device_modules() -> list:
    """Every module of the package (the mapped targets/apps/calibration folders included) minus host-only."""
    import importlib

    names = set()
    for pkg_name in ("edgemnv2", "edgemnv2.targets", "edgemnv2.apps", "edgemnv2.calibration"):
        try:
            pkg = importlib.import_module(pkg_name)
        except ImportError:
            continue
        names.add(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
            names.add(info.name)
    return sorted(n for n in names if not n.startswith(HOST_ONLY_PREFIXES) and n != "edgemnv2.__main__")


@pytest.mark.device
def test_there_are_device_modules_to_check():
    mods = device_modules()
    for expected in ("edgemnv2.tasks.detect", "edgemnv2.targets.cpu.runner", "edgemnv2.predictor",
                     "edgemnv2.cli.main", "edgemnv2.bundle"):
        assert expected in mods


@pytest.mark.device
def test_importing_device_modules_pulls_in_no_heavy_framework():
    code = (
        "import importlib, json, sys\n"
        f"mods = {device_modules()!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in {HEAVY!r})))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


BLOCKER = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {heavy!r}:
            raise ImportError('blocked heavy import: ' + name)
sys.meta_path.insert(0, Block())
sys.argv = ['edgemnv2'] + {args!r}
from edgemnv2.cli.main import main
sys.exit(main())
"""


def test_device_flow_runs_with_heavy_frameworks_blocked(cpu_bundles, tmp_path):
    import cv2
    import numpy as np

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.full((50, 60, 3), 90, np.uint8))
    for task in ("classify", "detect", "segment"):
        args = ["predict", str(img), "--bundle", str(cpu_bundles[task]), "--json"]
        r = subprocess.run([sys.executable, "-c", BLOCKER.format(heavy=HEAVY, args=args)], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["task"] == task


@pytest.mark.device
def test_cli_help_is_light():
    r = subprocess.run([sys.executable, "-c", BLOCKER.format(heavy=HEAVY, args=["--help"])], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "build" in r.stdout and "predict" in r.stdout


@pytest.mark.parametrize("mod", ["edgemnv2.models.zoo", "edgemnv2.models.weights"])
def test_host_modules_really_are_host_only(mod):
    """Sanity check of the split: the host modules do import torch (so the list above means something)."""
    code = f"import importlib, sys; importlib.import_module({mod!r}); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "True", r.stderr


ENGINE_FINISH = """
import json, sys, importlib.abc
sys.path.insert(0, {tests!r})
import trt_standins as standin  # the stand-in parser holds its own onnx/onnxruntime, imported before the block
for k in list(sys.modules):
    if k.split('.')[0] in {heavy!r}:
        del sys.modules[k]
tried = []
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {heavy!r}:
            tried.append(name)
            raise ImportError('blocked heavy import: ' + name)
sys.meta_path.insert(0, Block())
class Patch:
    def setitem(self, d, k, v):
        d[k] = v
standin.install(Patch(), "8.5.2.2")
from edgemnv2.targets.jetson.engine import finish_jetson_bundle
from edgemnv2.predictor import Predictor
import numpy as np
m = finish_jetson_bundle({bundle!r})
with Predictor.from_bundle({bundle!r}) as p:
    top = p.predict(np.zeros((50, 50, 3), np.uint8)).top
print(json.dumps({{"tried": tried, "loaded": sorted(k for k in sys.modules if k.split('.')[0] in {heavy!r}),
                  "conformance": m["model"]["engine"]["conformance"], "top": len(top)}}))
"""


def test_engine_build_on_the_device_needs_no_host_package(tmp_path):
    """The Jetson engine build (targets/jetson/engine.py) imports and finishes a bundle, TensorRT stand-in,
    with torch / tensorflow / onnx unimportable; only the optional onnx conformance re-check tries onnx."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.jetson.export import build_jetson_bundle

    bundle = tmp_path / "b"
    build_jetson_bundle(BuildOptions(task="classify", out=bundle, target="jetson", width_mult=0.35, resolution=96,
                                     num_classes=10, precision="fp16"))
    code = ENGINE_FINISH.format(tests=str(REPO / "tests"), heavy=HEAVY, bundle=str(bundle))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "EDGEMNV2_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["loaded"] == [] and out["top"] == 5 and (bundle / "model.engine").is_file()
    assert {t.split(".")[0] for t in out["tried"]} <= {"onnx"}, out["tried"]
    assert out["conformance"]["checked"] is False  # the onnx re-check was skipped, not crashed
