import keras
from keras import ops

from zoo.api import register
from zoo.distribute import MultiWorkerFitFixes
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.features.feature_embedding import FeatureEmbedding, dummy_inputs
from zoo.layers.towers.tower import Tower
from zoo.losses.weighting import FixedLossWeights, get_loss_weighting
from zoo.models.gate_inspection import GateInspection
from zoo.models.graph_tables import GraphTables
from zoo.models.raw_inputs import RawFeatureInputs
from zoo.models.serving_outputs import ServingOutputs
from zoo.models.task_heads import BUILT_IN_HEADS, TaskHeads
from zoo.models.task_training import TaskTraining
from zoo.registry import MODELS
from zoo.tasks import as_tasks, single_output_task_names


@register
class MultiTaskModel(
    RawFeatureInputs,
    TaskTraining,
    TaskHeads,
    ServingOutputs,
    GateInspection,
    GraphTables,
    MultiWorkerFitFixes,
    keras.Model,
):
    """Backbone (embedding -> switcher) -> one tower per task -> heads -> named outputs.

    Every zoo model is this pipeline with a different switcher (the part
    that decides what each task sees: a shared bottom, a mixture of
    experts, CGC, PLE, ...) inside its backbone (`model.backbone`, a
    `zoo.layers.MultiTaskBackbone`), and heads composed by argument.
    Subclasses only build their switcher; input handling, towers, heads,
    outputs, gate inspection and `compile` defaults live here once.

    With a preprocessor, the model takes raw features: `model(raw)`,
    `fit`, `evaluate` and `predict` accept dicts of raw columns, pandas
    DataFrames or `tf.data` datasets of them, and run the preprocessor in
    front of the compiled step (mapped over a dataset, once over in-memory
    columns), as keras-hub's tasks do. The step itself computes on
    preprocessed features (ids and normalized floats), which keeps it
    XLA-compilable; pipelines that preprocess once and cache (the zoo's
    `TabularDataset.tf_dataset`) feed them inside
    `with model.preprocessed_inputs():`. The preprocessor is saved in the
    `.keras` file, and export puts it in front of the model. Without a
    preprocessor (`features=` given), the model takes preprocessed features.

    Args:
        tasks: list of `zoo.tasks.Task` (or config dicts, or names of binary
            tasks).
        switcher: a switcher layer with `num_tasks` outputs; the model
            builds its backbone (`model.backbone`) around it.
        features: the `FeatureEmbedding` feature list; defaults to
            `preprocessor.embedding_features()`.
        preprocessor: an adapted `FeaturePreprocessor`, or `None`.
        tower_units: list of int, hidden widths of every task tower.
        tower_dropout: float, dropout in the towers.
        loss_weighting: how the task losses add up to the training loss:
            `None` or `"fixed"` (plain sum), a dict from task name to a fixed
            weight, `"uncertainty"`, `"gradnorm"`, `"dwa"`, `"random"`,
            `"pcgrad"`, `"metabalance"`, or a `zoo.losses.LossWeighting`. Its
            learned weights are saved with the model.
        bias_tower_feature: name of a feature (e.g. a user group) for a
            Biasnet bias tower: an MLP over that feature's own embedding
            whose one logit is added to the logit of every binary task and
            to the output of every regression task (a constant shift of all
            classes would not change a softmax, so multiclass tasks get
            none). `None`: no bias tower.
        bias_tower_units: hidden widths of the bias tower; the Biasnet
            paper's (128, 64) by default. (The bias tower is a
            `zoo.layers.heads.BiasLogit` head, named `bias_tower_head`.)
        heads: list of heads (layers of `zoo.layers.heads`, or their
            configs). At most one routing head (`GroupRouting`, MFH's
            per-group towers) acts first; logit heads (a `BiasLogit` over
            selection-bias features, NGCF's `GraphScore`) then shift the
            task logits in order; at most one output head
            (`LatentEmotionMixture`, DLEN's; `EntireSpaceProduct`, ESMM's)
            turns the logits into the predictions, in place of each task's
            activation, and may serve more outputs. Any head goes on any
            model; a head that does not fit the model's features or tasks,
            or another head, is an error naming them.
        ranking_weights: dict from task name to weight, or `None`. When
            given, the exported SavedModel has one more output,
            `ranking_score`: the weighted sum of the named tasks'
            predictions (probabilities for binary tasks, values for
            regression tasks), the score a ranking service sorts by.
        graph_encoder: a `zoo.layers.MultiChannelMGNN` (or its config), or
            `None`. With one, the switcher's input is the feature embedding
            followed by the four MGNN representations of the pair (the
            MoGENet paper's "+MGNN" variants); the inputs then carry the
            sub-graphs of `zoo.graphs.GraphInputs` under `"graph"` in
            training, and serving looks the representations up in the
            tables `refresh_graph_tables` fills.
        backbone: a `zoo.layers.MultiTaskBackbone` to use as it is, in
            place of `switcher` and `graph_encoder`; its features must be
            the model's (without those the heads keep out of it).
        **kwargs: `keras.Model` keyword arguments, e.g. `name`.

    Call arguments:
        inputs: dict of raw features (preprocessed ones without a
            preprocessor, or inside `preprocessed_inputs()`).
        training: bool.

    Returns:
        Dict from task name to predictions: `(batch, 1)` probabilities for
        binary tasks and values for regression tasks, `(batch, classes)`
        probabilities for multiclass tasks.

    Labels and masks: `fit` takes `(features, labels)` or `(features,
    labels, sample_weight)` with dicts keyed by task name. A task's
    sample weight of 0 marks a row whose label is missing: that row adds
    nothing to the task's loss or metrics, and the task's loss is the mean
    over the rows that have its label (`zoo.data.TabularDataset` builds
    these weights from its label masks).
    """

    def __init__(
        self,
        tasks,
        switcher=None,
        features=None,
        preprocessor=None,
        tower_units=(16,),
        tower_dropout=0.0,
        loss_weighting=None,
        bias_tower_feature=None,
        bias_tower_units=(128, 64),
        ranking_weights=None,
        graph_encoder=None,
        heads=(),
        backbone=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tasks = as_tasks(tasks)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if backbone is not None:
            if switcher is not None or graph_encoder is not None:
                raise ValueError(
                    "Give a backbone, or a switcher (and graph_encoder) to build one, not both."
                )
            switcher, graph_encoder = backbone.switcher, backbone.graph_encoder
        if isinstance(graph_encoder, dict):
            graph_encoder = keras.layers.deserialize(graph_encoder)
        if graph_encoder is not None and not self.supports_graph_encoder:
            raise ValueError(
                f"{type(self).__name__} cannot take a graph encoder (--with-mgnn): its switcher "
                "reads the features as separate fields, not as one vector the graph "
                "representations could be appended to."
            )
        if isinstance(switcher, dict):
            switcher = keras.layers.deserialize(switcher)
        if isinstance(preprocessor, dict):
            preprocessor = keras.layers.deserialize(preprocessor)
        features = resolve_features(features, preprocessor)
        self.features = [dict(f) for f in features]
        # Before the backbone: a head may keep its features from it, or route (more branches).
        self.task_heads = self._bind_heads(heads, bias_tower_feature, bias_tower_units)
        if getattr(switcher, "num_tasks", self.num_branches()) != self.num_branches():
            raise ValueError(
                f"The switcher has {switcher.num_tasks} outputs but the model needs "
                f"{self.num_branches()}: {self.branch_names()}"
            )
        # Kept out of Keras' layer tracking on purpose: the lookups inside
        # are string ops that XLA cannot compile, and a tracked sublayer
        # would switch XLA off for the whole model (Keras checks every
        # tracked layer's `supports_jit`). It is saved through get_config.
        object.__setattr__(self, "preprocessor", preprocessor)
        # How many `preprocessed_inputs()` scopes are open (fit, evaluate and
        # predict open one around Keras' own loop).
        self._preprocessed_scopes = 0
        backbone = self._check_backbone(backbone) or self.make_backbone(switcher, graph_encoder)
        # The model tracks the backbone's parts, not the backbone: Keras names
        # weights by the path it first reaches them by, and through the parts
        # they keep the paths of files written before backbones existed
        # (`embedding/`, `layers/<switcher>/`; see
        # tests/models/legacy_files_test.py), so files of either age load.
        # `__dir__` hides the backbone from that walk for the same reason.
        object.__setattr__(self, "backbone", backbone)
        self.graph_encoder = graph_encoder
        self.switcher = None if backbone is None else backbone.switcher
        self.embedding = None if backbone is None else backbone.embedding
        if self.output_head is not None and self.output_head.reads_shared_representation:
            if self.backbone is None:
                raise ValueError(
                    f"{self.output_head.name} reads the backbone's shared representation, and "
                    f"{type(self).__name__} has none (each task has a model of its own)."
                )
        self.tower_units = [int(u) for u in tower_units]
        self.tower_dropout = tower_dropout
        self.towers = self.make_towers()
        self.output_activations = {t.name: keras.activations.get(t.activation) for t in self.tasks}
        self.loss_weighting = get_loss_weighting(loss_weighting, self.task_names)
        # The fixed weights the model is built with; `compile(loss_weights=)`
        # trains with others (saved in the compile config, not here).
        self.built_loss_weights = (
            self.loss_weighting.task_weights()
            if isinstance(self.loss_weighting, FixedLossWeights)
            else None
        )
        # Per-task losses in the training logs ("income_loss", "val_income_loss").
        self.task_loss_trackers = {
            t.name: keras.metrics.Mean(name=f"{t.name}_loss") for t in self.tasks
        }
        self.task_loss_functions = {t.name: t.loss() for t in self.tasks}
        self.bias_tower_feature = bias_tower_feature
        self.bias_tower_units = [int(u) for u in bias_tower_units]
        self.ranking_weights = _check_ranking_weights(ranking_weights, self.tasks)

    @classmethod
    def from_preset(cls, name, load_weights=True, **kwargs):
        """A model of this class from a preset (`zoo.presets.list_presets()` lists them).

        `zoo.models.MMoE.from_preset("mmoe_census_income")` is the trained
        MMoE shipped with the package; with `load_weights=False` and your
        `preprocessor`, a fresh one with the preset's architecture. See
        `zoo.presets.from_preset`.

        Raises:
            ValueError: the preset is of another model class.
        """
        from zoo import presets  # presets name model classes: imported on use, no cycle

        model = presets.from_preset(name, load_weights=load_weights, **kwargs)
        if not isinstance(model, cls):
            raise ValueError(
                f"Preset {name!r} is a {type(model).__name__}, not a {cls.__name__}. "
                f"{cls.__name__}'s presets: {list(presets.list_presets(model=MODELS.name_of(cls)))}"
            )
        return model

    # Whether `graph_encoder` (the "+MGNN" input) fits the model's switcher input.
    supports_graph_encoder = True

    def make_towers(self):
        """Dict of the towers `head_logits` reads: one per branch, named after it."""
        by_name = {t.name: t for t in self.tasks}
        towers = {}
        for name in self.branch_names():
            units = self.tower_units
            if self.routing_head is not None:
                units = self.routing_head.tower_units_of(name, default=self.tower_units)
            towers[name] = Tower(
                units,
                output_units=self.tower_output_units(by_name[self.task_of_output(name)]),
                dropout=self.tower_dropout,
                kernel_regularizer=self.tower_kernel_regularizer(),
                name=f"tower_{name}",
            )
        return towers

    def tower_kernel_regularizer(self):
        """The towers' kernel regularizer: none, unless a model's loss has one (MoGENet's L2)."""
        return None

    def tower_output_units(self, task):
        """Logits of a task's tower: the task's own, unless the output head splits it (DLEN:
        two)."""
        if self.output_head is not None:
            return self.output_head.tower_output_units(task)
        return task.output_units

    def backbone_features(self):
        """The features the switcher sees: all but those serving cannot know."""
        omitted = set(self.serving_omitted_features())
        return [f for f in self.features if f["name"] not in omitted]

    def make_embedding(self):
        """The layer that turns the backbone features into the switcher's input.

        One concatenated vector (`FeatureEmbedding`), unless the switcher
        needs the fields apart (AutoMTL: `FieldEmbedding`).
        """
        return FeatureEmbedding(self.backbone_features(), name="embedding")

    def make_backbone(self, switcher, graph_encoder):
        """The backbone around `switcher`; `None` without one (NGCF: a graph model per task)."""
        if switcher is None:
            return None
        return MultiTaskBackbone(
            self.backbone_features(),
            switcher,
            embedding=self.make_embedding(),
            graph_encoder=graph_encoder,
            name="backbone",
        )

    def _check_backbone(self, backbone):
        if backbone is None:
            return None
        expected = [f["name"] for f in self.backbone_features()]
        given = [f["name"] for f in backbone.features]
        if given != expected:
            raise ValueError(
                f"The backbone embeds the features {given}, and the model gives it {expected} "
                "(its features without those the heads keep out of the backbone)."
            )
        return backbone

    # Keras' saving walks `dir()`; see where `backbone` is set in __init__.
    def __dir__(self):
        return [name for name in super().__dir__() if name != "backbone"]

    def build(self, input_shape=None):
        # Run the sublayers once on a one-row dummy batch so every weight
        # exists; `.keras` loading and `count_params` need that before the
        # first real call.
        self.call(
            dummy_inputs(self.features)
        )  # every sublayer a subclass's call uses, not only the towers
        if self.loss_weighting.combines_gradients:
            # PCGrad, MetaBalance: refuse a switcher that shares nothing; MetaBalance
            # sizes its moving averages to the shared weights before it builds.
            shared = self.switcher.shared_weights() if self.switcher is not None else []
            self.loss_weighting.bind_shared_weights(shared, type(self).__name__)
        if not self.loss_weighting.built:  # a loaded weighting arrives built
            self.loss_weighting.build()
        if self.loss_weighting.uses_gradient_norms and not self.switcher.shared_weights():
            raise ValueError(
                f"GradNorm needs weights shared by all tasks, and {type(self).__name__}'s "
                "switcher has none. Use another loss weighting for this model."
            )
        self.built = True

    # build() needs no input shape (the feature list says it all), so the
    # build config only records that the model was built.
    def get_build_config(self):
        return {"built": True} if self.built else None

    def build_from_config(self, config):
        if config:
            self.build()

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    def task_representations(self, inputs, training=None, return_gate_weights=False):
        """Per-task inputs of the towers (and the gate weights, on request)."""
        return self.backbone(inputs, training=training, return_gate_weights=return_gate_weights)

    def embed(self, inputs, training=None):
        """The backbone's shared representation: the switcher's input."""
        return self.backbone.shared_representation(inputs, training=training)

    def graph_vector(self, inputs, training=None):
        """The graph encoder's representations of the pair, concatenated; `None` without one."""
        return self.backbone.graph_vector(inputs, training=training)

    def task_logits(self, inputs, training=None):
        """Dict from task name to the tower's logits `(batch, output_units)`.

        The logit heads (a routing head, a bias tower, a selection-bias
        shallow tower) are applied; with a routing head, every branch's
        logits are there too, under the branch's name.
        """
        return self.apply_heads(self.head_logits(inputs, training=training), inputs, training)

    def head_logits(self, inputs, training=None):
        """Dict from branch name (the task's, without a routing head) to its tower's logits,
        before any head."""
        branches = self.task_representations(inputs, training=training)
        return {
            name: self.towers[name](h, training=training)
            for name, h in zip(self.branch_names(), branches)
        }

    def call(self, inputs, training=None):
        outputs = self.all_outputs(inputs, training=training)
        names = self.task_names
        if training and self.output_head is not None:
            # What the head's label loss reads (ESCM2's pCVR); compute_loss takes it.
            names = [*names, *self.output_head.label_loss_outputs()]
        return {name: outputs[name] for name in names}

    def all_outputs(self, inputs, training=None):
        """The tasks' predictions and the output head's extra outputs, from preprocessed
        inputs."""
        return self.predictions(self.task_logits(inputs, training=training), inputs, training)

    def output_activation(self, task_name, logits):
        """The task's activation on its logits, in float32.

        Under a mixed-precision policy the layers compute in float16 or
        bfloat16; the probabilities, the losses and the served outputs stay
        float32 (bfloat16 has 8 bits of mantissa: a probability of 0.999
        would round to 1.0 and its cross-entropy to infinity).
        """
        return self.output_activations[task_name](ops.cast(logits, "float32"))

    def _built_loss_weighting_config(self):
        """The loss weighting as built: weights a compile set are in the compile config."""
        config = keras.layers.serialize(self.loss_weighting)
        if self.built_loss_weights is not None:
            config["config"]["weights"] = dict(self.built_loss_weights)
        return config

    def get_config(self):
        # Base keras.Model config holds name and trainable only.
        config = {"name": self.name, "trainable": self.trainable}
        config.update(
            {
                "tasks": [t.to_config() for t in self.tasks],
                "features": self.features,
                "preprocessor": (
                    keras.layers.serialize(self.preprocessor) if self.preprocessor else None
                ),
                "tower_units": self.tower_units,
                "tower_dropout": self.tower_dropout,
                "loss_weighting": self._built_loss_weighting_config(),
                "bias_tower_feature": self.bias_tower_feature,
                "bias_tower_units": self.bias_tower_units,
                # Heads given as heads= (Biasnet's and YouTube's come from their own arguments).
                "heads": [
                    keras.layers.serialize(h)
                    for h in self.task_heads
                    if h.name not in BUILT_IN_HEADS
                ],
                "ranking_weights": self.ranking_weights,
                "graph_encoder": (
                    keras.layers.serialize(self.graph_encoder) if self.graph_encoder else None
                ),
            }
        )
        if type(self) is MultiTaskModel:
            # The whole backbone (a custom embedding included); its graph encoder with it.
            config["backbone"] = keras.layers.serialize(self.backbone)
            config["graph_encoder"] = None
        return config


def resolve_features(features, preprocessor):
    """The model's feature list: `features` if given, else the preprocessor's."""
    if features is not None:
        return features
    if preprocessor is None:
        raise ValueError("Pass `features` or an adapted `preprocessor`.")
    return preprocessor.embedding_features()


def _check_ranking_weights(ranking_weights, tasks):
    if not ranking_weights:
        return None
    by_name = {t.name: t for t in tasks}
    if "ranking_score" in by_name:
        raise ValueError("A task named 'ranking_score' would clash with the ranking score output.")
    ranking_weights = dict(ranking_weights)
    single_output_task_names(
        list(ranking_weights),
        tasks,
        "ranking_weights",
        "only binary and regression predictions add up to a score",
    )
    return {name: float(weight) for name, weight in ranking_weights.items()}
