"""The bundle: the one artifact every command consumes.

A directory holding ``manifest.json``, the model file(s) and ``labels.txt``. The manifest records
the task, labels, input format (size, layout, colour order, normalisation or input quantisation),
outputs, precision, target, hashes of the source weights and of every file, tool and library
versions and the creation time. ``load_bundle`` validates it (schema version, required keys,
missing files, hash mismatches, paths escaping the bundle) and fails with one clear line.
Documented in docs/bundle.md. Device side: standard library + numpy only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import __version__
from .errors import EdgeError
from .fileio import BUNDLE_KIND, BUNDLE_MANIFEST, atomic_write_text, sha256_file
from .labels import class_count, read_labels
from .sysinfo import now_iso
from .tasks.base import Task
from .tasks.preprocess import Normalization

__all__ = ["SCHEMA_VERSION", "MANIFEST", "Bundle", "load_bundle", "write_manifest", "check_model_matches"]

SCHEMA_VERSION = 1
MANIFEST = BUNDLE_MANIFEST
KIND = BUNDLE_KIND
_REQUIRED = ("schema_version", "task", "target", "precision", "model", "input", "outputs", "files")


def _safe_path(root: Path, rel: str) -> Path:
    if os.path.isabs(rel) or rel.startswith(("/", "\\")):
        raise EdgeError(f"bundle {root}: file path '{rel}' is absolute", "rebuild the bundle with edgemnv2 build")
    full = (root / rel).resolve()
    if root.resolve() not in full.parents and full != root.resolve():
        raise EdgeError(f"bundle {root}: file path '{rel}' escapes the bundle directory",
                        "rebuild the bundle with edgemnv2 build")
    return full


@dataclass
class Bundle:
    """A validated bundle on disk."""

    root: Path
    manifest: Dict[str, Any]
    labels: Optional[List[str]] = field(default=None)

    @property
    def task(self) -> Task:
        return Task(self.manifest["task"])

    @property
    def target(self) -> str:
        return str(self.manifest["target"])

    @property
    def precision(self) -> str:
        return str(self.manifest["precision"])

    @property
    def model_path(self) -> Path:
        return _safe_path(self.root, self.manifest["model"]["file"])

    @property
    def model_format(self) -> str:
        return str(self.manifest["model"]["format"])

    @property
    def normalization(self) -> Normalization:
        inp = self.manifest["input"]
        return Normalization.from_dict(inp) if "mean" in inp else Normalization()

    @property
    def input(self) -> Dict[str, Any]:
        return self.manifest["input"]

    @property
    def outputs(self) -> List[Dict[str, Any]]:
        return list(self.manifest["outputs"])

    def path(self, rel: str) -> Path:
        return _safe_path(self.root, rel)


def write_manifest(root: str | os.PathLike, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Fill in the bookkeeping fields (schema, kind, file hashes, versions, time) and write manifest.json.

    ``manifest["files"]`` may list extra file names; the model file and labels file are added.
    """
    root = Path(root)
    manifest = dict(manifest)
    manifest.setdefault("schema_version", SCHEMA_VERSION)
    manifest.setdefault("kind", KIND)
    manifest.setdefault("created", now_iso())
    files = set(manifest.get("files") or {})
    pending = bool(manifest["model"].get("pending"))  # a Jetson bundle built without TensorRT: no engine yet
    if not pending:
        files.add(manifest["model"]["file"])
    if manifest.get("labels_file"):
        files.add(manifest["labels_file"])
    hashes = {}
    for rel in sorted(files):
        p = _safe_path(root, rel)
        if not p.is_file():
            raise EdgeError(f"bundle {root}: listed file {rel} is missing", "this is a bug in the builder")
        hashes[rel] = sha256_file(p)
    manifest["files"] = hashes
    if not pending:
        manifest["model"] = dict(manifest["model"], sha256=hashes[manifest["model"]["file"]])
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


def _number_list(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _check_fields(mpath: Path, m: Dict[str, Any], rebuild: str) -> None:
    """The fields the device reads must have the right types (a hand-edited manifest fails here, clearly)."""
    inp = m["input"]
    if not isinstance(inp, dict):
        raise EdgeError(f"{mpath}: 'input' must be an object", rebuild)
    if "shape" in inp and not _number_list(inp["shape"], len(inp["shape"]) if isinstance(inp["shape"], list) else -1):
        raise EdgeError(f"{mpath}: input.shape must be a list of integers", rebuild)
    for key in ("mean", "std"):
        if key in inp and not _number_list(inp[key], 3):
            raise EdgeError(f"{mpath}: input.{key} must be 3 numbers (R, G, B in 0..255 pixel units)", rebuild)
    if "std" in inp and any(v <= 0 for v in inp["std"]):
        raise EdgeError(f"{mpath}: input.std must be positive, got {inp['std']}", rebuild)
    if inp.get("layout") not in (None, "NCHW", "NHWC"):
        raise EdgeError(f"{mpath}: input.layout must be NCHW or NHWC, not {inp.get('layout')!r}", rebuild)
    if not isinstance(m["outputs"], list) or not all(isinstance(o, dict) and "name" in o for o in m["outputs"]):
        raise EdgeError(f"{mpath}: 'outputs' must be a list of objects with a name", rebuild)
    post = m.get("postprocess") or {}
    if not isinstance(post, dict):
        raise EdgeError(f"{mpath}: 'postprocess' must be an object", rebuild)
    for key in ("score_threshold", "iou_threshold"):
        v = post.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1):
            raise EdgeError(f"{mpath}: postprocess.{key} must be a number in 0..1, not {v!r}", rebuild)


