"""int8 quality of the project's built-in shapes models (edgemnv2/weights/shapes_*), on labelled synthetic data.

Skips per task until the weights exist. Calibration and labelled evaluation images come
from the synthetic dataset generator the defaults are trained on (edgemnv2.data.synthetic).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemnv2.model_source import default_weights
from edgemnv2.tasks.base import Task

pytest.importorskip("tensorflow")
pytest.importorskip("torch")


@pytest.mark.slow
@pytest.mark.parametrize("task", [t.value for t in Task])
def test_default_model_int8_quality(task: str, tmp_path: Path) -> None:
    meta = default_weights(Task(task), "shapes")
    if meta is None:
        pytest.skip(f"no built-in shapes {task} model in edgemnv2/weights/ yet")
    synthetic = pytest.importorskip("edgemnv2.data.synthetic")
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle

    seed = int(meta.get("seed", 0)) + 1000  # images the default model was not trained on
    data = synthetic.write_dataset(tmp_path / "data", task, {"calib": 30, "val": 15},
                                   size=int(meta["resolution"]), seed=seed)
    man = build_pi_bundle(BuildOptions(task=task, out=tmp_path / "bundle", target="pi", precision="int8",
                                       weights=Path("shapes"),
                                       calib=data / "calib", calib_count=30, max_drop=100, eval_data=data))
    assert man["source"]["origin"] == "named"
    acc = man["reports"]["accuracy"]
    assert acc["basis"] == "labels" and acc["images"] == 15
    print(f"default {task}: fp32 {acc['reference']:.1f} int8 {acc['test']:.1f} {acc['metric']}, drop {acc['drop']:.1f}")
    assert acc["reference"] > 0 and acc["drop"] <= 5.0, acc
