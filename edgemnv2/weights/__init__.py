"""Built-in weights (``<name>_<task>.safetensors`` + ``.json``), read by ``edgemnv2.pretrained``:
``imagenet_classify`` and ``voc_segment`` (imported from Google's Coral files by
``scripts/import_defaults.py``; Apache-2.0, see NOTICE) and ``shapes_<task>`` (trained by the
project on synthetic shapes, ``scripts/train_defaults.py``)."""
