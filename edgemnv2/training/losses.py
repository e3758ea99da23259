"""Training losses and targets (host side, torch): SSD matching + MultiBox loss, segmentation CE.

SSD matching follows the paper: an anchor is positive for the ground-truth box it overlaps most when
that IoU >= 0.5, and every ground-truth box also claims its single best anchor. Box targets are
``edgemnv2.tasks.detect.encode_boxes`` (the exact inverse of the exported graph's decode).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..tasks.detect import box_iou, encode_boxes

__all__ = ["anchors_xyxy", "match_anchors", "multibox_loss", "segment_loss", "MATCH_IOU", "NEG_POS_RATIO"]

MATCH_IOU = 0.5
NEG_POS_RATIO = 3


def anchors_xyxy(anchors_cxcywh: np.ndarray) -> np.ndarray:
    a = np.asarray(anchors_cxcywh, np.float32)
    return np.concatenate([a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2], axis=1)


def match_anchors(boxes: np.ndarray, classes: np.ndarray, anchors: np.ndarray,
                  anchors_as_xyxy: np.ndarray | None = None, iou_threshold: float = MATCH_IOU
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """One image's normalised xyxy ``boxes`` (G, 4) and classes (G,) (1..K) -> per-anchor targets.

    Returns ``(cls_target (A,) int64 with 0 = background, reg_target (A, 4) float32)``.
    """
    n = anchors.shape[0]
    cls_t = np.zeros(n, np.int64)
    reg_t = np.zeros((n, 4), np.float32)
    if len(boxes) == 0:
        return cls_t, reg_t
    axy = anchors_xyxy(anchors) if anchors_as_xyxy is None else anchors_as_xyxy
    iou = box_iou(np.asarray(boxes, np.float32), axy)  # (G, A)
    best_gt = iou.argmax(0)
    best_iou = iou.max(0)
    for g, a in enumerate(iou.argmax(1)):  # every ground truth claims its best anchor
        best_gt[a] = g
        best_iou[a] = 1.0
    pos = best_iou >= iou_threshold
    cls_t[pos] = np.asarray(classes, np.int64)[best_gt[pos]]
    reg_t[pos] = encode_boxes(np.asarray(boxes, np.float32)[best_gt[pos]], anchors[pos])
    return cls_t, reg_t


def multibox_loss(regs: torch.Tensor, logits: torch.Tensor, cls_t: torch.Tensor, reg_t: torch.Tensor,
                  neg_pos_ratio: int = NEG_POS_RATIO) -> Tuple[torch.Tensor, torch.Tensor]:
    """SSD loss: smooth-L1 on positives + cross-entropy with hard negative mining (neg:pos = 3:1).

    Both terms are summed and divided by the number of positives. Returns (box_loss, class_loss).
    """
    n, a, c = logits.shape
    ce = F.cross_entropy(logits.reshape(-1, c), cls_t.reshape(-1), reduction="none").view(n, a)
    pos = cls_t > 0
    num_pos = pos.sum(1, keepdim=True)
    with torch.no_grad():
        neg_ce = ce.clone()
        neg_ce[pos] = -1.0
        rank = neg_ce.argsort(1, descending=True).argsort(1)
        neg = rank < torch.clamp(num_pos * neg_pos_ratio, min=neg_pos_ratio)
        neg &= ~pos
    denom = torch.clamp(num_pos.sum().float(), min=1.0)
    cls_loss = (ce[pos].sum() + ce[neg].sum()) / denom
    box_loss = F.smooth_l1_loss(regs[pos], reg_t[pos], beta=1.0, reduction="sum") / denom
    return box_loss, cls_loss


def segment_loss(logits: torch.Tensor, masks: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Pixel cross-entropy on DeepLab logits at the input resolution (255 = ignore)."""
    return F.cross_entropy(logits, masks.long(), ignore_index=ignore_index)


def batch_targets(batch_boxes: Sequence[np.ndarray], batch_classes: Sequence[np.ndarray], anchors: np.ndarray
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    axy = anchors_xyxy(anchors)
    pairs = [match_anchors(b, c, anchors, axy) for b, c in zip(batch_boxes, batch_classes)]
    return (torch.from_numpy(np.stack([p[0] for p in pairs])), torch.from_numpy(np.stack([p[1] for p in pairs])))
