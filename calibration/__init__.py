"""int8 calibration and its quality gate (host side), shared by the Pi and Jetson builders.

* ``flow``: the one int8 flow (read --calib -> hold out -> calibrate -> compare -> gate);
* ``images``: the calibration image-folder reader (RGB uint8; the model's run-time preprocessing is
  applied by each recipe through ``edgemnv2.tasks.preprocess``);
* ``evaluation``: int8 vs fp32 in task terms (accuracy drop with labels, agreement without);
* ``gate``: judges the drop / agreement with a 95% confidence bound (``--max-drop``, ``--min-agreement``);
* recipes: ``tflite_int8`` (Raspberry Pi), ``qdq`` + ``qdq_check`` (TensorRT explicit quantization).
"""
