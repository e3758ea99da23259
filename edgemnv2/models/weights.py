"""Loading checkpoints safely: safetensors, or a state dict via ``torch.load(weights_only=True)``.

Never unpickles arbitrary objects. A torchvision ``mobilenet_v2`` state dict (``features.N...``,
``classifier.1...``) loads into the classifier unchanged, and its ``features`` into the detection
and segmentation backbones. Mismatches name the first offending tensor and both shapes.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping

import torch
from torch import nn

from ..errors import EdgeError

__all__ = ["read_state_dict", "load_weights", "save_weights"]

_HINT = "pass a .safetensors file or a PyTorch state dict (.pt/.pth) saved with torch.save(model.state_dict())"


def read_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat {name: tensor} dict, with one-line errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise EdgeError(f"weights file {path} does not exist", "check the --weights path")
    if path.is_dir():
        raise EdgeError(f"weights path {path} is a directory, not a file", "point --weights at the checkpoint file")
    if path.stat().st_size == 0:
        raise EdgeError(f"weights file {path} is empty", _HINT)
    if path.suffix == ".onnx":
        raise EdgeError(f"{path} is an ONNX model, not PyTorch weights", "pass it with --onnx (or --model) instead")
    with open(path, "rb") as f:
        head = f.read(8)
    if path.suffix == ".safetensors" or (len(head) == 8 and not head.startswith(b"PK") and
                                         int.from_bytes(head, "little") < path.stat().st_size):
        try:
            from safetensors.torch import load_file

            sd = load_file(str(path))
        except Exception as e:  # safetensors raises its own SafetensorError / OSError
            if path.suffix == ".safetensors":
                raise EdgeError(f"cannot read safetensors file {path}: {str(e).splitlines()[0]}", _HINT) from None
        else:
            return dict(sd)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as e:
        raise EdgeError(f"cannot read weights file {path}: corrupt or not a PyTorch checkpoint ({_reason(e)})",
                        _HINT) from None
    except Exception as e:  # pickle.UnpicklingError for objects that weights_only refuses
        raise EdgeError(f"refusing to unpickle {path}: it holds objects other than tensors ({_reason(e)})",
                        _HINT) from None
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeError(f"{path} is not a state dict (expected a mapping of names to tensors, got "
                        f"{type(obj).__name__})", _HINT)
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _reason(e: Exception, limit: int = 200) -> str:
    """The informative part of a torch.load error in whole sentences (never cut mid-word)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    marker = "WeightsUnpickler error:"  # torch's weights_only refusal: the reason follows its boilerplate
    if marker in text:
        text = text.split(marker, 1)[1]
    text = " ".join(text.split())
    if not text:
        return type(e).__name__
    out = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out.rstrip(".")


def _adapt_prefixes(sd: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Map a torchvision classifier's ``features.*`` onto a detector/segmenter ``backbone.*``."""
    target = model.state_dict()
    if any(k.startswith("backbone.") for k in target) and not any(k.startswith("backbone.") for k in sd):
        return {("backbone." + k[len("features."):]): v for k, v in sd.items() if k.startswith("features.")}
    return sd


def load_weights(model: nn.Module, path: str | os.PathLike, backbone_only: bool = False) -> Dict[str, int]:
    """Load ``path`` into ``model`` strictly; with ``backbone_only`` the head may differ (fine-tuning).

    Returns {"loaded": n, "skipped": m, "notes": [dtype conversions]}. Raises EdgeError naming the first
    mismatching tensor, the first holding NaN/Inf, or one of another kind (integer vs float).
    """
    sd = _adapt_prefixes(read_state_dict(path), model)
    target = model.state_dict()
    skipped = 0
    for name, tensor in target.items():
        if name not in sd:
            if backbone_only and not name.startswith(("features.", "backbone.")):
                skipped += 1
                continue
            raise EdgeError(f"checkpoint {Path(path).name} has no tensor '{name}' (model expects shape "
                            f"{tuple(tensor.shape)})", "check the task, --width-mult and --num-classes")
        if tuple(sd[name].shape) != tuple(tensor.shape):
            if backbone_only and not name.startswith(("features.", "backbone.")):
                skipped += 1
                continue
            raise EdgeError(f"tensor '{name}' has shape {tuple(sd[name].shape)} in the checkpoint but "
                            f"{tuple(tensor.shape)} in the model", "check --width-mult, --num-classes and the task")
    extra = [k for k in sd if k not in target]
    if extra and not backbone_only:
        raise EdgeError(f"checkpoint {Path(path).name} has unexpected tensor '{extra[0]}' "
                        f"(shape {tuple(sd[extra[0]].shape)}) that the model does not have",
                        "check the task and --width-mult")
    usable = {k: v for k, v in sd.items() if k in target and tuple(v.shape) == tuple(target[k].shape)}
    notes = _check_values(usable, target, Path(path).name)
    model.load_state_dict(usable, strict=not backbone_only)
    return {"loaded": len(usable), "skipped": skipped, "notes": notes}


def _check_values(sd: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], name: str) -> List[str]:
    """Refuse NaN/Inf and tensors of another kind (integer vs float); a float precision change is a note."""
    cast: Dict[str, str] = {}
    for key, t in sd.items():
        want = target[key].dtype
        if t.dtype.is_floating_point != want.is_floating_point or t.dtype.is_complex:
            raise EdgeError(f"checkpoint {name}: tensor '{key}' is {str(t.dtype).removeprefix('torch.')} but the "
                            f"model's is {str(want).removeprefix('torch.')}", "save the checkpoint's float "
                            "parameters as floats (torch.save(model.state_dict()))")
        if t.dtype.is_floating_point:
            bad = int(t.numel() - torch.isfinite(t).sum())
            if bad:
                raise EdgeError(f"checkpoint {name}: tensor '{key}' holds NaN/Inf ({bad} of {t.numel()} values)",
                                "the checkpoint is corrupt or training diverged; use an earlier checkpoint")
        if t.dtype != want:
            cast.setdefault(str(t.dtype).removeprefix("torch."), key)
    return [f"checkpoint {name}: {dtype} tensors (e.g. '{key}') are converted to the model's float32"
            for dtype, key in cast.items()]


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: Dict[str, str] | None = None) -> None:
    """Save a state dict as safetensors (atomically)."""
    from safetensors.torch import save

    from ..fileio import atomic_write_bytes

    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(sd, metadata=metadata))
