"""Hand-off to NVIDIA's serving engines when one Python loop is not enough: a Triton Inference Server
model repository entry (``triton``) and a DeepStream nvinfer configuration (``deepstream``), written
from what a bundle already holds. Used by ``edgemnv2 export``."""
