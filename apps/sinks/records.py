"""The JSON-lines record of one processed frame and its JSON Schema."""

from __future__ import annotations

import time
from typing import Any, Dict

from ...tasks.base import Task
from .base import SinkItem

__all__ = ["frame_record", "FRAME_RECORD_SCHEMA"]


def frame_record(item: SinkItem) -> Dict[str, Any]:
    """The JSON-lines record of one frame: TaskResult.to_json plus stream, frame index, timing and COCO boxes
    (with ``track_id`` per detection under ``--track``, -1 while a new track is unconfirmed)."""
    res = item.result
    rec: Dict[str, Any] = {"stream": item.frame.stream, "frame": item.frame.index, "seq": item.seq,
                           "time_s": round(item.frame.timestamp - item.t0, 6),
                           "image_size": [int(v) for v in res.image_size]}
    body = res.to_json(None)
    body.pop("image", None)
    if res.task is Task.detect:  # COCO-style boxes: [x, y, width, height] in pixels
        dets = []
        for i, d in enumerate(body.get("detections", [])):
            x1, y1, x2, y2 = d.pop("box")
            d["bbox"] = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
            if item.tracks is not None:
                d["track_id"] = int(item.tracks[i])
            dets.append(d)
        body["detections"] = dets
    rec.update(body)
    rec["latency_ms"] = {k: round(v, 3) for k, v in item.stage_ms.items()}
    rec["frame_age_ms"] = round((time.perf_counter() - item.frame.timestamp) * 1e3, 3)
    return rec


_NUM = {"type": "number"}
FRAME_RECORD_SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edgemnv2 camera JSON-lines frame record",
    "type": "object",
    "required": ["frame", "seq", "time_s", "image_size", "task", "latency_ms", "frame_age_ms"],
    "properties": {
        "stream": {"type": "integer", "minimum": 0},
        "frame": {"type": "integer", "minimum": 0},
        "seq": {"type": "integer", "minimum": 0},
        "time_s": _NUM,
        "image_size": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
        "task": {"enum": ["classify", "detect", "segment"]},
        "top": {"type": "array", "items": {"type": "object", "required": ["index", "label", "score"],
                                           "properties": {"index": {"type": "integer"}, "label": {"type": "string"},
                                                          "score": _NUM}}},
        "detections": {"type": "array", "items": {
            "type": "object", "required": ["index", "label", "score", "bbox"],
            "properties": {"index": {"type": "integer"}, "label": {"type": "string"}, "score": _NUM,
                           "bbox": {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4},
                           "track_id": {"type": "integer", "minimum": -1}},
            "additionalProperties": False}},
        "classes": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "latency_ms": {"type": "object", "additionalProperties": _NUM},
        "frame_age_ms": _NUM,
    },
    "allOf": [
        {"if": {"properties": {"task": {"const": "classify"}}}, "then": {"required": ["top"]}},
        {"if": {"properties": {"task": {"const": "detect"}}}, "then": {"required": ["detections"]}},
        {"if": {"properties": {"task": {"const": "segment"}}}, "then": {"required": ["classes"]}},
    ],
}
