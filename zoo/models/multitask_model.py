import keras

from zoo.api import register
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.towers.tower import Tower
from zoo.tasks import as_tasks


@register
class MultiTaskModel(keras.Model):
    """Input embedding -> switcher -> one tower per task -> named outputs.

    Every zoo model is this pipeline with a different switcher (the part
    that decides what each task sees: a shared bottom, a mixture of
    experts, CGC, PLE, ...). Subclasses only build their switcher; input
    handling, towers, outputs, gate inspection and `compile` defaults live
    here once.

    The model takes preprocessed features (ids and normalized floats from
    `zoo.features.FeaturePreprocessor`), which keeps every step of training
    XLA-compilable. The preprocessor travels with the model (it is saved in
    the `.keras` file) so that export can put it in front of the model.

    Args:
        tasks: list of `zoo.tasks.Task` (or config dicts, or names of binary
            tasks).
        switcher: a switcher layer with `num_tasks` outputs.
        features: the `FeatureEmbedding` feature list; defaults to
            `preprocessor.embedding_features()`.
        preprocessor: an adapted `FeaturePreprocessor`, or `None`.
        tower_units: list of int, hidden widths of every task tower.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments, e.g. `name`.

    Call arguments:
        inputs: dict of preprocessed features.
        training: bool.

    Returns:
        Dict from task name to `(batch, 1)` predictions: probabilities for
        binary tasks, values for regression tasks.
    """

    def __init__(
        self,
        tasks,
        switcher,
        features=None,
        preprocessor=None,
        tower_units=(16,),
        tower_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tasks = as_tasks(tasks)
        if isinstance(switcher, dict):
            switcher = keras.layers.deserialize(switcher)
        if isinstance(preprocessor, dict):
            preprocessor = keras.layers.deserialize(preprocessor)
        if features is None:
            if preprocessor is None:
                raise ValueError("Pass `features` or an adapted `preprocessor`.")
            features = preprocessor.embedding_features()
        if getattr(switcher, "num_tasks", len(self.tasks)) != len(self.tasks):
            raise ValueError(
                f"The switcher has {switcher.num_tasks} outputs but there are "
                f"{len(self.tasks)} tasks: {[t.name for t in self.tasks]}"
            )
        self.features = [dict(f) for f in features]
        # Kept out of Keras' layer tracking on purpose: the lookups inside
        # are string ops that XLA cannot compile, and a tracked sublayer
        # would switch XLA off for the whole model (Keras checks every
        # tracked layer's `supports_jit`). It is saved through get_config.
        object.__setattr__(self, "preprocessor", preprocessor)
        self.switcher = switcher
        self.tower_units = [int(u) for u in tower_units]
        self.tower_dropout = tower_dropout
        self.embedding = FeatureEmbedding(self.features, name="embedding")
        self.towers = {
            t.name: Tower(self.tower_units, dropout=tower_dropout, name=f"tower_{t.name}")
            for t in self.tasks
        }
        self.output_activations = {t.name: keras.activations.get(t.activation) for t in self.tasks}

    def build(self, input_shape=None):
        # Run the sublayers once on a one-row dummy batch so every weight
        # exists; `.keras` loading and `count_params` need that before the
        # first real call.
        dummy = {
            f["name"]: keras.ops.zeros(
                (1,), dtype="int32" if f["kind"] == "categorical" else "float32"
            )
            for f in self.features
        }
        self.task_logits(dummy)
        self.built = True

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    def task_representations(self, inputs, training=None, return_gate_weights=False):
        """Per-task inputs of the towers (and the gate weights, on request)."""
        x = self.embedding(inputs)  # (batch, input_dim)
        return self.switcher(x, training=training, return_gate_weights=return_gate_weights)

    def task_logits(self, inputs, training=None):
        """Dict from task name to the tower's logits `(batch, 1)`."""
        branches = self.task_representations(inputs, training=training)
        return {
            t.name: self.towers[t.name](h, training=training) for t, h in zip(self.tasks, branches)
        }

    def call(self, inputs, training=None):
        logits = self.task_logits(inputs, training=training)
        return {name: self.output_activations[name](z) for name, z in logits.items()}

    def gate_weights(self, inputs):
        """Dict from gate name to `(batch, experts)` weights; task gates by task name."""
        _, weights = self.task_representations(inputs, return_gate_weights=True)
        return {self._gate_display_name(name): w for name, w in weights.items()}

    def _gate_display_name(self, name):
        # Switchers name gates "task_k" (or "level_l/task_k"); show the task.
        prefix, _, last = name.rpartition("/")
        if last.startswith("task_") and last[5:].isdigit():
            last = self.tasks[int(last[5:])].name
        return f"{prefix}/{last}" if prefix else last

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with per-task defaults.

        Unless given, the loss of each task follows its type (binary
        cross-entropy or MSE), metrics are AUC or MSE per task, and the
        optimizer is Adam with learning rate 1e-3.
        """
        if loss is None:
            loss = {t.name: t.loss() for t in self.tasks}
        if metrics is None:
            metrics = {t.name: t.metrics() for t in self.tasks}
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Needed because compile() is overridden: Keras skips re-compiling a
        # loaded model otherwise.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

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
            }
        )
        if type(self) is MultiTaskModel:
            config["switcher"] = keras.layers.serialize(self.switcher)
        return config
