"""Workarounds that let Keras 3.15's `model.fit` train under `MultiWorkerMirroredStrategy`.

On TensorFlow 2.21 with Keras 3.15, `fit`, `evaluate` and `predict` of any
Keras model fail under `tf.distribute.MultiWorkerMirroredStrategy` with
more than one worker (tensorflow/tensorflow#72388), in two places of
`keras/src/backend/tensorflow/trainer.py`:

1. Before the first step, `_maybe_symbolic_build` passes the first
   distributed batch, a dict of `PerReplica` values, to `strategy.reduce`,
   which takes one tensor: "ValueError: Attempt to convert a value
   ({'a': PerReplica...}) with an unsupported type (<class 'dict'>)".
2. After every step, `reduce_per_replica` reduces each scalar log with
   `strategy.reduce("MEAN", value, axis=0)`, and a scalar has no axis 0:
   "ValueError: Invalid reduction dimension 0 for input with 0 dimensions".

The first path runs under every strategy: it fails the same way under a
MirroredStrategy over several GPUs (any batch split into `PerReplica`
values), and where it works it costs a pass of the input: it draws a batch
and starts the iterator again, so a shuffle with `rerandomize_each_iteration`
is one pass out of step with a run without a strategy.

`MultiWorkerFitFixes` overrides the two model methods involved; the fix
is ours, so a Keras upgrade that changes either path is caught by
`tests/distribute/multi_worker_test.py`, which trains two real workers.
Two more limits of that stack, measured there and handled by
`zoo.training.fit`: `steps_per_execution > 1` fails inside the traced
`while_loop` ("You must feed a value for placeholder tensor"), and XLA
compilation of a step with collective ops crashes the process on CPU.
"""

import tensorflow as tf
from keras import tree


def in_multi_worker_mode(strategy=None):
    """True under a `MultiWorkerMirroredStrategy` with more than one worker.

    The same test Keras applies before taking the failing path.
    """
    strategy = strategy or tf.distribute.get_strategy()
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def _with_replica_axis(logs):
    # Keras then reduces with axis=0 across the workers: a (1,) vector per
    # replica has that axis, and the mean over it is the scalar Keras wanted.
    return tree.map_structure(lambda value: tf.reshape(value, [1]), logs)


class MultiWorkerFitFixes:
    """Mixin for a `keras.Model`: `fit`/`evaluate` under multi-worker strategies.

    Without a strategy every method defers to Keras unchanged; under a
    single-worker strategy only the symbolic build is ours.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is None or self._distribute_strategy is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        # The symbolic build reads only the shapes and dtypes of a batch: the
        # input dataset's element spec has them, and reading it draws no batch.
        # (Keras draws one and starts the iterator again, which moves a
        # `rerandomize_each_iteration` shuffle on by one pass: the workers'
        # batches would then differ from a single-process run's.)
        element_spec = iterator.data_adapter.get_tf_dataset().element_spec
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=element_spec)

    def train_step(self, data):
        logs = super().train_step(data)
        return _with_replica_axis(logs) if in_multi_worker_mode() else logs

    def test_step(self, data):
        logs = super().test_step(data)
        return _with_replica_axis(logs) if in_multi_worker_mode() else logs
