from keras import ops

from zoo.api import register
from zoo.layers.features.feature_dropout import FeatureDropout
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.towers.tower import Tower
from zoo.models.mmoe import MMoE


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
        **kwargs,
    ):
        self.bias_features = [str(name) for name in bias_features]
        if not self.bias_features:
            raise ValueError("Expected at least one bias feature. Received: bias_features=[]")
        self.bias_dropout = float(bias_dropout)
        self.shallow_tower_units = [int(u) for u in shallow_tower_units]
        super().__init__(tasks, features=features, preprocessor=preprocessor, **kwargs)
        names = [f["name"] for f in self.features]
        unknown = [name for name in self.bias_features if name not in names]
        if unknown:
            raise ValueError(
                f"bias_features {unknown} are not features of the model; the features are {names}"
            )
        if not self.backbone_features():
            raise ValueError("Every feature is a bias feature; the MMoE part would see nothing.")
        if self.bias_tower_feature in self.bias_features:
            raise ValueError(
                f"bias_tower_feature={self.bias_tower_feature!r} is also a selection-bias "
                "feature, which serving leaves out; a Biasnet tower needs a feature known at "
                "serving time"
            )
        by_name = {t.name: t for t in self.tasks}
        if bias_tasks is None:
            bias_tasks = [t.name for t in self.tasks if t.output_units == 1]
        self.bias_tasks = [str(name) for name in bias_tasks]
        for name in self.bias_tasks:
            if name not in by_name:
                raise ValueError(
                    f"bias_tasks names {name!r}, which is not a task; the tasks are {list(by_name)}"
                )
            if by_name[name].output_units != 1:
                raise ValueError(
                    f"bias_tasks: task {name!r} is multiclass; a bias logit shifts binary "
                    "logits and regression values only"
                )
        self.shallow_features = [f for f in self.features if f["name"] in self.bias_features]
        self.bias_feature_dropout = FeatureDropout(self.bias_dropout, name="bias_feature_dropout")
        self.shallow_embedding = FeatureEmbedding(self.shallow_features, name="shallow_embedding")
        self.shallow_tower = Tower(self.shallow_tower_units, output_units=1, name="shallow_tower")

    def backbone_features(self):
        return [f for f in self.features if f["name"] not in self.bias_features]

    def task_logits(self, inputs, training=None):
        logits = super().task_logits(inputs, training=training)
        backbone_name = self.backbone_features()[0]["name"]
        batch = ops.shape(inputs[backbone_name])[:1]
        bias_inputs = {}
        for feature in self.shallow_features:
            name = feature["name"]
            if name in inputs:
                bias_inputs[name] = inputs[name]
            else:  # not known (serving): the "missing" value FeatureDropout trains
                dtype = "int32" if feature["kind"] == "categorical" else "float32"
                bias_inputs[name] = ops.zeros(batch, dtype=dtype)
        bias_inputs = self.bias_feature_dropout(bias_inputs, training=training)
        shallow = self.shallow_tower(self.shallow_embedding(bias_inputs), training=training)
        for name in self.bias_tasks:
            logits[name] = logits[name] + shallow
        return logits

    def serving_signatures(self):
        return {"serving_default": tuple(self.bias_features), "with_bias_features": ()}

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
