"""Command-line names of the models. Keep these stable: scripts depend on them."""

from zoo.models.automtl import AutoMTL
from zoo.models.cross_stitch import CrossStitch
from zoo.models.dlen import PLEDLEN, MMoEDLEN
from zoo.models.esmm import ESMM
from zoo.models.mfh import MFH
from zoo.models.mmoe import MMoE, OMoE
from zoo.models.mogenet import MoGENet
from zoo.models.ngcf import NGCF
from zoo.models.ple import CGC, PLE
from zoo.models.shared_bottom import SharedBottom
from zoo.models.single_task import SingleTask
from zoo.models.snr import SNRAver, SNRTrans
from zoo.models.youtube import YouTubeMMoE

MODELS = {
    "single-task": SingleTask,
    "shared-bottom": SharedBottom,
    "omoe": OMoE,
    "mmoe": MMoE,
    "cgc": CGC,
    "ple": PLE,
    "cross-stitch": CrossStitch,
    "snr-trans": SNRTrans,
    "snr-aver": SNRAver,
    "esmm": ESMM,
    "youtube-mmoe": YouTubeMMoE,
    "mmoe-dlen": MMoEDLEN,
    "ple-dlen": PLEDLEN,
    "mfh": MFH,
    "automtl-derived": AutoMTL,
    "mogenet": MoGENet,
    "ngcf": NGCF,
}


def get_model_class(name):
    """The model class for a command-line name, or a ValueError listing the valid ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}. Valid models: {', '.join(MODELS)}") from None
