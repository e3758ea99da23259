"""Host-side PyTorch model zoo (needs the ``host`` extra). Import submodules directly.

``edgemnv2.models.zoo`` holds the registry and builders; this package imports nothing heavy itself.
"""
