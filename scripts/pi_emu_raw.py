"""Raw model outputs for the emulated Pi lane, through the documented runner API (``TFLiteRunner``).

    python pi_emu_raw.py inputs MODEL OUT.npy IMAGE...   # host: images -> the model's input tensors
    python pi_emu_raw.py outputs MODEL IN.npy OUT.npz    # x86 and aarch64: the same tensors -> outputs

The input tensors are made once on the host (resized with OpenCV there), so the x86 / aarch64 comparison
of outputs is about the runtimes' kernels alone.
"""

from __future__ import annotations

import sys

import numpy as np

from edgemnv2.targets.pi.runner import TFLiteRunner


def inputs(model: str, out: str, images: list) -> None:
    import cv2

    with TFLiteRunner(model) as r:
        (spec,) = r.input_specs()
    h, w = spec.shape[1:3]
    rgb = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in images]
    np.save(out, np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) for x in rgb]).astype(spec.dtype))


def outputs(model: str, inp: str, out: str) -> None:
    x = np.load(inp)
    res = {}
    with TFLiteRunner(model) as r:
        (spec,) = r.input_specs()
        for i, img in enumerate(x):
            for name, v in r.infer({spec.name: img[None]}).items():
                res[f"{i}/{name}"] = np.asarray(v)
    np.savez(out, **res)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "inputs":
        inputs(rest[0], rest[1], rest[2:])
    else:
        outputs(*rest)
