"""Detection: SSD anchors, per-class NMS, boxes in pixels, drawing (numpy + OpenCV only).

The exported SSDLite graph already decodes boxes (normalised x1, y1, x2, y2) and applies softmax
(class 0 = background); ``decode_boxes`` here is the numpy twin of the in-graph decode, used by
training targets and tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Detection", "BOX_SCALES", "feature_map_sizes", "anchors_per_location", "ssd_anchors",
           "decode_boxes", "encode_boxes", "box_iou", "nms", "batched_nms", "postprocess", "draw", "to_xyxy",
           "from_ssd"]

# TF faster-rcnn box coder scale factors, in (x, y, w, h) order.
BOX_SCALES = (10.0, 10.0, 5.0, 5.0)
NUM_FEATURE_MAPS = 6
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)


@dataclass(frozen=True)
class Detection:
    index: int
    label: str
    score: float
    box: Tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the input image

    def to_dict(self) -> dict:
        return {"label": self.label, "index": self.index, "score": self.score,
                "box": [round(float(v), 2) for v in self.box]}


def feature_map_sizes(resolution: int) -> List[int]:
    """Square feature map sizes of the six SSDLite maps for a square input (stride 16, 32, then /2)."""
    sizes = [math.ceil(resolution / 16), math.ceil(resolution / 32)]
    while len(sizes) < NUM_FEATURE_MAPS:
        sizes.append((sizes[-1] - 1) // 2 + 1)  # 3x3, stride 2, padding 1
    return sizes


def _box_specs(layer: int) -> List[Tuple[float, float]]:
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (NUM_FEATURE_MAPS - 1) for i in range(NUM_FEATURE_MAPS)]
    scales.append(1.0)
    if layer == 0:  # reduce_boxes_in_lowest_layer
        return [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
    specs = [(scales[layer], ar) for ar in ASPECT_RATIOS]
    specs.append((math.sqrt(scales[layer] * scales[layer + 1]), 1.0))
    return specs


def anchors_per_location() -> List[int]:
    return [len(_box_specs(i)) for i in range(NUM_FEATURE_MAPS)]


def ssd_anchors(sizes: Sequence[int]) -> np.ndarray:
    """TF ssd_anchor_generator defaults -> (A, 4) anchors (cx, cy, w, h), normalised, in (y, x, anchor) order."""
    out = []
    for layer, size in enumerate(sizes):
        specs = _box_specs(layer)
        wh = np.array([(s * math.sqrt(ar), s / math.sqrt(ar)) for s, ar in specs], dtype=np.float64)
        centers = (np.arange(size, dtype=np.float64) + 0.5) / size
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        grid = np.stack([cx, cy], -1).reshape(-1, 1, 2)
        grid = np.broadcast_to(grid, (size * size, len(specs), 2))
        whs = np.broadcast_to(wh[None], (size * size, len(specs), 2))
        out.append(np.concatenate([grid, whs], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(regs: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Regressions (..., A, 4) -> normalised xyxy clipped to [0, 1] (numpy twin of the graph's decode)."""
    sx, sy, sw, sh = BOX_SCALES
    cx = regs[..., 0] / sx * anchors[:, 2] + anchors[:, 0]
    cy = regs[..., 1] / sy * anchors[:, 3] + anchors[:, 1]
    w = np.exp(np.minimum(regs[..., 2] / sw, math.log(1000.0 / 16))) * anchors[:, 2]
    h = np.exp(np.minimum(regs[..., 3] / sh, math.log(1000.0 / 16))) * anchors[:, 3]
    return np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1), 0.0, 1.0)


