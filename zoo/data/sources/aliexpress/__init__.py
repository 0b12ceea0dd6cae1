"""AliExpress Searching System Dataset (Tianchi 74690): `load_aliexpress`."""

from zoo.data.sources.aliexpress.loader import load_aliexpress

__all__ = ["load_aliexpress"]
