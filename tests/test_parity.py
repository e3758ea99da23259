"""ONNX Runtime vs PyTorch: max abs diff <= 1e-4 for all three tasks on several widths/resolutions,
in both padding modes (torchvision's symmetric padding and TensorFlow's SAME) and both opsets."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgemnv2.export import export_onnx  # noqa: E402
from edgemnv2.models.spec import ArchOptions, Padding  # noqa: E402
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


CASES = [("classify", 0.35, 96, 10, "torch", 17), ("classify", 1.0, 224, 1000, "torch", 17),
         ("classify", 0.5, 160, 5, "torch", 17), ("detect", 0.35, 160, 4, "torch", 17),
         ("detect", 0.5, 320, 91, "torch", 17), ("segment", 0.35, 128, 5, "torch", 17),
         ("segment", 0.5, 256, 21, "torch", 17),
         ("classify", 0.35, 96, 10, "tf", 17), ("classify", 1.0, 224, 1001, "tf", 13),
         ("detect", 0.35, 160, 4, "tf", 13), ("detect", 0.35, 160, 4, "tf", 17),
         ("segment", 0.35, 130, 5, "tf", 13), ("segment", 0.35, 97, 21, "tf", 17)]


@pytest.mark.parametrize("task,width,res,ncls,padding,opset", CASES, ids=lambda v: str(v))
def test_onnxruntime_matches_pytorch(tmp_path, task, width, res, ncls, padding, opset):
    arch = ArchOptions(Padding(padding), align_corners=task == "segment" and padding == "tf")
    model = build_model(task, width, ncls, res, arch)
    _randomise_bn(model, seed=res)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, res, model_outputs(task), opset=opset)
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


def _tf_same_conv(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """Reference TensorFlow SAME convolution in numpy (NCHW, OIHW): pad as TF's docs define, then VALID."""
    k = w.shape[-1]
    pads = []
    for n in x.shape[2:]:
        out = -(-n // stride)
        total = max((out - 1) * stride + k - n, 0)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    oh, ow = (xp.shape[2] - k) // stride + 1, (xp.shape[3] - k) // stride + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return y


@pytest.mark.parametrize("size", [8, 9, 14])
def test_tf_padding_is_tensorflow_same(size):
    """The stem of a ``tf`` model pads bottom/right on even sizes (TF SAME), symmetrically on odd ones."""
    model = build_model("classify", 0.35, 3, 96, ArchOptions(Padding.tf))
    stem = model.features[0][0]
    x = np.random.default_rng(size).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        got = stem(torch.from_numpy(x)).numpy()
    ref = _tf_same_conv(x.astype(np.float64), stem.weight.detach().numpy().astype(np.float64), 2)
    assert got.shape == ref.shape
    assert float(np.abs(got - ref).max()) < 1e-4
    torch_model = build_model("classify", 0.35, 3, 96)
    torch_model.load_state_dict(model.state_dict())  # same weights, same keys: only the padding differs
    with torch.no_grad():
        sym = torch_model.features[0][0](torch.from_numpy(x)).numpy()
    assert (float(np.abs(sym - ref).max()) > 1e-3) == (size % 2 == 0)


@pytest.mark.parametrize("opset", [13, 17])
def test_tf_padding_exports_asymmetric_conv_pads(tmp_path, opset):
    onnx = pytest.importorskip("onnx")
    model = build_model("classify", 0.35, 3, 96, ArchOptions(Padding.tf))
    export_onnx(model, tmp_path / "m.onnx", 96, model_outputs("classify"), opset=opset)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    pads = [list(a.ints) for n in proto.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "pads"]
    assert [0, 0, 1, 1] in pads  # top, left, bottom, right: TF SAME on an even size
    assert "Pad" not in {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("task,res,padding", [("classify", 96, "tf"), ("segment", 128, "tf"),
                                              ("classify", 96, "torch")], ids=str)
def test_tflite_twin_matches_pytorch_in_both_padding_modes(tmp_path, task, res, padding):
    """The Pi build's TF twin: plain SAME convolutions (no PAD ops) in tf mode, explicit PAD in torch mode;
    fp32 TFLite vs PyTorch <= 1e-4 (the Pi build's parity check) either way."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert")
    from edgemnv2.model_source import ModelSource
    from edgemnv2.targets.pi.build import tflite_parity
    from edgemnv2.targets.pi.runner import TFLiteRunner
    from edgemnv2.targets.pi.tf_twin import concrete_function, convert_float
    from edgemnv2.tasks.base import Task
    from edgemnv2.tasks.preprocess import IMAGENET

    arch = ArchOptions(Padding(padding), align_corners=task == "segment")
    model = build_model(task, 0.35, 5, res, arch)
    _randomise_bn(model, seed=res)
    path = tmp_path / "m.tflite"
    path.write_bytes(convert_float(concrete_function(model, task, res, IMAGENET.mean, IMAGENET.std)))
    with TFLiteRunner(path, xnnpack=False) as r:
        ops = r.op_counts()
    assert ("PAD" in ops) == (padding == "torch"), ops
    src = ModelSource(model, Task(task), 0.35, res, 5, [f"c{i}" for i in range(5)], IMAGENET, "random", arch=arch)
    assert tflite_parity(src, path)["max_abs_diff"] <= 1e-4
