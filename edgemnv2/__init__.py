"""edgemnv2: MobileNetV2-family models on edge devices (TensorRT on Jetson, TFLite on Raspberry Pi).

The package is split by where code runs:

* device side (numpy only): ``edgemnv2.tasks``, ``edgemnv2.bundle``, runners in ``edgemnv2.targets``,
  ``edgemnv2.apps`` and ``edgemnv2.bench``;
* host side (torch, onnx, tensorflow behind the ``host`` extra, imported lazily):
  ``edgemnv2.models``, ``edgemnv2.export``, builders in ``edgemnv2.targets`` and ``edgemnv2.calibration``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
