"""Targets: one folder per target, each with its builder (host side) and its runner (device side).

* ``base``: the runner protocol (``TensorSpec``, ``Runner``: lazy load, ``infer(feeds) -> raw tensors``);
* ``registry``: ``open_runner`` picks the runner for a model file; the runners never import it;
* ``cpu/``: ONNX Runtime, the reference (``build.py``, ``runner.py``);
* ``pi/``: Raspberry Pi, TFLite for LiteRT / tflite-runtime (``build.py``, ``tf_twin.py``, ``runner.py``);
* ``jetson/``: TensorRT (``export.py`` on the host, ``engine.py`` on the device, ``runner.py``,
  ``versions.py``).

Runners return raw tensors only; task logic lives in ``edgemnv2.tasks``. Importing this package
imports no runtime: each loader imports its framework when called.
"""
