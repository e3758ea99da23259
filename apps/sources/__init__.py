"""Frame sources for the camera apps: cameras, files, folders, streams and a synthetic scene.

``open_source(spec)`` understands:

- ``0``, ``1``, ... or ``/dev/videoN``: a V4L2 camera (OpenCV V4L2, then any backend);
- a video file (OpenCV FFMPEG, then any backend), an image file, or a folder of images;
- ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http://``, ``https://``, ``udp://``: a network stream;
- ``csi://N``: a Jetson CSI camera through ``nvarguscamerasrc`` (GStreamer, ``appsink drop=1 max-buffers=1``);
- ``picam://N``: a Raspberry Pi camera through Picamera2 (``RGB888`` arrays are BGR-ordered, used as is);
- a raw GStreamer pipeline string (anything containing ``!``; it should end in ``appsink``);
- ``synthetic://``: a built-in moving scene (``?width=640&height=480&fps=30&frames=N&seed=0``;
  ``fps=0`` makes it a file-like source that yields frames as fast as they are asked for).

Every source is captured in its own thread. *Live* sources (cameras, streams, paced synthetic) keep
only the newest frame: a frame not taken before the next one arrives is counted as dropped, so the
app never works on a queue of stale frames. A lost live stream is reopened with exponential backoff
for up to ``reconnect_timeout`` seconds. *File* sources (video files, image folders, unpaced
synthetic) hand over every frame in order through a one-frame queue (no drops) unless ``realtime``
is asked for, which paces them at their frame rate and treats them as live. Frames are BGR uint8.
Device side: numpy + OpenCV only (Picamera2 imported lazily).
Modules: ``base`` (Frame, Source), ``capture`` (OpenCV), ``files``, ``picam``, ``synthetic``,
``registry`` (``open_source``), ``multi`` (``MultiSource``: several sources round-robin).
"""

from .base import Frame, Lost, Source, display_name
from .capture import CaptureSource, csi_pipeline
from .files import ImageFolderSource
from .multi import MultiSource
from .picam import PicameraSource
from .registry import STREAM_SCHEMES, open_source
from .synthetic import SyntheticScene, SyntheticSource

__all__ = ["Frame", "Source", "Lost", "open_source", "csi_pipeline", "SyntheticScene", "STREAM_SCHEMES",
           "display_name", "CaptureSource", "MultiSource", "ImageFolderSource", "PicameraSource", "SyntheticSource"]
