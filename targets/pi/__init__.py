"""Raspberry Pi target: TFLite bundles built on the host (``build``, ``tf_twin``), run by LiteRT or
tflite-runtime on the device (``runner``)."""
