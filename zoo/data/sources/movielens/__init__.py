"""MovieLens 100K (GroupLens ml-100k): `load_movielens_100k`."""

from zoo.data.sources.movielens.loader import load_movielens_100k

__all__ = ["load_movielens_100k"]
