"""ModelIO from manifests and CLI text, without any runtime (pure Python)."""

from __future__ import annotations

import pytest

from edgemnv2.errors import EdgeError
from edgemnv2.model_io import BoxFormat, BoxUnits, Layout, ModelIO, OutputKind, Rule, overrides, parse_outputs
from edgemnv2.tasks.detect import to_xyxy


def test_manifest_outputs_become_typed() -> None:
    io = ModelIO.from_manifest({"task": "segment", "input": {"layout": "NHWC", "shape": [1, 64, 48, 3],
                                                             "mean": [0, 0, 0], "std": [1, 1, 1]},
                                "outputs": [{"name": "logits", "runtime_name": "Identity", "layout": "NHWC",
                                             "activation": "logits"}]})
    assert io.input.layout is Layout.NHWC and io.input.size == (64, 48) and io.input.norm_rule == "manifest"
    (out,) = io.outputs
    assert (out.name, out.kind, out.rule, out.layout) == ("Identity", OutputKind.class_scores, Rule.manifest,
                                                          Layout.NHWC)
    ssd = ModelIO.from_manifest({"task": "detect", "input": {}, "postprocess": {"nms": "in-model", "label_offset": 1},
                                 "outputs": [{"name": n, "runtime_name": f"P:{i}"} for i, n in
                                             enumerate(("boxes", "classes", "scores", "count"))]})
    assert [o.kind for o in ssd.outputs][0] is OutputKind.ssd_boxes and ssd.boxes.box_format is BoxFormat.yxyx
    assert ssd.boxes.label_offset == 1


@pytest.mark.parametrize("text", ["boxes", "boxes=a", "scores=b", "boxes=a,foo=b", "boxes=,scores=b"])
def test_bad_outputs_are_one_line_errors(text: str) -> None:
    with pytest.raises(EdgeError):
        parse_outputs(text)


def test_cli_text_overrides() -> None:
    o = overrides(mean="127.5", std="127.5", resolution="480x640", outputs="boxes=b,logits=s",
                  box_format=BoxFormat.cxcywh, box_units=BoxUnits.pixels, background=False)
    assert o.normalization is not None and o.normalization.mean == (127.5,) * 3
    assert o.resolution == (480, 640) and o.outputs == {"boxes": "b", "logits": "s"} and o.normalized_boxes is False
    io = ModelIO(task="detect").apply(o)  # type: ignore[arg-type]
    assert {x.name: x.kind for x in io.outputs} == {"b": OutputKind.boxes, "s": OutputKind.score_logits}
    for bad in ({"mean": "1,2"}, {"std": "0"}, {"resolution": "1"}, {"resolution": "axb"},
                {"input_range_": "1,0"}, {"input_range_": "0,1", "mean": "0"}):
        with pytest.raises(EdgeError):
            overrides(**bad)


def test_box_formats_to_normalised_xyxy() -> None:
    import numpy as np

    yxyx = np.array([[10.0, 20.0, 30.0, 60.0]])
    assert to_xyxy(yxyx, "yxyx", (100, 200))[0].tolist() == pytest.approx([0.1, 0.1, 0.3, 0.3])
    assert to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4]]), "cxcywh")[0].tolist() == pytest.approx([0.4, 0.3, 0.6, 0.7])
