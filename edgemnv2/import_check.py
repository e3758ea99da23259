"""Agreement of an imported model with the .tflite file it came from (host side), gating the import.

Both run on the same resized RGB images: the original file in LiteRT (its own input dtype and
quantization), the imported model in PyTorch (float). Recorded: top-1 agreement (classify), mask
mIoU between the two (segment), max |Δ| of the dequantized outputs, and where the images came from.
An import fails below top-1 agreement 99% (float source) / 93% (int8 source: its activations are
quantized, ours are float) or mask mIoU 0.90.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import EdgeError
from .tasks.base import Task
from .tasks.preprocess import resize_rgb

__all__ = ["check_import", "compare_with_tflite", "builtin_images", "random_crops", "BARS"]

BARS = {"top1_float": 0.99, "top1_int8": 0.93, "miou": 0.90}
DEFAULT_COUNT = {Task.classify: 100, Task.segment: 8}


_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                   "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png")


def builtin_images(task: Task, count: int, seed: int = 0) -> Tuple[List[np.ndarray], str]:
    """A deterministic built-in image set: random square crops (and flips) of the colour photos bundled
    with scikit-image (a host dependency); synthetic scenes when it is missing."""
    try:
        import skimage

        from .imageio import read_rgb

        base = Path(skimage.__file__).parent / "data"
        photos = [read_rgb(base / n) for n in _SKIMAGE_PHOTOS if (base / n).is_file()]
    except ImportError:
        photos = []
    if not photos:
        from .data.synthetic import render_scene

        kind = Task.detect if task is Task.classify else task  # several objects per scene
        return [render_scene(np.random.default_rng([seed, 12, i]), 256, kind).image for i in range(count)], \
            "built-in synthetic scenes"
    out = random_crops(photos, count, np.random.default_rng([seed, 12]))
    return out, f"built-in: {count} crops of scikit-image's {len(photos)} sample photos (seed {seed})"


def random_crops(photos: List[np.ndarray], count: int, rng: np.random.Generator) -> List[np.ndarray]:
    """``count`` square crops (half to all of the shorter side) of ``photos`` in turn, half of them mirrored."""
    out = []
    for i in range(count):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.5, 1.0) * min(h, w))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img[y:y + side, x:x + side]
        out.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return out


def _folder_images(folder: Path, count: int) -> List[np.ndarray]:
    from .imageio import list_images, read_rgb

    paths = list_images(folder)[:count]
    if not paths:
        raise EdgeError(f"no images in {folder} to check the import on", "pass a folder of photos")
    return [read_rgb(p) for p in paths]


def _feed(imp: Any, pixels: np.ndarray, dtype: str) -> np.ndarray:
    """Resized RGB uint8 -> the original file's input tensor."""
    if dtype == "uint8":
        return pixels[None]
    if dtype == "int8":
        return (pixels.astype(np.int16) - 128).astype(np.int8)[None]
    x = pixels.astype(np.float32)
    if imp.feed_normalized:
        x = (x - np.asarray(imp.normalization.mean, np.float32)) / np.asarray(imp.normalization.std, np.float32)
    return x[None]


def _ours(model: Any, imp: Any, pixels: np.ndarray) -> np.ndarray:
    import torch

    x = (pixels.astype(np.float32) - np.asarray(imp.normalization.mean, np.float32)) / \
        np.asarray(imp.normalization.std, np.float32)
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))).numpy()[0]


def _dequant(raw: np.ndarray, quant: Optional[Tuple[float, int]]) -> np.ndarray:
    if quant is None or quant[0] == 0:
        return raw.astype(np.float64)
    return (raw.astype(np.float64) - quant[1]) * quant[0]


def compare_with_tflite(imp: Any, path: Path, images: List[np.ndarray], threads: Optional[int] = None
                        ) -> Dict[str, Any]:
    """Run both on ``images``; returns the agreement numbers (no gate)."""
    from .metrics import miou
    from .targets.pi.runner import TFLiteRunner

    r = imp.resolution
    agree, top5, worst = 0, 0, 0.0
    ours_masks, theirs_masks = [], []
    with TFLiteRunner(path, threads=threads) as runner:
        ispec, ospec = runner.input_specs()[0], runner.output_specs()[0]
        for img in images:
            px = resize_rgb(img, r, r)
            theirs = _dequant(runner.infer({ispec.name: _feed(imp, px, ispec.dtype)})[ospec.name], ospec.quant)[0]
            ours = _ours(imp.model, imp, px).astype(np.float64)
            if imp.task is Task.classify:
                if imp.output_kind == "probabilities":
                    e = np.exp(ours - ours.max())
                    ours = e / e.sum()
                agree += int(np.argmax(theirs) == np.argmax(ours))
                top5 += int(np.argmax(theirs) in np.argsort(-ours)[:5])
                worst = max(worst, float(np.abs(theirs - ours).max()))
                continue
            ours_masks.append(np.argmax(ours, axis=0))
            if imp.output_kind == "mask":
                theirs_masks.append(theirs.astype(np.int64))
            else:  # NHWC logits
                theirs_masks.append(np.argmax(theirs, axis=-1))
                worst = max(worst, float(np.abs(theirs - ours.transpose(1, 2, 0)).max()))
    n = len(images)
    if imp.task is Task.classify:
        return {"images": n, "top1_agreement": agree / n, "original_top1_in_our_top5": top5 / n,
                "max_abs_diff": worst, "compared": imp.output_kind}
    pixels = float(np.mean([np.mean(a == b) for a, b in zip(ours_masks, theirs_masks)]))
    return {"images": n, "mask_miou": miou(ours_masks, theirs_masks, imp.num_classes), "pixel_agreement": pixels,
            "max_abs_diff": worst if imp.output_kind != "mask" else None, "compared": imp.output_kind}


def check_import(imp: Any, path: Path, opts: Any) -> Dict[str, Any]:
    """Agreement on ``opts.check_images`` (a folder), else ``--calib``, else the built-in set; gated."""
    count = DEFAULT_COUNT[imp.task]
    folder = getattr(opts, "check_images", None) or getattr(opts, "calib", None)
    if folder:
        images, source = _folder_images(Path(folder), count), str(folder)
    else:
        images, source = builtin_images(imp.task, count, seed=getattr(opts, "seed", 0))
    report = compare_with_tflite(imp, path, images, getattr(opts, "threads", None))
    report["images_from"] = source
    report["source_quantized"] = bool(imp.quantized)
    if imp.task is Task.classify:
        bar = BARS["top1_int8" if imp.quantized else "top1_float"]
        got, what = report["top1_agreement"], "top-1 agreement"
    else:
        bar, got, what = BARS["miou"], report["mask_miou"], "mask mIoU"
    report.update(metric=what, bar=bar, passed=got >= bar)
    report["summary"] = f"{what} with the original {got:.1%} on {report['images']} images (bar {bar:.0%})"
    if got < bar:
        raise EdgeError(f"import check failed: {report['summary']} ({source}); nothing was written",
                        "check with your own photos (--check-images DIR); if it persists, report it with the file")
    return report
