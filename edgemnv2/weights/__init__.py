"""Built-in default weights (``<task>.safetensors`` + ``<task>.json``), read by
``edgemnv2.model_source.default_weights``."""
