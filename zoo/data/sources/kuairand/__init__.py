"""KuaiRand (Kuaishou short-video logs): `load_kuairand`."""

from zoo.data.sources.kuairand.loader import load_kuairand

__all__ = ["load_kuairand"]
