"""Runtimes (device side) and builders (host side), one module per runtime.

* ``base``: the runner protocol (``TensorSpec``, ``Runner``) and ``open_runner`` dispatch;
* ``onnxruntime_runner``: ONNX Runtime, the CPU reference (``--target cpu``);
* ``tflite_runner`` / ``tflite_build``: Raspberry Pi (LiteRT / tflite-runtime);
* ``tensorrt_*``: Jetson (TensorRT engines).

Runners return raw tensors only; task logic lives in ``edgemnv2.tasks``. Importing this package
imports no runtime: each loader imports its framework when called.
"""
