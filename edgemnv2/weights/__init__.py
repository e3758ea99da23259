"""Built-in default weights (``<task>.safetensors`` + ``<task>.json``), read by ``edgemnv2.source.default_weights``."""
