"""Calibration data and int8 recipes (host side).

* ``images``: the calibration image-folder reader; it applies exactly the model's run-time
  preprocessing (``edgemnv2.tasks.preprocess``), so every target calibrates on what it will see;
* ``quality``: fp32-vs-int8 comparison in task terms (top-1 agreement/accuracy, mAP, mIoU) and the
  ``--max-drop`` gate;
* recipes: ``tflite_int8`` (Raspberry Pi), ``qdq`` (TensorRT explicit quantization).
"""
