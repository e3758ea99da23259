"""ONNX Runtime vs PyTorch: max abs diff <= 1e-4 for all three tasks on several widths/resolutions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgemnv2.export import export_onnx  # noqa: E402
from edgemnv2.models.zoo import build_model, model_outputs  # noqa: E402
from edgemnv2.targets.cpu.runner import OnnxRuntimeRunner  # noqa: E402


def _randomise_bn(model: torch.nn.Module, seed: int) -> None:
    """Give BatchNorm non-trivial statistics so outputs have realistic magnitudes (not near zero)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


CASES = [("classify", 0.35, 96, 10), ("classify", 1.0, 224, 1000), ("classify", 0.5, 160, 5),
         ("detect", 0.35, 160, 4), ("detect", 0.5, 320, 91), ("segment", 0.35, 128, 5), ("segment", 0.5, 256, 21)]


@pytest.mark.parametrize("task,width,res,ncls", CASES, ids=lambda v: str(v))
def test_onnxruntime_matches_pytorch(tmp_path, task, width, res, ncls):
    model = build_model(task, width, ncls, res)
    _randomise_bn(model, seed=res)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, res, model_outputs(task))
    x = np.random.default_rng(1).standard_normal((1, 3, res, res)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    ref = ref if isinstance(ref, tuple) else (ref,)
    with OnnxRuntimeRunner(path) as r:
        got = r.infer({"images": x})
        assert [s.name for s in r.output_specs()] == model_outputs(task)
        assert r.input_specs()[0].shape == (1, 3, res, res)
    for name, t in zip(model_outputs(task), ref):
        out = got[name]
        assert out.shape == tuple(t.shape)
        assert float(np.abs(t.numpy()).max()) > 1e-3, "outputs are trivially small: the comparison would prove nothing"
        assert float(np.abs(out - t.numpy()).max()) <= 1e-4, name


def test_exported_graph_is_static_opset17_single_input(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = build_model("detect", 0.35, 3, 160)
    export_onnx(model, tmp_path / "d.onnx", 160, model_outputs("detect"))
    proto = onnx.load(str(tmp_path / "d.onnx"))
    assert [i.name for i in proto.graph.input] == ["images"]
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 160, 160]
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"NonMaxSuppression", "Loop", "If"}, ops
