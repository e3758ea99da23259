"""TFLite runner on real models: Coral's uint8 classifier and DeepLab, on LiteRT and tflite-runtime 2.14."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.tflite_envs import RUNTIMES, predict_json, python_for

pytestmark = [pytest.mark.coral, pytest.mark.device]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_coral_classifier_cat(coral_dir: Path, runtime: str) -> None:
    """Coral's own bar: cat.bmp -> "Egyptian cat" with score >= 0.7 (1001 labels, background at 0)."""
    out = predict_json([coral_dir / "cat.bmp", "--model", coral_dir / "mobilenet_v2_1.0_224_quant.tflite",
                        "--labels", coral_dir / "imagenet_labels.txt", "--task", "classify"], runtime)
    top = out[0]["top"][0]
    assert top["label"] == "Egyptian cat", out
    assert top["score"] >= 0.7, out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_coral_deeplab_bird_mask(coral_dir: Path, tmp_path: Path, runtime: str) -> None:
    """DeepLab (argmax inside the graph, (1, 513, 513) int64 output): agreement with Coral's mask > 0.90."""
    import cv2

    masks = tmp_path / "masks"
    predict_json([coral_dir / "bird_segmentation.bmp", "--model", coral_dir / "deeplabv3_mnv2_pascal_quant.tflite",
                  "--labels", coral_dir / "pascal_voc_segmentation_labels.txt", "--task", "segment",
                  "--mask-out", masks], runtime)
    mask = cv2.imread(str(masks / "bird_segmentation.png"), cv2.IMREAD_UNCHANGED)
    ref = cv2.imread(str(coral_dir / "bird_segmentation_mask.bmp"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == ref.shape
    assert set(np.unique(ref)) <= set(range(21))  # Coral's reference holds PASCAL class indices (3 = bird)
    matching = int(np.count_nonzero(mask == ref))
    agreement = matching / (2 * ref.size - matching)
    assert agreement > 0.90, agreement


def test_runner_reads_quantization_and_threads(coral_dir: Path) -> None:
    from edgemnv2.targets.pi.runner import TFLiteRunner

    with TFLiteRunner(coral_dir / "mobilenet_v2_1.0_224_quant.tflite", threads=2) as r:
        (inp,), (out,) = r.input_specs(), r.output_specs()
        assert (inp.shape, inp.dtype, inp.quant) == ((1, 224, 224, 3), "uint8", (0.0078125, 128))
        assert (out.shape, out.dtype) == ((1, 1001), "uint8") and out.quant[0] == pytest.approx(1 / 256)
        got = r.infer({inp.name: np.zeros(inp.shape, np.uint8)})
        assert got[out.name].shape == (1, 1001) and r.last_inference_ms > 0
        d = r.describe()
        assert d["runtime"] == "ai_edge_litert" and d["threads"] == 2 and d["delegate"] == "xnnpack"
        assert "DELEGATE" in r.op_counts()  # XNNPACK took the graph
    with TFLiteRunner(coral_dir / "deeplabv3_mnv2_pascal_quant.tflite") as r:
        assert [(o.shape, o.dtype, o.quant) for o in r.output_specs()] == [((1, 513, 513), "int64", None)]


def test_tflite_runtime_214_is_used(coral_dir: Path) -> None:
    """The 2.14 environment really runs tflite_runtime (LiteRT is not installed there)."""
    py = python_for("tflite_runtime")
    code = ("from edgemnv2.targets.pi.runner import TFLiteRunner as R; import sys; "
            "r = R(sys.argv[1]).activate(); d = r.describe(); print(d['runtime'], d['version'])")
    proc = subprocess.run([py, "-c", code, str(coral_dir / "mobilenet_v2_1.0_224_quant.tflite")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tflite_runtime", "2.14.0"]


def _bump_op_version(src: Path, dst: Path, op: str = "CONV_2D", version: int = 99) -> None:
    """Copy a .tflite with one op's version set beyond what any runtime knows."""
    pytest.importorskip("tensorflow")
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fu

    code = getattr(schema.BuiltinOperator, op)
    model = fu.read_model(str(src))
    hit = [c for c in model.operatorCodes if max(c.builtinCode, c.deprecatedBuiltinCode) == code]
    assert hit, f"{src.name} has no {op}"
    for c in hit:
        c.version = version
    fu.write_model(model, str(dst))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unsupported_op_names_op_version_and_runtime(coral_dir: Path, tmp_path: Path, runtime: str, cli) -> None:
    bad = tmp_path / "future_ops.tflite"
    _bump_op_version(coral_dir / "mobilenet_v2_1.0_224_quant.tflite", bad)
    proc = cli(["predict", coral_dir / "cat.bmp", "--model", bad, "--task", "classify"], python=python_for(runtime))
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "op CONV_2D version 99" in err and runtime in err and ("2.14.0" in err if runtime == "tflite_runtime"
                                                                 else "2.3" in err), err


def test_not_a_tflite_file(tmp_path: Path, cli) -> None:
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"not a flatbuffer at all" * 10)
    img = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    proc = cli(["predict", img, "--model", bad, "--task", "classify"])
    assert proc.returncode == 1 and "junk.tflite cannot be loaded" in proc.stderr and "Traceback" not in proc.stderr


def test_runner_module_is_light(tmp_path: Path) -> None:
    """Device side: importing and using the runner pulls in neither TensorFlow nor PyTorch."""
    code = ("import sys, edgemnv2.targets.pi.runner as m; m.load_interpreter_class(); "
            "bad = [x for x in ('tensorflow', 'torch', 'onnx') if x in sys.modules]; print(bad); "
            "sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_copy_of_coral_model_outside_shared(coral_dir: Path, tmp_path: Path) -> None:
    """A bare .tflite anywhere (not only ../shared) runs through open_runner's suffix dispatch."""
    from edgemnv2.targets.registry import open_runner

    dst = tmp_path / "m.tflite"
    shutil.copy(coral_dir / "mobilenet_v2_1.0_224_quant.tflite", dst)
    with open_runner(dst, threads=1) as r:
        assert type(r).__name__ == "TFLiteRunner"


def test_runtime_can_be_forced(coral_dir: Path, cli) -> None:
    """EDGEMNV2_TFLITE_RUNTIME picks the runtime; an unavailable one is one clear line."""
    model = coral_dir / "mobilenet_v2_1.0_224_quant.tflite"
    proc = cli(["predict", coral_dir / "cat.bmp", "--model", model, "--task", "classify"],
               env={"EDGEMNV2_TFLITE_RUNTIME": "tflite_runtime"})  # not installed in the main venv
    assert proc.returncode == 1 and "TFLite runtime tflite_runtime cannot be imported" in proc.stderr, proc.stderr
    proc = cli(["predict", coral_dir / "cat.bmp", "--model", model, "--task", "classify"],
               env={"EDGEMNV2_TFLITE_RUNTIME": "nonsense"})
    assert proc.returncode == 1 and "unknown TFLite runtime 'nonsense'" in proc.stderr, proc.stderr
