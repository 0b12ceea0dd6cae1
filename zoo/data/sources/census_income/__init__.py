"""Census-Income (KDD): `load_census_income`."""

from zoo.data.sources.census_income.loader import load_census_income

__all__ = ["load_census_income"]
