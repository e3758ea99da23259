"""Host-side training and fine-tuning (torch): ``edgemnv2 train``.

* ``loop``: ``TrainConfig`` and ``train`` (the epoch loop, metadata and saved weights);
* ``data``: a dataset split in memory at the model resolution, augmentation;
* ``checkpoint``: per-epoch checkpoints for ``--resume``;
* ``losses``: SSD target matching and multibox loss, segmentation loss.
"""
