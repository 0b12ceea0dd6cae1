"""Training a multi-task model: per-task masked losses, combined by its loss weighting.

Also `compile` as Keras takes it (`zoo.models.compile_arguments` reads the
arguments) and GradNorm's training step, which needs each task's gradient
norm on the shared weights.
"""

import keras
import tensorflow as tf
from keras import ops

from zoo.distribute import replica_share
from zoo.models import compile_arguments

# compile()'s steps per call into the compiled step (Keras' default is 1).
DEFAULT_STEPS_PER_EXECUTION = 8


class TaskTraining:
    """A mixin of `MultiTaskModel`: its losses, training step and `compile`.

    It needs the model's `tasks`, `task_loss_functions`, `task_loss_trackers`,
    `loss_weighting`, `built_loss_weights` and `switcher`.
    """

    def task_losses(self, y, y_pred, sample_weight=None, track=True):
        """List of scalar losses, one per task in order, each over the rows with a label.

        Args:
            y: dict from task name to labels.
            y_pred: dict from task name to the model's outputs.
            sample_weight: `None`, one `(batch,)` weight for every task, or a
                dict from task name to `(batch,)` or `(batch, 1)` weights; 0
                marks a missing label.
            track: add the losses to the per-task loss trackers (the
                `<task>_loss` logs); a search's validation pass does not.
        """
        if sample_weight is not None and not isinstance(sample_weight, dict):
            sample_weight = {t.name: sample_weight for t in self.tasks}
        losses = []
        for task in self.tasks:
            labels = y[task.name]
            if task.output_units == 1:
                # `(batch,)` labels, as Keras users pass them, against `(batch, 1)` outputs.
                labels = ops.reshape(labels, (-1, 1))
            # Loss.call gives the unreduced per-row loss, shape (batch,).
            per_row = self.task_loss_functions[task.name].call(labels, y_pred[task.name])
            weight = None if sample_weight is None else sample_weight.get(task.name)
            if weight is None:
                count = ops.cast(ops.shape(per_row)[0], per_row.dtype)
                # An empty batch adds 0, not NaN: a worker whose shards of an
                # unevenly sharded split have run out still takes part in the
                # step with no rows.
                value = ops.divide_no_nan(ops.sum(per_row), count)
            else:
                weight = ops.reshape(ops.cast(weight, per_row.dtype), (-1,))
                count = ops.sum(weight)
                # A batch without any label of this task adds 0, not NaN.
                value = ops.divide_no_nan(ops.sum(weight * per_row), count)
            if track:
                self.task_loss_trackers[task.name].update_state(value, sample_weight=count)
            losses.append(value)
        return losses

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task_losses = self.task_losses(y, y_pred, sample_weight)
        head_loss = self.head_label_loss(y, y_pred, sample_weight) if training else None
        return self._total_loss(task_losses, training, head_loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # The metrics are the tasks'; a head's training outputs (ESCM2's pCVR) have none.
        if isinstance(y_pred, dict):
            y_pred = {name: y_pred[name] for name in self.task_names}
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def head_label_loss(self, y, y_pred, sample_weight=None):
        """The output head's label loss (`OutputHead.label_loss`) on this batch, or `None`."""
        head = self.output_head
        if head is None:
            return None
        labels = {}
        weights = {}
        for task in self.tasks:
            labels[task.name] = ops.reshape(ops.cast(y[task.name], "float32"), (-1, 1))
            weight = sample_weight
            if isinstance(sample_weight, dict):
                weight = sample_weight.get(task.name)
            if weight is None:
                weight = ops.ones_like(labels[task.name][:, 0])
            weights[task.name] = ops.reshape(ops.cast(weight, "float32"), (-1,))
        return head.label_loss(labels, y_pred, weights)

    def _total_loss(self, task_losses, training, head_loss=None):
        """The weighted task losses plus the head's label loss and the layers' added losses.

        The added losses are regularizers, SNR's L0 penalty, AITM's
        calibrator and the like. Under a `tf.distribute` strategy with
        several replicas, each replica's share of the total
        (`zoo.distribute.replica_share`).
        """
        loss = self.loss_weighting(task_losses, training=training)
        other = self._non_task_loss(head_loss)
        if other is not None:
            loss = loss + other
        return replica_share(loss)

    def _non_task_loss(self, head_loss=None):
        """The head's label loss plus the layers' added losses, in float32; `None`: neither."""
        terms = [] if head_loss is None else [ops.cast(head_loss, "float32")]
        if self.losses:
            # Added losses come in the layers' compute dtype (bfloat16 under
            # a mixed policy): summed in float32.
            terms.append(ops.sum(ops.stack([ops.cast(x, "float32") for x in self.losses])))
        return sum(terms[1:], terms[0]) if terms else None

    def train_step(self, data):
        if self.loss_weighting.combines_gradients:
            if tf.distribute.get_strategy().num_replicas_in_sync > 1:
                raise ValueError(
                    f"{type(self.loss_weighting).__name__} loss weighting trains on one replica "
                    "only: it combines the tasks' gradients on the shared weights, and under a "
                    "tf.distribute strategy each replica would combine its own gradients before "
                    "they are summed, which is not the method. Use another loss weighting with "
                    "a strategy of several replicas."
                )
            return self._combined_gradients_train_step(data)
        if not self.loss_weighting.uses_gradient_norms:
            return super().train_step(data)
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            # Each replica would balance the tasks on its own gradient norms.
            raise ValueError(
                "GradNorm loss weighting trains on one replica only: it balances the tasks on "
                "gradient norms that a distributed step would compute per replica. Use "
                "loss_weighting='uncertainty' or fixed weights with a tf.distribute strategy."
            )
        return self._gradient_norm_train_step(data)

    def _gradient_norm_train_step(self, data):
        # GradNorm: besides the usual gradient, each task's gradient norm on
        # the weights all tasks share, from which the weighting computes
        # the gradient of its own weights (zoo.losses.GradNorm).
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            task_losses = self.task_losses(y, y_pred, sample_weight)
            head_loss = self.head_label_loss(y, y_pred, sample_weight)
            loss = self._total_loss(task_losses, training=True, head_loss=head_loss)
            scaled_loss = self.optimizer.scale_loss(loss)
        # Asked after the forward pass: a model's weights exist only once it
        # has run (build() has checked that there are some).
        shared = self.switcher.shared_weights()
        batch_size = ops.shape(next(iter(x.values())))[0]
        self._loss_tracker.update_state(loss, sample_weight=batch_size)
        norms = ops.stack(
            [
                tf.linalg.global_norm(
                    [g for g in tape.gradient(task_loss, shared) if g is not None]
                )
                for task_loss in task_losses
            ]
        )
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        del tape
        weighting_variables = self.loss_weighting.trainable_variables
        with tf.GradientTape() as weighting_tape:
            balance_loss = self.loss_weighting.balance_loss(task_losses, norms)
        by_variable = dict(
            zip(
                (id(v) for v in weighting_variables),
                weighting_tape.gradient(balance_loss, weighting_variables),
            )
        )
        gradients = [by_variable.get(id(v), g) for v, g in zip(variables, gradients)]
        self.optimizer.apply_gradients(zip(gradients, variables))
        self.loss_weighting.renormalize()
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _combined_gradients_train_step(self, data):
        # PCGrad, MetaBalance: each task's own gradient on the weights all
        # tasks share, which the weighting combines (zoo.losses.PCGrad);
        # the other weights train on the sum of the task gradients, and the
        # other loss terms add their ordinary gradient everywhere.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            task_losses = self.task_losses(y, y_pred, sample_weight)
            head_loss = self.head_label_loss(y, y_pred, sample_weight)
            loss = self._total_loss(task_losses, training=True, head_loss=head_loss)
            scaled_task_losses = [self.optimizer.scale_loss(t) for t in task_losses]
            other = self._non_task_loss(head_loss)
            scaled_other = None if other is None else self.optimizer.scale_loss(other)
            scaled_total = ops.sum(ops.stack(scaled_task_losses))
            if scaled_other is not None:
                scaled_total = scaled_total + scaled_other
        batch_size = ops.shape(next(iter(x.values())))[0]
        self._loss_tracker.update_state(loss, sample_weight=batch_size)
        # Asked after the forward pass: a model's weights exist only once it
        # has run (build() has checked that there are some).
        shared = self.switcher.shared_weights()

        def dense(gradients):
            # A task that does not reach a shared weight has no gradient there: 0.
            return [
                ops.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                for g, v in zip(gradients, shared)
            ]

        task_gradients = [
            dense(tape.gradient(task_loss, shared)) for task_loss in scaled_task_losses
        ]
        combined = self.loss_weighting.combine_gradients(task_gradients)
        if scaled_other is not None:
            other_gradients = dense(tape.gradient(scaled_other, shared))
            combined = [c + g for c, g in zip(combined, other_gradients)]
        by_variable = dict(zip((id(v) for v in shared), combined))
        variables = self.trainable_variables
        rest = [v for v in variables if id(v) not in by_variable]
        # Sparse (embedding) gradients stay sparse here: only shared weights are densified.
        by_variable.update(zip((id(v) for v in rest), tape.gradient(scaled_total, rest)))
        del tape
        gradients = [by_variable[id(v)] for v in variables]
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def compile(
        self,
        optimizer="adam",
        loss=None,
        loss_weights=None,
        metrics=None,
        jit_compile="auto",
        steps_per_execution=DEFAULT_STEPS_PER_EXECUTION,
        **kwargs,
    ):
        """`keras.Model.compile`, taking `loss`, `loss_weights` and `metrics` as Keras does.

        The training loss is the model's `loss_weighting` over per-task
        losses, each the mean over the rows that have the task's label.
        Two defaults differ from Keras', for speed on the CPU as on a GPU:
        XLA is on, and `steps_per_execution` is 8.

        Args:
            optimizer: as Keras takes it; Adam with learning rate 1e-3 by default.
            loss: `None` (per task: binary or sparse categorical
                cross-entropy, or MSE by the task's type), one loss for every
                task, a list in task order, or a dict from task name to a
                loss; a loss is a name, a function or a `keras.losses.Loss`.
            loss_weights: `None`, a list in task order or a dict from task
                name to weight: fixed weights of the task losses. A model
                that learns its weights (`loss_weighting="uncertainty"` or
                `"gradnorm"`) or was built with other fixed weights refuses
                them, pointing to `loss_weighting=`.
            metrics: `None` (per task: AUC, accuracy or MSE), `[]` (none), a
                list for every task (`["auc"]`), a list of lists in task
                order, or a dict from task name to metrics.
            jit_compile: `"auto"` compiles the steps with XLA except for a
                graph model (its sub-graph sampling is not XLA code) and
                under a `tf.distribute` strategy, where Keras' own `"auto"`
                turns XLA off too; Keras' `"auto"` also turns it off on every
                CPU-only machine, where MMoE's training step then takes 1.6x
                as long (8.4 against 5.1 ms for a batch of 1024 on two
                cores). `True` or `False` as Keras takes them.
            steps_per_execution: training steps per call into the compiled
                step. Keras' default, 1, pays the loop's cost of a call on
                every batch; with 8, and the features handed over packed,
                MMoE on Census-Income trained on less CPU time per sample
                (`bench/machine_efficiency.py` prints the ratio). Callbacks
                then see the batches 8 at a time.
            **kwargs: the other `keras.Model.compile` arguments
                (`weighted_metrics`, `run_eagerly`, ...).
        """
        self.task_loss_functions = compile_arguments.task_losses(loss, self.tasks)
        weights = compile_arguments.fixed_loss_weights(
            loss_weights, self.loss_weighting, self.built_loss_weights
        )
        if weights is not None:
            self.loss_weighting.weights_by_task = weights
        metrics = compile_arguments.task_metrics(metrics, self.tasks)
        # No metric at all means none: Keras would otherwise build an empty
        # metric container from the first batch.
        metrics = {name: m for name, m in metrics.items() if m}
        if jit_compile == "auto":
            jit_compile = not self.uses_graph and not tf.distribute.has_strategy()
        super().compile(
            optimizer=optimizer,
            metrics=metrics or None,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        if not metrics:
            # Keras keeps an earlier compile's metrics when given none.
            self._compile_metrics = None
        # Keras records only the arguments it was given; the losses go into
        # the saved compile config too, so a reloaded model trains on them.
        self._zoo_compile_arguments = {"loss": loss, "loss_weights": loss_weights}

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and hasattr(self, "_zoo_compile_arguments"):
            config.update(keras.saving.serialize_keras_object(self._zoo_compile_arguments))
        return config

    def compile_from_config(self, config):
        # Needed because compile() is overridden: Keras skips re-compiling a
        # loaded model otherwise.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)
