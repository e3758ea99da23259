"""Typed build options and the target table (edgemnv2/build_options.py): one place that checks precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemnv2.build_options import TARGETS, BuildOptions, Precision, Target
from edgemnv2.errors import EdgeError
from edgemnv2.tasks.base import Task


def test_strings_become_enums_and_the_target_default_applies(tmp_path: Path) -> None:
    o = BuildOptions(task="detect", out=str(tmp_path / "b"), target="jetson", calib=str(tmp_path))
    assert (o.task, o.target, o.precision) == (Task.detect, Target.jetson, Precision.fp16)
    assert isinstance(o.out, Path) and isinstance(o.calib, Path)
    assert BuildOptions(task="classify", out=tmp_path, target="pi").precision is Precision.fp32
    assert BuildOptions(task="classify", out=tmp_path, target="pi", precision="int8").int8


@pytest.mark.parametrize(("target", "precision", "needle"), [
    ("cpu", "int8", "--target cpu builds fp32, not int8"),
    ("cpu", "fp16", "use --target pi or jetson for fp16"),
    ("pi", "int4", "unknown --precision 'int4'"),
    ("tpu", "fp32", "unknown --target 'tpu'"),
])
def test_precision_is_checked_against_the_table(tmp_path: Path, target: str, precision: str, needle: str) -> None:
    with pytest.raises(EdgeError) as e:
        BuildOptions(task="classify", out=tmp_path, target=target, precision=precision)
    assert needle in f"{e.value.message} ({e.value.hint})"


def test_onnx_only_where_the_table_allows_it(tmp_path: Path) -> None:
    with pytest.raises(EdgeError, match="converts from PyTorch weights"):
        BuildOptions(task="classify", out=tmp_path, target="pi", onnx=tmp_path / "m.onnx")
    assert BuildOptions(task="classify", out=tmp_path, target="jetson", onnx=tmp_path / "m.onnx").onnx is not None


@pytest.mark.parametrize("target", ["pi", "jetson"])
def test_calib_with_fp16_warns_the_same_on_every_target(tmp_path: Path, target: str) -> None:
    o = BuildOptions(task="classify", out=tmp_path, target=target, precision="fp16", calib=tmp_path,
                     eval_data=tmp_path)
    assert o.ignored() == ["--calib is only used for int8; ignored for fp16",
                           "--eval is only used for int8; ignored for fp16"]


@pytest.mark.parametrize(("field", "value"), [("max_drop", -1.0), ("min_agreement", 101.0), ("eval_count", 0)])
def test_gate_limits_are_checked(tmp_path: Path, field: str, value: float) -> None:
    with pytest.raises(EdgeError):
        BuildOptions(task="classify", out=tmp_path, target="pi", **{field: value})


def test_table_builders_import_lazily() -> None:
    for spec in TARGETS.values():
        assert spec.default in spec.precisions
        assert callable(spec.builder()) and spec.builder().__name__ == spec.builder_ref.split(":")[1]


def test_cli_help_comes_from_the_table(cli) -> None:
    out = cli(["build", "--help"], env={"COLUMNS": "200"}).stdout
    for spec in TARGETS.values():
        assert spec.help() in " ".join(out.replace("│", " ").split())
    assert "--min-agreement" in out and "--max-drop" in out
