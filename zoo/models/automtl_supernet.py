import keras
import tensorflow as tf
from keras import ops

from zoo.api import register
from zoo.layers.features.field_embedding import FieldEmbedding
from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS
from zoo.layers.switchers.automtl_search import AutoMTLSearchSwitcher
from zoo.models.multitask_model import MultiTaskModel, resolve_features


@register
class AutoMTLSupernet(MultiTaskModel):
    """The AutoMTL supernet, with the search step of Algorithm 1 as its `train_step`.

    Field embeddings -> `AutoMTLSearchSwitcher` (searchable interaction
    block, heterogeneous searchable experts, expert selection) -> towers.
    `fit` on a dataset of `(training batch, validation batch)` pairs runs,
    per step, first-order DARTS:

    1. architecture step: alpha <- alpha - grad of the validation loss
       (`architecture_optimizer`; network weights and beta untouched);
    2. weight step: network weights <- SGD on the training loss plus the
       weighted JSD loss, and beta with `selection_optimizer` once the
       warm-up is over (alpha untouched).

    The JSD weight decays linearly from `jsd_weight` to 0 between the end
    of the warm-up and the last step, and the DARTS- auxiliary skip weight
    from 1 to 0 over the whole search (when `auxiliary_skip`).
    `zoo.search.search_automtl` builds the paired dataset and the
    optimizers; `derive()` reads the architecture off alpha and beta.

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        field_dim: width of every field vector (categorical embeddings and
            the numeric features' linear maps).
        interaction_ops, expert_ops, num_experts, num_blocks, expert_width,
        expert_selection, shared_expert_architecture, jsd_weight, seed, gate: see
            `zoo.layers.AutoMTLSearchSwitcher`.
        tower_units: task tower widths; the paper's (128, 64).
        **kwargs: `MultiTaskModel` keyword arguments.

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", Algorithm 1.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        field_dim=8,
        interaction_ops=INTERACTION_OPS,
        expert_ops=EXPERT_OPS,
        num_experts=8,
        num_blocks=3,
        expert_width=64,
        expert_selection=True,
        shared_expert_architecture=False,
        jsd_weight=1.0,
        tower_units=(128, 64),
        seed=None,
        gate=None,
        **kwargs,
    ):
        # Needed before the base class: the switcher is built for this many fields.
        features = resolve_features(features, preprocessor)
        self.field_dim = int(field_dim)
        self.seed = seed
        switcher = AutoMTLSearchSwitcher(
            len(tasks),
            num_fields=len(features),
            field_dim=self.field_dim,
            interaction_ops=interaction_ops,
            expert_ops=expert_ops,
            num_experts=num_experts,
            num_blocks=num_blocks,
            expert_width=expert_width,
            expert_selection=expert_selection,
            shared_expert_architecture=shared_expert_architecture,
            jsd_weight=jsd_weight,
            seed=seed,
            gate=gate,
            name="switcher",
        )
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            **kwargs,
        )
        self.search_val_loss_tracker = keras.metrics.Mean(name="search_val_loss")
        self.architecture_optimizer = None
        self.selection_optimizer = None
        self.configure_search(total_steps=1, warmup_steps=0, auxiliary_skip=True)

    supports_graph_encoder = False  # the fields stay apart (FieldEmbedding)

    def make_embedding(self):
        return FieldEmbedding(self.backbone_features(), self.field_dim, name="embedding")

    # ------------------------------------------------------------------
    # Which variable is which, and how each is trained.
    # ------------------------------------------------------------------

    def architecture_variables(self):
        """alpha: trained on the validation loss only."""
        return self.switcher.architecture_weights()

    def selection_variables(self):
        """beta: trained on the training loss (and JSD) after the warm-up."""
        return self.switcher.selection_weights()

    def network_variables(self):
        """Every other trainable variable: embeddings, candidates, towers, gates."""
        special = {id(v) for v in self.architecture_variables() + self.selection_variables()}
        return [v for v in self.trainable_variables if id(v) not in special]

    def configure_search(self, total_steps, warmup_steps, auxiliary_skip=True):
        """Sets the schedules' lengths in steps (before `fit`; they are traced as constants)."""
        if total_steps < 1 or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                "Expected total_steps >= 1 and 0 <= warmup_steps < total_steps. Received: "
                f"total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        self.total_search_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.auxiliary_skip = bool(auxiliary_skip)

    def compile(
        self,
        optimizer="sgd",
        architecture_optimizer="adam",
        selection_optimizer="adam",
        **kwargs,
    ):
        """`MultiTaskModel.compile` with the two extra optimizers of the search.

        `optimizer` trains the network weights, `architecture_optimizer` alpha
        and `selection_optimizer` beta. Each is built here on its own
        variables, so none ever touches another's. No compiled metrics: the
        search logs its losses (exact AUCs come from evaluating the derived
        model).
        """
        kwargs.setdefault("metrics", [])
        super().compile(optimizer=optimizer, **kwargs)
        if not self.built:
            self.build()
        self.architecture_optimizer = keras.optimizers.get(architecture_optimizer)
        self.selection_optimizer = keras.optimizers.get(selection_optimizer)
        self.optimizer.build(self.network_variables())
        self.architecture_optimizer.build(self.architecture_variables())
        if self.selection_variables():
            self.selection_optimizer.build(self.selection_variables())

    # ------------------------------------------------------------------
    # One search step.
    # ------------------------------------------------------------------

    def schedule(self, step):
        """`(jsd_weight, skip_weight, selection_on)` at a (0-based) step, as float tensors."""
        step = ops.cast(step, "float32")
        total = float(self.total_search_steps)
        warmup = float(self.warmup_steps)
        selection_on = ops.cast(step >= warmup, "float32")
        decay = ops.clip(1.0 - (step - warmup) / max(total - warmup, 1.0), 0.0, 1.0)
        jsd = self.switcher.jsd_weight * selection_on * decay
        skip = ops.clip(1.0 - step / total, 0.0, 1.0) if self.auxiliary_skip else 0.0 * step
        return jsd, skip, selection_on

    def architecture_step(self, data):
        """Updates alpha on a validation batch (preprocessed features); returns its loss."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.architecture_variables()
        with tf.GradientTape() as tape, self.preprocessed_inputs():
            y_pred = self(x, training=True)
            losses = self.task_losses(y, y_pred, sample_weight, track=False)
            loss = self.loss_weighting(losses, training=False)
        gradients = tape.gradient(loss, variables)
        self.architecture_optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def weight_step(self, data, selection_on=1.0):
        """Updates the network weights, and beta scaled by `selection_on`, on a training batch.

        `data` holds preprocessed features, as the search's pipeline gives them.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        network = self.network_variables()
        selection = self.selection_variables()
        with tf.GradientTape() as tape, self.preprocessed_inputs():
            y_pred = self(x, training=True)
            losses = self.task_losses(y, y_pred, sample_weight)
            loss = self._total_loss(losses, training=True)  # + JSD (add_loss)
        gradients = tape.gradient(loss, network + selection)
        self.optimizer.apply_gradients(zip(gradients[: len(network)], network))
        if selection:
            # beta's optimizer steps only after the warm-up, as in the authors'
            # trainer. A step with zero gradients moves nothing but still counts
            # in Adam's bias correction: after 245 warm-up steps, 245 steps of
            # gradient 1 moved beta 0.497 instead of a fresh Adam's 0.245.
            selection_gradients = gradients[len(network) :]

            def selection_step():
                self.selection_optimizer.apply_gradients(zip(selection_gradients, selection))
                return ops.convert_to_tensor(True)

            ops.cond(selection_on > 0, selection_step, lambda: ops.convert_to_tensor(False))
        return loss

    def train_step(self, data):
        train_batch, validation_batch = data
        jsd, skip, selection_on = self.schedule(self.optimizer.iterations)
        if self.switcher.expert_selection:
            self.switcher.selection.jsd_weight.assign(jsd)
        self.switcher.skip_weight.assign(skip)
        validation_loss = self.architecture_step(validation_batch)
        loss = self.weight_step(train_batch, selection_on)
        self.search_val_loss_tracker.update_state(validation_loss)
        self._loss_tracker.update_state(loss)
        logs = {m.name: m.result() for m in self.metrics}
        logs.update({"jsd_weight": jsd, "skip_weight": skip})
        return logs

    # ------------------------------------------------------------------
    # Derive (Algorithm 1, lines 10-12).
    # ------------------------------------------------------------------

    def derive(self, num_selected):
        """The derived architecture: argmax operation per block, top experts per task.

        Args:
            num_selected: experts kept per task (c), by beta; ignored (all
                kept, gated) without expert selection.

        Returns:
            A JSON-ready dict that `zoo.models.AutoMTL(architecture=...)`
            rebuilds, with the softmax weights the choice was read from.
        """
        import numpy as np

        switcher = self.switcher
        expert_ops = switcher.expert_ops
        expert_weights = np.asarray(ops.softmax(switcher.expert_alpha, axis=-1))
        if switcher.shared_expert_architecture:
            expert_weights = np.repeat(expert_weights, switcher.num_experts, axis=0)
        architecture = {
            "tasks": [t.to_config() for t in self.tasks],
            "field_dim": self.field_dim,
            "expert_width": switcher.expert_width,
            "interaction": None,
            "experts": [
                [expert_ops[int(np.argmax(w))] for w in blocks] for blocks in expert_weights
            ],
            "task_experts": {},
            "tower_units": self.tower_units,
            "search_weights": {
                "interaction": None,
                "experts": [
                    [{op: round(float(v), 5) for op, v in zip(expert_ops, w)} for w in blocks]
                    for blocks in expert_weights
                ],
                "selection": None,
            },
        }
        if switcher.interaction is not None:
            weights = np.asarray(ops.softmax(switcher.interaction_alpha))
            architecture["interaction"] = switcher.interaction_ops[int(np.argmax(weights))]
            architecture["search_weights"]["interaction"] = {
                op: round(float(v), 5) for op, v in zip(switcher.interaction_ops, weights)
            }
        if switcher.expert_selection:
            if not 1 <= int(num_selected) <= switcher.num_experts:
                raise ValueError(
                    f"Expected 1 <= num_selected <= {switcher.num_experts}. "
                    f"Received: num_selected={num_selected}"
                )
            probabilities = np.asarray(switcher.selection.probabilities())
            architecture["search_weights"]["selection"] = {
                t.name: [round(float(p), 5) for p in row]
                for t, row in zip(self.tasks, probabilities)
            }
            for t, row in zip(self.tasks, probabilities):
                # Stable order: highest beta first, ties by index.
                top = sorted(range(len(row)), key=lambda i: (-row[i], i))[: int(num_selected)]
                architecture["task_experts"][t.name] = sorted(top)
        else:
            every = list(range(switcher.num_experts))
            architecture["task_experts"] = {t.name: every for t in self.tasks}
        return architecture

    def get_config(self):
        config = super().get_config()
        switcher = self.switcher
        config.update(
            {
                "field_dim": self.field_dim,
                "interaction_ops": switcher.interaction_ops,
                "expert_ops": switcher.expert_ops,
                "num_experts": switcher.num_experts,
                "num_blocks": switcher.num_blocks,
                "expert_width": switcher.expert_width,
                "expert_selection": switcher.expert_selection,
                "shared_expert_architecture": switcher.shared_expert_architecture,
                "jsd_weight": switcher.jsd_weight,
                "seed": self.seed,
                "gate": switcher.gate,
            }
        )
        return config
