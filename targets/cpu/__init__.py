"""CPU target: ONNX Runtime bundles, the reference every other target is compared with."""
