from zoo.api import register
from zoo.layers.switchers.shared_bottom import SharedBottomSwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class SharedBottom(MultiTaskModel):
    """Hard parameter sharing: a shared MLP, then one tower per task.

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        bottom_units: list of int, widths of the shared MLP.
        tower_units: list of int, widths of each task's tower.
        dropout: float, dropout in the shared MLP.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments.

    References:
        Caruana, "Multitask Learning", Machine Learning 28, 1997.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        bottom_units=(256,),
        tower_units=(16,),
        dropout=0.0,
        tower_dropout=0.0,
        **kwargs,
    ):
        self.bottom_units = [int(u) for u in bottom_units]
        self.dropout = dropout
        super().__init__(
            tasks,
            SharedBottomSwitcher(len(tasks), self.bottom_units, dropout=dropout, name="switcher"),
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"bottom_units": self.bottom_units, "dropout": self.dropout})
        return config
