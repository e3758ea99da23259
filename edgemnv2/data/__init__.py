"""Datasets: readers for ImageFolder / COCO / VOC-mask layouts and a synthetic shapes generator."""

from __future__ import annotations

from .readers import (
                      IGNORE_INDEX,
                      ClassifyDataset,
                      DetectDataset,
                      DetSample,
                      SegmentDataset,
                      open_dataset,
                      read_mask,
                      split_dir,
)

__all__ = ["IGNORE_INDEX", "ClassifyDataset", "DetectDataset", "DetSample", "SegmentDataset", "open_dataset",
           "read_mask", "split_dir"]
