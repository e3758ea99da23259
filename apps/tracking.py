"""``--track``: a track id per detection, stable across frames, and optional line-crossing counts.

Tracker: ByteTrack from Roboflow's ``trackers`` package (``trackers.ByteTrackTracker``; maintained,
pure Python + numpy/scipy, so it installs on a Pi and a Jetson), or, where only an older ``supervision``
is installed (numpy 1, e.g. JetPack 5), ``supervision.ByteTrack``, the same algorithm before it moved.
Line counts: ``supervision.LineZone`` (a track counts once per crossing of the line by its box centre;
"in"/"out" follow supervision's convention: crossing from the line's right to its left side as seen
from ``x1,y1`` towards ``x2,y2`` is "in"). One tracker and one line zone per stream.
Install: ``pip install 'edgemnv2[track]' && pip install --no-deps 'trackers==2.6.1'`` (``trackers`` declares
``opencv-python``, which would clash with the ``opencv-python-headless`` we use; docs/camera.md).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeError

__all__ = ["Tracking", "parse_line", "tracker_backend"]

Line = Tuple[float, float, float, float]


def parse_line(text: str) -> Line:
    """``x1,y1,x2,y2`` in pixels -> a tuple; EdgeError on anything else."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or vals[:2] == vals[2:]:
        raise EdgeError(f"--count-line '{text}' is not a line x1,y1,x2,y2 (pixels, two different points)",
                        "e.g. --count-line 320,0,320,480 (a vertical line through x=320)")
    return vals  # type: ignore[return-value]


def tracker_backend() -> Tuple[str, Any]:
    """(description, factory(fps) -> tracker) of the ByteTrack implementation installed here."""
    try:
        from trackers import ByteTrackTracker
    except ImportError:
        pass
    else:
        return f"trackers {metadata.version('trackers')} ByteTrackTracker", lambda fps: ByteTrackTracker(
            frame_rate=fps, track_activation_threshold=0.25, high_conf_det_threshold=0.4,
            minimum_consecutive_frames=2)
    try:
        import supervision as sv
    except ImportError:
        sv = None
    if sv is not None and hasattr(sv, "ByteTrack"):
        return f"supervision {sv.__version__} ByteTrack", lambda fps: sv.ByteTrack(
            frame_rate=int(round(fps)), track_activation_threshold=0.25, minimum_consecutive_frames=2)
    raise EdgeError("--track needs ByteTrack: the 'trackers' package (or supervision 0.25) is not installed",
                    "pip install 'edgemnv2[track]' && pip install --no-deps 'trackers==2.6.1' "
                    "(docs/camera.md, Tracking)")


class Tracking:
    """Per stream: ByteTrack over the frame's detections and, with ``line``, in/out crossing counts."""

    def __init__(self, streams: int, fps: float = 30.0, line: Optional[Line] = None) -> None:
        import supervision as sv

        self.sv = sv
        self.backend, factory = tracker_backend()
        self.line = line
        self.trackers = [factory(float(fps or 30.0)) for _ in range(streams)]
        self.zones = [sv.LineZone(sv.Point(line[0], line[1]), sv.Point(line[2], line[3]),
                                  triggering_anchors=(sv.Position.CENTER,)) if line else None
                      for _ in range(streams)]
        self.ids: List[set] = [set() for _ in range(streams)]

    def update(self, stream: int, result: Any, t: float) -> List[int]:
        """The track id of each of ``result.detections`` (-1 while a new track is not yet confirmed)."""
        dets = result.detections
        n = len(dets)
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        det = self.sv.Detections(xyxy=boxes, confidence=np.array([d.score for d in dets], np.float32),
                                 class_id=np.array([d.index for d in dets], int),
                                 data={"row": np.arange(n)})
        tracker = self.trackers[stream]
        # supervision.ByteTrack: update_with_detections; trackers.ByteTrackTracker: update
        step = getattr(tracker, "update_with_detections", None) or tracker.update
        out = step(det)
        ids = [-1] * n
        tid = out.tracker_id if out.tracker_id is not None else np.full(len(out), -1)
        for row, k in zip(out.data.get("row", []), tid):
            ids[int(row)] = int(k)
        confirmed = out[tid >= 0] if len(out) else out
        self.ids[stream].update(int(k) for k in tid if k >= 0)
        zone = self.zones[stream]
        if zone is not None and len(confirmed):
            zone.trigger(confirmed)
        return ids

    def counts(self, stream: int) -> Optional[Tuple[int, int]]:
        zone = self.zones[stream]
        return (int(zone.in_count), int(zone.out_count)) if zone is not None else None

    def draw(self, image: np.ndarray, stream: int, result: Any, tracks: Optional[Sequence[int]]) -> None:
        """Track ids above the boxes and, with a line, the line and its in/out counts (in place)."""
        import cv2

        for d, k in zip(result.detections, tracks or ()):
            if k >= 0:
                x1, y1 = int(d.box[0]), int(d.box[1])
                cv2.putText(image, f"#{k}", (x1 + 2, max(y1 + 14, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                            (255, 255, 255), 1, cv2.LINE_AA)
        counts = self.counts(stream)
        if self.line is not None and counts is not None:
            x1, y1, x2, y2 = (int(round(v)) for v in self.line)
            cv2.line(image, (x1, y1), (x2, y2), (0, 255, 255), 2)
            cv2.putText(image, f"in {counts[0]}  out {counts[1]}", (x1 + 4, y1 + 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, (0, 255, 255), 1, cv2.LINE_AA)

    def describe(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"tracker": self.backend, "line": list(self.line) if self.line else None, "streams": []}
        for i in range(len(self.trackers)):
            one: Dict[str, Any] = {"stream": i, "tracks": len(self.ids[i])}
            counts = self.counts(i)
            if counts is not None:
                one["in"], one["out"] = counts
            d["streams"].append(one)
        return d
