from zoo.api import register
from zoo.layers.switchers.cross_stitch import CrossStitchSwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class CrossStitch(MultiTaskModel):
    """Cross-stitch network: one MLP column per task, mixed after every layer.

    h~_k = sum_j alpha_l[k, j] h_j after layer l of the columns, y_k = tower_k(h_k).

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        units: list of int, widths of each task's column. Defaults to
            `(32, 32)`, the expert networks of the MoGENet paper's
            Cross-Stitch baseline.
        self_weight: float in [0, 1], the initial diagonal of every
            cross-stitch matrix (the rest of a row is spread evenly).
        tower_units: list of int, widths of each task's tower.
        dropout: float, dropout inside the columns.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments, e.g. `loss_weighting`.

    Example:
    ```python
    model = zoo.models.CrossStitch(tasks=["income", "never_married"],
                                   preprocessor=preprocessor, units=[32, 32])
    model.compile()
    model.fit(train_ds, validation_data=val_ds, epochs=5)
    ```

    References:
        Misra et al., "Cross-stitch Networks for Multi-task Learning", CVPR
        2016.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        units=(32, 32),
        self_weight=0.9,
        tower_units=(16,),
        dropout=0.0,
        tower_dropout=0.0,
        **kwargs,
    ):
        self.units = [int(u) for u in units]
        self.self_weight = float(self_weight)
        self.dropout = dropout
        switcher = CrossStitchSwitcher(
            len(tasks),
            self.units,
            self_weight=self.self_weight,
            dropout=dropout,
            name="switcher",
        )
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "self_weight": self.self_weight,
                "dropout": self.dropout,
            }
        )
        return config
