"""Multi-task ranking models; each one is a switcher between shared input and towers."""

from zoo.models.aitm import AITM
from zoo.models.automtl import AutoMTL
from zoo.models.automtl_supernet import AutoMTLSupernet
from zoo.models.cross_stitch import CrossStitch
from zoo.models.dbmtl import DBMTL
from zoo.models.dlen import PLEDLEN, MMoEDLEN
from zoo.models.escm2 import ESCM2
from zoo.models.esmm import ESMM
from zoo.models.graph_encoders import make_graph_encoder
from zoo.models.home import HoME
from zoo.models.mfh import MFH
from zoo.models.mmoe import MMoE, OMoE
from zoo.models.mogenet import MoGENet
from zoo.models.multitask_model import MultiTaskModel
from zoo.models.ngcf import NGCF
from zoo.models.pepnet import PEPNet
from zoo.models.ple import CGC, PLE
from zoo.models.registry import MODELS, get_model_class
from zoo.models.shared_bottom import SharedBottom
from zoo.models.single_task import SingleTask
from zoo.models.snr import SNRAver, SNRTrans
from zoo.models.stem import STEM
from zoo.models.youtube import YouTubeMMoE

__all__ = [
    "AITM",
    "AutoMTL",
    "AutoMTLSupernet",
    "CGC",
    "CrossStitch",
    "DBMTL",
    "ESCM2",
    "ESMM",
    "HoME",
    "MFH",
    "MMoE",
    "MMoEDLEN",
    "MoGENet",
    "MODELS",
    "MultiTaskModel",
    "NGCF",
    "OMoE",
    "PEPNet",
    "PLE",
    "PLEDLEN",
    "SNRAver",
    "SNRTrans",
    "STEM",
    "SharedBottom",
    "SingleTask",
    "YouTubeMMoE",
    "get_model_class",
    "make_graph_encoder",
]
