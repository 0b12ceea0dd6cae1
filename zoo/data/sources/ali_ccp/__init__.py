"""Ali-CCP (Alibaba Click and Conversion Prediction): `load_ali_ccp`."""

from zoo.data.sources.ali_ccp.loader import load_ali_ccp

__all__ = ["load_ali_ccp"]