def encode_boxes(boxes_xyxy: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Normalised xyxy boxes matched to ``anchors`` -> regression targets (inverse of decode)."""
    w = np.maximum(boxes_xyxy[..., 2] - boxes_xyxy[..., 0], 1e-6)
    h = np.maximum(boxes_xyxy[..., 3] - boxes_xyxy[..., 1], 1e-6)
    cx = boxes_xyxy[..., 0] + w / 2
    cy = boxes_xyxy[..., 1] + h / 2
    sx, sy, sw, sh = BOX_SCALES
    return np.stack([(cx - anchors[:, 0]) / anchors[:, 2] * sx, (cy - anchors[:, 1]) / anchors[:, 3] * sy,
                     np.log(w / anchors[:, 2]) * sw, np.log(h / anchors[:, 3]) * sh], -1).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (N, 4) x (M, 4) -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; returns kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Per-class NMS in one pass: boxes of different classes are offset so they never overlap."""
    if boxes.size == 0:
        return np.zeros((0,), np.int64)
    offsets = classes.astype(np.float32)[:, None] * (float(boxes.max()) + 1.0)
    return nms(boxes + offsets, scores, iou_threshold)


def postprocess(boxes: np.ndarray, scores: np.ndarray, image_size: Tuple[int, int],
                labels: Optional[Sequence[str]] = None, score_threshold: float = 0.3,
                iou_threshold: float = 0.45, max_detections: int = 100, pre_nms_top_k: int = 1000,
                background: bool = True) -> List[Detection]:
    """One image's decoded boxes (A, 4) normalised xyxy and scores (A, C) -> detections in pixels.

    ``image_size`` is (height, width) of the original image; class 0 is background when ``background``.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(boxes.shape[0], -1)
    first = 1 if background else 0
    cls_scores = scores[:, first:]
    anchor_idx, cls_idx = np.nonzero(cls_scores > score_threshold)
    conf = cls_scores[anchor_idx, cls_idx]
    if conf.size > pre_nms_top_k:
        top = np.argpartition(-conf, pre_nms_top_k - 1)[:pre_nms_top_k]
        anchor_idx, cls_idx, conf = anchor_idx[top], cls_idx[top], conf[top]
    cand = boxes[anchor_idx]
    keep = batched_nms(cand, conf, cls_idx, iou_threshold)[:max_detections]
    h, w = image_size
    scale = np.array([w, h, w, h], np.float32)
    out = []
    for k in keep:
        index = int(cls_idx[k]) + first
        label = labels[index] if labels and index < len(labels) else str(index)
        box = cand[k] * scale
        out.append(Detection(index, label, float(conf[k]), tuple(float(v) for v in box)))  # type: ignore[arg-type]
    return out


def _colour(index: int) -> Tuple[int, int, int]:
    rng = np.random.default_rng(index * 7919 + 17)
    return tuple(int(v) for v in rng.integers(64, 256, 3))  # type: ignore[return-value]


def draw(frame_bgr: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """Draw boxes and labels onto the frame (in place) and return it."""
    import cv2

    for d in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        colour = _colour(d.index)
        cv2.rectangle(frame_bgr, (x1, y1), (x2, y2), colour, 2)
        text = f"{d.label} {d.score:.2f}"
        cv2.putText(frame_bgr, text, (x1 + 2, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1,
                    cv2.LINE_AA)
    return frame_bgr


def to_xyxy(boxes: np.ndarray, box_format: str = "xyxy", scale_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Boxes (..., 4) in ``box_format`` (xyxy, yxyx, cxcywh) -> normalised x1, y1, x2, y2.

    ``scale_hw``: (height, width) of the model input when the boxes are in its pixels.
    """
    b = np.asarray(boxes, np.float32)
    if box_format == "yxyx":
        b = b[..., [1, 0, 3, 2]]
    elif box_format == "cxcywh":
        half = b[..., 2:4] / 2
        b = np.concatenate([b[..., 0:2] - half, b[..., 0:2] + half], -1)
    if scale_hw is not None:
        h, w = scale_hw
        b = b / np.array([w, h, w, h], np.float32)
    return b


def from_ssd(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, count: np.ndarray,
             image_size: Tuple[int, int], labels: Optional[Sequence[str]] = None, score_threshold: float = 0.3,
             label_offset: int = 0, max_detections: int = 100) -> List[Detection]:
    """One image's TFLite_Detection_PostProcess outputs -> detections in pixels.

    ``boxes`` (K, 4) ymin, xmin, ymax, xmax normalised; ``classes`` (K,) class index without the
    background; ``scores`` (K,); ``count`` the number of valid rows. NMS already happened in the model.
    ``label_offset`` maps a class to its label line (1 when the labels start with background).
    """
    n = int(np.asarray(count).reshape(-1)[0]) if np.asarray(count).size else 0
    b = to_xyxy(np.asarray(boxes, np.float32).reshape(-1, 4)[:n], "yxyx")
    c = np.asarray(classes).reshape(-1)[:n]
    s = np.asarray(scores, np.float32).reshape(-1)[:n]
    h, w = image_size
    scale = np.array([w, h, w, h], np.float32)
    out = []
    for i in np.argsort(-s, kind="stable")[:max_detections]:
        if s[i] < score_threshold:
            continue
        index = int(round(float(c[i]))) + label_offset
        label = labels[index] if labels and 0 <= index < len(labels) else str(index)
        box = np.clip(b[i], 0.0, 1.0) * scale
        out.append(Detection(index, label, float(s[i]), tuple(float(v) for v in box)))  # type: ignore[arg-type]
    return out