def load_bundle(path: str | os.PathLike, verify_hashes: bool = True) -> Bundle:
    """Read and validate a bundle directory; raise EdgeError with one clear line on any problem."""
    root = Path(path)
    rebuild = "rebuild it with edgemnv2 build"
    if not root.exists():
        raise EdgeError(f"bundle {root} does not exist", "pass a directory made by edgemnv2 build")
    if not root.is_dir():
        raise EdgeError(f"bundle {root} is not a directory", "pass the directory made by edgemnv2 build, "
                        "or use --model FILE for a bare model file")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise EdgeError(f"{root} has no {MANIFEST}, so it is not a bundle", "pass a directory made by edgemnv2 build")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgeError(f"{mpath} is not valid JSON: {e}", rebuild) from None
    if not isinstance(manifest, dict):
        raise EdgeError(f"{mpath} does not hold a JSON object", rebuild)
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EdgeError(f"{mpath} has schema version {version!r}; this edgemnv2 ({__version__}) reads version "
                        f"{SCHEMA_VERSION}", "rebuild the bundle with this version of edgemnv2, or upgrade edgemnv2")
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        raise EdgeError(f"{mpath} lacks required key '{missing[0]}'", rebuild)
    try:
        Task(manifest["task"])
    except ValueError:
        raise EdgeError(f"{mpath}: unknown task {manifest['task']!r}", rebuild) from None
    if not isinstance(manifest["files"], dict) or not isinstance(manifest["model"], dict) \
            or "file" not in manifest["model"]:
        raise EdgeError(f"{mpath}: 'files' or 'model' is malformed", rebuild)
    _check_fields(mpath, manifest, rebuild)
    for rel, digest in manifest["files"].items():
        p = _safe_path(root, rel)
        if not p.is_file():
            raise EdgeError(f"bundle {root} is missing {rel}", rebuild)
        if not isinstance(digest, str) or len(digest) != 64:
            raise EdgeError(f"bundle {root}: {rel} has no valid sha256 in the manifest", rebuild)
        if verify_hashes and sha256_file(p) != digest:
            raise EdgeError(f"bundle {root}: {rel} does not match its hash in the manifest (modified or corrupt)",
                            rebuild)
    model_file = manifest["model"]["file"]
    if model_file not in manifest["files"]:
        # A Jetson bundle built on a host has no engine yet; the ONNX it will be built from is listed.
        if not manifest["model"].get("pending"):
            raise EdgeError(f"bundle {root}: model file {model_file} is not listed in the manifest", rebuild)
    labels = None
    if manifest.get("labels_file"):
        labels = read_labels(_safe_path(root, manifest["labels_file"]))
        n = manifest.get("num_classes")
        if isinstance(n, int) and len(labels) != n:
            raise EdgeError(f"bundle {root}: {manifest['labels_file']} has {len(labels)} labels but the manifest "
                            f"says {n} classes", rebuild)
    return Bundle(root, manifest, labels)


def check_model_matches(manifest: Dict[str, Any], name: str, input_shape: Sequence[int],
                        output_shapes: Sequence[Sequence[int]]) -> None:
    """The model file must be the one the manifest describes: its input size and its class count."""
    hint = "rebuild the bundle with edgemnv2 build (the model file and manifest.json do not belong together)"
    recorded = (manifest.get("input") or {}).get("shape")
    if isinstance(recorded, list) and len(recorded) == len(input_shape) and any(
            d >= 0 and d != r for d, r in zip(input_shape, recorded)):
        raise EdgeError(f"{name} takes input {list(input_shape)} but the manifest says {recorded}", hint)
    n = manifest.get("num_classes")
    outs = manifest.get("outputs") or [{}]
    got = class_count(Task(manifest["task"]), output_shapes, outs[0].get("layout") if len(outs) == 1 else None)
    if isinstance(n, int) and got is not None and got != n:
        raise EdgeError(f"{name} outputs {got} classes but the manifest says {n}", hint)
