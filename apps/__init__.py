"""Camera-stream apps: sources, the timed pipeline, sinks, HUD and profiling (``edgemnv2 camera``).

Device side (numpy + OpenCV): nothing here imports torch, TensorFlow or ONNX. The public entry
point for other tools (e.g. ``bench --pipeline``) is ``edgemnv2.apps.pipeline.run_pipeline``; the stage
objects it runs are in ``stages``, bounded statistics in ``stats``, the exit table and ``--profile`` in
``summary``.
"""
