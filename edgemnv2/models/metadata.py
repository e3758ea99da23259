"""Architecture facts saved with weights (safetensors metadata), so a checkpoint rebuilds its own model.

``save_weights(model, path, metadata=weights_metadata(model, ...))`` stores them under the key
``edgemnv2`` as JSON; ``read_arch(path)`` gives back the ``ArchOptions`` (padding mode, segmentation
upsampling). Files without them (older checkpoints, torchvision's) are ``ArchOptions()``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from .spec import ArchOptions

__all__ = ["read_metadata", "read_arch", "weights_metadata"]

KEY = "edgemnv2"


def read_metadata(path: str | os.PathLike) -> Dict[str, Any]:
    """The ``edgemnv2`` metadata of a safetensors file ({} for other formats or when absent)."""
    if Path(path).suffix != ".safetensors" or not Path(path).is_file():
        return {}
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        value = json.loads(meta.get(KEY, "{}"))
    except Exception:  # unreadable files fail later, in read_state_dict, with a one-line error
        return {}
    return value if isinstance(value, dict) else {}


def read_arch(path: str | os.PathLike) -> ArchOptions:
    from ..errors import EdgeError

    try:
        return ArchOptions.from_dict(read_metadata(path).get("arch"))
    except ValueError as e:
        raise EdgeError(f"{Path(path).name} records an unknown architecture option ({e})",
                        "it was written by a newer edgemnv2: upgrade") from None


def weights_metadata(model: Any, **facts: Any) -> Dict[str, str]:
    """safetensors metadata for ``model``: the given facts plus its ``ArchOptions``."""
    arch = getattr(model, "arch", None) or ArchOptions()
    return {KEY: json.dumps(dict(facts, arch=arch.to_dict()))}
