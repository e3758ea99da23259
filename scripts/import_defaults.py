#!/usr/bin/env python3
"""Reproduce the built-in ImageNet classifier and PASCAL VOC segmenter from Google's published files.

``python scripts/import_defaults.py [--coral ../shared/data/coral]`` imports
``mobilenet_v2_1.0_224_quant.tflite`` and ``deeplabv3_mnv2_pascal_quant.tflite`` (Google Coral test
data, Apache-2.0) with ``edgemnv2.tflite_import``, checks each against its original on crops of the
shared photos (the agreement the build gate uses), stores the weights as fp16 safetensors when
that keeps the results (same top-1 / masks as the fp32 import), and writes
``edgemnv2/weights/{imagenet_classify,voc_segment}.{safetensors,json}`` with the provenance (source
file and sha256, licence) and the measurements. ``--out DIR`` writes elsewhere (to compare a rerun
with the committed files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgemnv2.fileio import atomic_write_bytes, atomic_write_text, sha256_file  # noqa: E402
from edgemnv2.imageio import read_rgb  # noqa: E402
from edgemnv2.import_check import compare_with_tflite  # noqa: E402
from edgemnv2.labels import read_labels  # noqa: E402
from edgemnv2.tasks.base import Task  # noqa: E402
from edgemnv2.tflite_import import ImportedModel, import_tflite  # noqa: E402

WEIGHTS = ROOT / "edgemnv2" / "weights"
SOURCE_URL = "https://github.com/google-coral/test_data"
MODELS = [  # file, stem, built-in name, labels file, what
    ("mobilenet_v2_1.0_224_quant.tflite", "imagenet_classify", "imagenet", "imagenet_labels.txt",
     "MobileNetV2 1.0@224 ImageNet classifier (1001 classes, Google's labels)"),
    ("deeplabv3_mnv2_pascal_quant.tflite", "voc_segment", "voc", "pascal_voc_segmentation_labels.txt",
     "DeepLabv3-MobileNetV2 OS16 513x513 PASCAL VOC segmenter (21 classes)"),
]
PHOTOS = ("cat.bmp", "grace_hopper.bmp", "bird_segmentation.bmp", "dog_segmentation.bmp", "cat_720p.jpg",
          "pets.jpg", "kite_and_cold.jpg", "face.jpg", "missvickie_potato_chips.bmp")


def crops(coral: Path, count: int, seed: int = 0) -> List[np.ndarray]:
    """Deterministic square crops (and flips) of the shared photos."""
    from edgemnv2.import_check import random_crops

    photos = [read_rgb(coral / n) for n in PHOTOS if (coral / n).is_file()]
    return random_crops(photos, count, np.random.default_rng(seed))


def fp16_state(model: Any) -> Dict[str, Any]:
    """Conv/linear weights in fp16 (BatchNorm tensors, which hold the folded biases, stay fp32)."""
    return {k: (v.half() if k.endswith("weight") and v.ndim >= 2 else v).detach().contiguous()
            for k, v in model.state_dict().items()}


def fp16_parity(imp: ImportedModel, images: List[np.ndarray]) -> Tuple[bool, Dict[str, Any]]:
    """Does the fp16-stored model give the same top-1 / masks as the fp32 import?"""
    import copy

    import torch

    from edgemnv2.tasks.preprocess import resize_rgb

    half = copy.deepcopy(imp.model)
    half.load_state_dict({k: v.float() for k, v in fp16_state(imp.model).items()})
    mean, std = np.asarray(imp.normalization.mean, np.float32), np.asarray(imp.normalization.std, np.float32)
    worst, same = 0.0, []
    for img in images:
        px = (resize_rgb(img, imp.resolution, imp.resolution).astype(np.float32) - mean) / std
        x = torch.from_numpy(np.ascontiguousarray(px.transpose(2, 0, 1)[None]))
        with torch.no_grad():
            a, b = imp.model(x)[0].numpy(), half(x)[0].numpy()
        worst = max(worst, float(np.abs(a - b).max()))
        same.append(float(np.mean(np.argmax(a, axis=0) == np.argmax(b, axis=0))))
    ok = min(same) >= (1.0 if imp.task is Task.classify else 0.999)
    return ok, {"images": len(images), "max_abs_diff_logits": worst, "min_argmax_agreement": min(same)}


def import_one(coral: Path, file: str, stem: str, name: str, labels_file: str, what: str, count: int,
               out: Path = WEIGHTS) -> None:
    from safetensors.torch import save

    from edgemnv2.models.metadata import weights_metadata

    src = coral / file
    imp = import_tflite(src)
    labels = read_labels(coral / labels_file)[:imp.num_classes]
    images = crops(coral, count)
    check = compare_with_tflite(imp, src, images, threads=1)
    check["images_from"] = f"{count} crops of the shared photos ({', '.join(PHOTOS)}), seed 0"
    ok16, parity = fp16_parity(imp, images[:20 if imp.task is Task.classify else 3])
    state = fp16_state(imp.model) if ok16 else {k: v.contiguous() for k, v in imp.model.state_dict().items()}
    provenance = {"file": file, "sha256": sha256_file(src), "url": SOURCE_URL, "license": "Apache-2.0",
                  "notice": "edgemnv2/weights/NOTICE"}
    meta = {
        "name": f"{name}_{stem.split('_')[-1]}_mnv2_{imp.width_mult:g}_{imp.resolution}", "task": imp.task.value,
        "description": what, "weights_name": name,
        "architecture": {"classify": "mobilenet_v2", "segment": "deeplabv3_mobilenet_v2_os16_no_aspp"}[
            imp.task.value],
        "width_mult": imp.width_mult, "resolution": imp.resolution, "num_classes": imp.num_classes,
        "labels": labels, "normalization": imp.normalization.to_dict(), "arch": imp.arch.to_dict(),
        "license": "Apache-2.0", "imported_from": provenance,
        "storage": "fp16 conv/linear weights, fp32 BatchNorm" if ok16 else "fp32", "fp16_parity": parity,
        "import_check": check, "recipe": "python scripts/import_defaults.py",
    }
    body = save(state, metadata=weights_metadata(imp.model, name=meta["name"], task=imp.task.value,
                                                 width_mult=imp.width_mult, resolution=imp.resolution,
                                                 num_classes=imp.num_classes,
                                                 normalization=imp.normalization.to_dict(), source=provenance))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{stem}.safetensors", body)
    atomic_write_text(out / f"{stem}.json", json.dumps(meta, indent=2) + "\n")
    key = "top1_agreement" if imp.task is Task.classify else "mask_miou"
    print(f"{stem}: {what}; {key} {check[key]:.3f} on {count} crops; stored {meta['storage']} "
          f"({(out / f'{stem}.safetensors').stat().st_size / 2**20:.1f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coral", type=Path, default=ROOT.parent / "shared" / "data" / "coral")
    ap.add_argument("--count", type=int, default=300, help="crops to check the classifier on (segmenter: 12)")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help=f"where to write (default {WEIGHTS})")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # deterministic reductions
    for file, stem, name, labels, what in MODELS:
        import_one(a.coral, file, stem, name, labels, what, a.count if stem.endswith("classify") else 12, a.out)


if __name__ == "__main__":
    main()
