"""Datasets prepared by the builders of `datasets/tfds/`: `load_tfds`."""

from zoo.data.sources.tfds.loader import load_tfds

__all__ = ["load_tfds"]
