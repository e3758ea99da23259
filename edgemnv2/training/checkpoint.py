"""Training checkpoints: ``<out>.ckpt`` written atomically after every epoch, read back by ``--resume``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Dict, List

from ..errors import EdgeError

__all__ = ["checkpoint_path", "save_checkpoint", "load_checkpoint", "SAME_RUN"]


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def save_checkpoint(path: Path, model: Any, opt: Any, sched: Any, epoch: int, step: int, config: Dict[str, Any],
                     history: List[Dict[str, float]]) -> None:
    import torch

    from ..fileio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch, "step": step, "config": json.dumps(config), "history": json.dumps(history)},
               buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> Dict[str, Any]:
    import torch

    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgeError(f"cannot read checkpoint {path}: {str(e).splitlines()[0][:160]}",
                        "delete it to start over, or run without --resume") from None
    if not isinstance(ck, dict) or "model" not in ck or "epoch" not in ck:
        raise EdgeError(f"{path} is not an edgemnv2 training checkpoint", "run without --resume")
    return ck


SAME_RUN = ("task", "width_mult", "resolution", "batch_size", "lr", "seed", "epochs")
