from zoo.api import register
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.models.mmoe import MMoE
from zoo.models.task_heads import SHALLOW_TOWER_HEAD


@register
class YouTubeMMoE(MMoE):
    """The YouTube "Watch Next" ranker: MMoE plus a shallow tower for selection bias.

    The MMoE part sees every feature except the selection-bias features
    (position, device, ...). A shallow tower (the "wide" part of a Wide &
    Deep model: linear by default) sees only those and gives one logit,
    added to the logits of the engagement tasks (`bias_tasks`) before the
    sigmoid; for a regression task it is added to the predicted value. The
    main towers are thereby free to learn relevance, and the shallow tower
    soaks up how much the position a result was shown at raised its
    chance of being clicked.

    During training each bias feature is set to "missing" on a fraction
    `bias_dropout` of the rows (the paper drops position on 10%), so the
    shallow tower also learns a "position unknown" value. That is what
    serving uses: the exported SavedModel's default signature does not ask
    for the bias features and answers the debiased predictions, the main
    logits plus the shallow tower's "missing" logit (the same shift for
    every candidate, so rankings are those of the main towers). The
    `with_bias_features` signature takes them too and answers what the
    model predicts for a result shown at that position, for offline
    analysis. Calling the model on features without the bias features
    gives the debiased predictions in Python as well.

    The shallow tower is a `zoo.layers.heads.BiasLogit` head with
    `known_at_serving=False`: any model takes it through `heads=`; this
    class is MMoE with that head built from the arguments below.

    Args:
        tasks: list of tasks: engagement (binary, e.g. click; regression,
            e.g. watch time) and satisfaction tasks (e.g. like, rating).
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`; it must
            know the bias features too.
        bias_features: names of the selection-bias features. Defaults to
            `("position",)`.
        bias_tasks: names of the tasks the shallow tower's logit is added
            to, or `None` for every binary and regression task.
        bias_dropout: float in [0, 1), the rate at which bias feature
            values are dropped in training. Defaults to `0.1`.
        shallow_tower_units: hidden widths of the shallow tower; `()` (the
            default) makes it linear in the bias features' embeddings.
        **kwargs: `MMoE` arguments (`num_experts`, `expert_units`,
            `tower_units`, `ranking_weights`, ...).

    Example:
    ```python
    model = zoo.models.YouTubeMMoE(
        tasks=[Task("click"), Task("watch_time", "regression"), Task("like")],
        preprocessor=preprocessor, bias_features=["position", "device"],
        bias_tasks=["click", "watch_time"],
        ranking_weights={"click": 1.0, "like": 0.5},
    )
    model.fit(train_ds)  # train_ds holds the bias features
    model({k: v for k, v in features.items() if k not in ("position", "device")})
    ```

    References:
        Zhao et al., "Recommending What Video to Watch Next: A Multitask
        Ranking System", RecSys 2019.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        bias_features=("position",),
        bias_tasks=None,
        bias_dropout=0.1,
        shallow_tower_units=(),
        heads=(),
        **kwargs,
    ):
        shallow_tower = BiasLogit(
            bias_features,
            units=shallow_tower_units,
            tasks=bias_tasks,
            known_at_serving=False,
            dropout=bias_dropout,
            name=SHALLOW_TOWER_HEAD,
        )
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            heads=[*heads, shallow_tower],
            **kwargs,
        )
        self.bias_features = shallow_tower.feature_names
        self.bias_tasks = shallow_tower.bound_tasks
        self.bias_dropout = shallow_tower.dropout
        self.shallow_tower_units = shallow_tower.units

    # Where the shallow tower's weights were saved before heads existed (see
    # MultiTaskModel.bias_tower).
    @property
    def shallow_tower(self):
        return self._head(SHALLOW_TOWER_HEAD).tower

    @property
    def shallow_embedding(self):
        return self._head(SHALLOW_TOWER_HEAD).embedding

    @property
    def bias_feature_dropout(self):
        return self._head(SHALLOW_TOWER_HEAD).feature_dropout

    @classmethod
    def from_config(cls, config):
        if "heads" not in config:
            # zoo 0.1 kept the shallow tower's layers on the model itself; Keras finds
            # saved weights by where layers sit, and they now sit in a head.
            raise ValueError(
                "This YouTubeMMoE was saved by zoo 0.1, whose shallow tower weights are laid "
                "out in a way zoo 0.2 does not read. Its exported SavedModel serves unchanged; "
                "to keep the Keras model, load it with zoo 0.1 and export it, or retrain it "
                "with zoo 0.2."
            )
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "bias_features": self.bias_features,
                "bias_tasks": self.bias_tasks,
                "bias_dropout": self.bias_dropout,
                "shallow_tower_units": self.shallow_tower_units,
            }
        )
        return config
