"""Taobao multi-behaviour graph (GHCF preprocessing): `load_taobao_multibehavior`."""

from zoo.data.sources.taobao_multibehavior.loader import load_taobao_multibehavior

__all__ = ["load_taobao_multibehavior"]
