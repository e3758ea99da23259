"""Named weights for ``--weights NAME`` (host side): the built-in models and torchvision's download.

Built in (``edgemnv2/weights/<file>.safetensors`` + ``.json``):

* ``imagenet``: MobileNetV2 1.0@224, 1001 ImageNet classes (Google's labels), TF padding; the default
  for ``classify``. Imported from Google's Coral file by ``scripts/import_defaults.py``.
* ``voc``: DeepLabv3-MobileNetV2 513x513, 21 PASCAL VOC classes; the default for ``segment``.
* ``shapes``: the project's models trained on the synthetic shapes data (all three tasks); the
  default for ``detect`` until real detection weights exist.

``torchvision`` (= ``torchvision-v2``) and ``torchvision-v1``: torchvision's published ImageNet
MobileNetV2 checkpoints (IMAGENET1K_V2 / V1), downloaded once through ``torch.hub`` into its cache
(``$TORCH_HOME/hub/checkpoints``, the cache torchvision itself uses), the file's hash checked against
the prefix in its name. torchvision itself is not needed (it does not install beside every torch).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from .errors import EdgeError
from .models.spec import ArchOptions
from .tasks.base import Task
from .tasks.preprocess import Normalization

__all__ = ["WEIGHTS_DIR", "DEFAULT_NAME", "NAMES", "weights_name", "named_weights", "torchvision_checkpoint",
           "TORCHVISION_URLS", "resolve_init"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = {Task.classify: "imagenet", Task.detect: "shapes", Task.segment: "voc"}
_FILES = {("imagenet", Task.classify): "imagenet_classify", ("voc", Task.segment): "voc_segment",
          **{("shapes", t): f"shapes_{t.value}" for t in Task}}
# torchvision.models.MobileNet_V2_Weights: the URLs torchvision publishes (hash prefix in the name).
TORCHVISION_URLS = {"torchvision-v1": "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
                    "torchvision-v2": "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth"}
NAMES = ("default", "imagenet", "voc", "shapes", "torchvision", *TORCHVISION_URLS)


def weights_name(weights: Optional[os.PathLike | str]) -> Optional[str]:
    """The built-in name ``weights`` stands for, or None for a file path (an existing file wins)."""
    if weights is None:
        return None
    s = str(weights).strip().lower()
    if s in NAMES and not Path(weights).exists():
        return "torchvision-v2" if s == "torchvision" else s
    return None


def named_weights(name: str, task: Task) -> Optional[Dict[str, Any]]:
    """{"path", "name", "width_mult", "resolution", "labels", "arch", ...} of built-in weights.

    ``default`` resolves to the task's default and returns None when its files are missing (then the
    build says loudly that the model is random); any other name that does not exist is an error.
    """
    task = Task(task)
    wanted = DEFAULT_NAME[task] if name == "default" else name
    stem = _FILES.get((wanted, task))
    if stem is None:
        have = sorted({n for n, t in _FILES if t is task})
        raise EdgeError(f"there are no built-in '{wanted}' weights for {task.value}",
                        f"use --weights {' or '.join(have)}, or a weights file")
    meta_path, path = WEIGHTS_DIR / f"{stem}.json", WEIGHTS_DIR / f"{stem}.safetensors"
    if not (meta_path.is_file() and path.is_file()):
        if name == "default":
            return None
        raise EdgeError(f"the built-in '{wanted}' {task.value} weights are missing from {WEIGHTS_DIR}",
                        "reinstall edgemnv2")
    meta = json.loads(meta_path.read_text())
    meta["path"] = path
    meta["weights_name"] = wanted
    return meta


def torchvision_checkpoint(name: str = "torchvision-v2") -> Path:
    """Download (once) torchvision's MobileNetV2 ImageNet checkpoint; returns the cached file.

    ``EDGEMNV2_TORCHVISION_URL`` replaces the URL (a mirror; its file name must keep the
    ``-<sha256 prefix>.`` torch.hub checks).
    """
    import urllib.error

    import torch

    url = os.environ.get("EDGEMNV2_TORCHVISION_URL") or TORCHVISION_URLS[name]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    target = cache / Path(url.split("?")[0]).name
    if target.is_file():
        return target
    match = torch.hub.HASH_REGEX.search(target.name)
    cache.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), match.group(1) if match else None, progress=False)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise EdgeError(f"cannot download torchvision's MobileNetV2 weights from {url} (offline? {reason})",
                        "connect to the internet once (the file is cached), or pass --weights FILE") from None
    except RuntimeError as e:  # torch.hub: hash mismatch (the download is deleted)
        raise EdgeError(f"torchvision's MobileNetV2 weights from {url} failed their check: {str(e)[:120]}",
                        "retry; if it persists the download is corrupted") from None
    return target


_NAME_TASK = {"imagenet": Task.classify, "voc": Task.segment}


def resolve_init(init: str, task: Task, width: float, work: Path) -> Tuple[Path, ArchOptions, Normalization, str]:
    """``train --init``: a checkpoint file, a .tflite (imported into ``work``), or a built-in name.

    Returns (weights file, the architecture options the new model must take, its input normalisation,
    a note). The width of built-in and imported weights is fixed: a different ``width`` is an error.
    """
    from .models.metadata import read_arch, read_metadata
    from .models.weights import save_weights
    from .tasks.preprocess import IMAGENET

    name = weights_name(init)
    if name is not None and name.startswith("torchvision"):
        return _fixed_width(torchvision_checkpoint(name), 1.0, width, name), ArchOptions(), IMAGENET, name
    if name is not None:
        meta = named_weights(name, _NAME_TASK.get(name, Task(task)))
        if meta is None:
            raise EdgeError(f"there are no built-in {task.value} weights", "pass --init FILE")
        norm = Normalization.from_dict(meta["normalization"]) if "normalization" in meta else IMAGENET
        return (_fixed_width(meta["path"], float(meta["width_mult"]), width, name), _keep(meta.get("arch"), task),
                norm, f"built-in '{meta['weights_name']}'")
    if Path(init).suffix.lower() == ".tflite":
        from .tflite_import import import_tflite

        imp = import_tflite(init)
        path = work / "imported.safetensors"
        save_weights(imp.model, path)
        return (_fixed_width(path, imp.width_mult, width, Path(init).name), _keep(imp.arch.to_dict(), task),
                imp.normalization, f"imported {Path(init).name}")
    meta = read_metadata(init)
    norm = Normalization.from_dict(meta["normalization"]) if "normalization" in meta else IMAGENET
    return Path(init), ArchOptions(read_arch(init).padding), norm, Path(init).name


def _keep(arch: Optional[Dict[str, Any]], task: Task) -> ArchOptions:
    """The init's padding mode always carries over; its upsampling only to a segmenter."""
    a = ArchOptions.from_dict(arch)
    return ArchOptions(a.padding, a.align_corners and Task(task) is Task.segment)


def _fixed_width(path: Path, have: float, asked: float, what: str) -> Path:
    if abs(have - asked) > 1e-6:
        raise EdgeError(f"--init {what} is MobileNetV2 width {have:g}, not --width-mult {asked:g}",
                        f"pass --width-mult {have:g}")
    return Path(path)
