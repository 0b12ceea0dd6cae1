"""Backbones: preprocessed features in, one representation per task out."""
