"""Image -> model input. The single preprocessing function for inference, evaluation and calibration.

Convention: ``Normalization.mean/std`` are in 0..255 pixel units and describe what the graph's
real-valued input expects: ``real = (pixel - mean) / std``. A quantized input tensor then gets
``q = round(real / scale + zero_point)``. Our int8 TFLite models fold the normalisation into the
graph and take int8 pixels shifted by an integer (e.g. mean 128, std 128, scale 1/128, zero point
0: ``q = pixel - 128``); such an integer shift is computed without float maths. Bare quantized
models without a manifest (e.g. Coral's) are fed raw pixels (``Normalization.raw()``), the TFLite convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["Normalization", "InputFormat", "IMAGENET", "resize_rgb", "preprocess", "preprocess_bgr", "to_model_input"]


@dataclass(frozen=True)
class Normalization:
    mean: Tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: Tuple[float, float, float] = (58.395, 57.12, 57.375)
    raw_pixels: bool = False  # feed integer inputs the pixels as they are (no manifest, quantized input)

    @classmethod
    def raw(cls) -> Normalization:
        return cls((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), raw_pixels=True)

    @property
    def is_identity(self) -> bool:
        return all(m == 0 for m in self.mean) and all(s == 1 for s in self.std)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))  # type: ignore[arg-type]


IMAGENET = Normalization()


@dataclass(frozen=True)
class InputFormat:
    """What a model's image input looks like: from the runner's input spec plus the manifest."""

    height: int
    width: int
    layout: str = "NCHW"  # or NHWC
    dtype: str = "float32"
    quant: Optional[Tuple[float, int]] = None

    @classmethod
    def from_shape(cls, shape: Sequence[int], dtype: str, quant: Optional[Tuple[float, int]] = None,
                   layout: Optional[str] = None) -> InputFormat:
        """Infer layout from a 4-D shape (channels = 3 on axis 1 -> NCHW, on axis 3 -> NHWC)."""
        if len(shape) != 4:
            raise ValueError(f"image input must be 4-D, got shape {tuple(shape)}")
        if layout is None:
            layout = "NCHW" if shape[1] == 3 and shape[3] != 3 else "NHWC"
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        return cls(int(h), int(w), layout, str(np.dtype(dtype)), quant)


def resize_rgb(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (cv2.INTER_LINEAR) of an RGB uint8 image; a no-op when the size matches."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def _integer_shift(quant: Tuple[float, int], norm: Normalization) -> Optional[int]:
    """``q = pixel + shift`` when the normalisation and the quantization together are an integer shift."""
    mean, std = set(norm.mean), set(norm.std)
    if len(mean) != 1 or len(std) != 1 or abs(quant[0] * std.pop() - 1.0) > 1e-6:
        return None
    shift = quant[1] - mean.pop()
    return int(shift) if float(shift).is_integer() else None


def to_model_input(resized: np.ndarray, fmt: InputFormat, norm: Normalization) -> np.ndarray:
    """Resized RGB uint8 (H, W, 3) -> batch of one in the model's layout and dtype."""
    dtype = np.dtype(fmt.dtype)
    if np.issubdtype(dtype, np.integer):
        if norm.raw_pixels or fmt.quant is None:
            x = resized if dtype == np.uint8 else (resized.astype(np.int16) - 128).astype(dtype)
        elif norm.is_identity and fmt.quant[0] == 1.0 and fmt.quant[1] == 0 and dtype == np.uint8:
            x = resized  # pixels are the quantized values: no float maths on the device
        elif (shift := _integer_shift(fmt.quant, norm)) is not None and \
                np.iinfo(dtype).min <= shift and 255 + shift <= np.iinfo(dtype).max:
            if shift == -128 and dtype == np.int8:  # our int8 models: pixel - 128 is the top bit flipped
                x = np.bitwise_xor(resized, np.uint8(0x80)).view(np.int8)
            else:
                x = (resized.astype(np.int16) + shift).astype(dtype)
        else:
            real = (resized.astype(np.float32) - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
            info = np.iinfo(dtype)
            q = np.round(real / np.float32(fmt.quant[0]) + fmt.quant[1])
            x = np.clip(q, info.min, info.max).astype(dtype)
    else:
        x = (resized.astype(np.float32) - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
        x = x.astype(dtype, copy=False)
    if fmt.layout == "NCHW":
        x = np.transpose(x, (2, 0, 1))
    return np.ascontiguousarray(x[None])


def _check_image(image: np.ndarray, order: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 {order} image (H, W, 3), got {image.dtype} {image.shape}")


def preprocess(image_rgb: np.ndarray, fmt: InputFormat, norm: Normalization) -> np.ndarray:
    """RGB uint8 image of any size -> model input (resize with INTER_LINEAR, normalise, layout)."""
    _check_image(image_rgb, "RGB")
    return to_model_input(resize_rgb(image_rgb, fmt.height, fmt.width), fmt, norm)


def preprocess_bgr(image_bgr: np.ndarray, fmt: InputFormat, norm: Normalization) -> np.ndarray:
    """BGR uint8 frame (cameras, OpenCV) -> model input: ``preprocess`` of its RGB, exactly, with the
    channels swapped after the resize (resizing is per channel), on the model's pixels, not the frame's."""
    import cv2

    _check_image(image_bgr, "BGR")
    resized = resize_rgb(image_bgr, fmt.height, fmt.width)
    return to_model_input(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), fmt, norm)
