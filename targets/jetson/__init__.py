"""Jetson target: ONNX (fp32/fp16/Q-DQ) written on the host (``export``), the TensorRT engine built on
the device (``engine``, host-only imports forbidden), run by ``runner``; ``versions`` holds the
TensorRT/JetPack facts."""
