"""How per-task losses become the one loss a multi-task model is trained on.

Seven rules, one small layer each, all taking the list of per-task losses
(scalars, in task order) and returning the training loss; the base class
is `zoo.losses.LossWeighting` (`loss_weighting.py`):

- `FixedLossWeights`: sum_k w_k L_k with weights you choose.
- `UncertaintyWeighting` (Kendall, Gal & Cipolla, CVPR 2018): each task k
  has a trainable noise scale sigma_k and contributes
  L_k / (2 sigma_k^2) + log sigma_k.
- `GradNorm` (Chen et al., ICML 2018): trainable weights w_k, moved so that
  the norms of the weighted task gradients on the shared weights stay in
  proportion to how far each task still has to go.
- `DynamicWeightAverage` (Liu, Johns & Davison, CVPR 2019): each epoch,
  weights from how fast each task's average training loss fell over the
  two epochs before; no gradients, no learned variables.
- `RandomLossWeighting` (Lin et al., TMLR 2022): weights drawn afresh at
  every step, softmax(z) with z standard normal.
- `PCGrad` (Yu et al., NeurIPS 2020, `pcgrad.py`) and `MetaBalance` (He et
  al., WWW 2022, `metabalance.py`) act on the gradients, not the losses:
  on the weights all tasks share, the model's training step hands them
  each task's gradient, which they project (PCGrad) or rescale
  (MetaBalance) before the sum.

They are layers so that their variables (sigma_k, w_k, DWA's epoch
averages, RLW's seed state) are tracked, trained by the model's optimizer
where they learn, and saved with the model. A model holds one as
`loss_weighting`; see `zoo.models.MultiTaskModel`. A weighting that must
see epoch boundaries (DWA) hands the model's `fit` a callback
(`training_callbacks`).
"""

import keras
from keras import ops

from zoo.api import register
from zoo.losses.loss_weighting import LossWeighting
from zoo.losses.metabalance import MetaBalance
from zoo.losses.pcgrad import PCGrad


@register
class FixedLossWeights(LossWeighting):
    """sum_k w_k L_k with fixed weights, also on validation.

    Args:
        task_names: list of str.
        weights: dict from task name to a float >= 0; tasks not named get 1.
            Naming a task that does not exist is an error.
    """

    def __init__(self, task_names, weights=None, **kwargs):
        super().__init__(task_names, **kwargs)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.task_names))
        if unknown:
            raise ValueError(
                f"Loss weights name unknown tasks {unknown}; the tasks are {self.task_names}."
            )
        for name, value in weights.items():
            if not float(value) >= 0:
                raise ValueError(
                    f"Expected a loss weight >= 0 for task {name!r}. Received: {value!r}"
                )
        self.weights_by_task = {n: float(weights.get(n, 1.0)) for n in self.task_names}

    def call(self, task_losses, training=None):
        self._check(task_losses)
        return self.combine(task_losses)

    def combine(self, task_losses):
        weights = ops.convert_to_tensor([self.weights_by_task[n] for n in self.task_names])
        return ops.sum(weights * ops.stack(task_losses))

    def task_weights(self):
        return dict(self.weights_by_task)

    def get_config(self):
        config = super().get_config()
        config["weights"] = self.weights_by_task
        return config


@register
class UncertaintyWeighting(LossWeighting):
    """Homoscedastic-uncertainty weighting (Kendall et al., 2018).

    loss = sum_k L_k / (2 sigma_k^2) + log sigma_k, with sigma_k trainable,
    the same form for regression and classification tasks. A task whose
    loss stays large gets a larger sigma_k and so a smaller weight; the
    log sigma_k term keeps sigma_k from growing without bound.

    The variable is s_k = log sigma_k^2 (as in the paper's implementation
    notes): exp(-s_k) never divides by zero and s_k is unconstrained. The
    loss above is then sum_k 0.5 exp(-s_k) L_k + 0.5 s_k.

    Args:
        task_names: list of str.
        initial_log_variance: float, s_k at the start (0: sigma_k = 1,
            each task weighted 1/2).
    """

    def __init__(self, task_names, initial_log_variance=0.0, **kwargs):
        super().__init__(task_names, **kwargs)
        self.initial_log_variance = float(initial_log_variance)

    def build(self, input_shape=None):
        self.log_variance = self.add_weight(
            shape=(self.num_tasks,),
            initializer=keras.initializers.Constant(self.initial_log_variance),
            name="log_variance",
        )
        self.built = True

    def combine(self, task_losses):
        losses = ops.stack(task_losses)
        s = ops.cast(self.log_variance, losses.dtype)
        return ops.sum(0.5 * ops.exp(-s) * losses + 0.5 * s)

    def task_weights(self):
        s = ops.convert_to_numpy(self.log_variance)
        return {n: float(0.5 * ops.exp(-v)) for n, v in zip(self.task_names, s)}

    def get_config(self):
        config = super().get_config()
        config["initial_log_variance"] = self.initial_log_variance
        return config


@register
class GradNorm(LossWeighting):
    """GradNorm (Chen et al., 2018): weights that balance task gradient norms.

    The network is trained on sum_k w_k L_k with w_k held constant. The
    weights themselves follow their own loss

        L_grad = sum_k | G_k - mean(G) * r_k^alpha |,

    where G_k = w_k ||grad_W L_k|| is the norm of task k's weighted
    gradient on the shared weights W, r_k = (L_k / L_k(0)) / mean_j(L_j /
    L_j(0)) is task k's relative inverse training rate (L_k(0): its loss at
    the first step), and the target mean(G) r_k^alpha is a constant. After
    each step the weights are renormalized to sum to the number of tasks.

    The model's training step provides ||grad_W L_k|| (the shared weights W
    are the switcher's `shared_weights()`), calls `balance_loss` for the
    weights' gradient and `renormalize` after the update.

    Args:
        task_names: list of str.
        alpha: float >= 0, the strength of the pull towards equal training
            rates (the paper uses 0.12 to 3; 1.5 for its NYUv2 results).
    """

    uses_gradient_norms = True

    def __init__(self, task_names, alpha=1.5, **kwargs):
        super().__init__(task_names, **kwargs)
        if not float(alpha) >= 0:
            raise ValueError(f"Expected alpha >= 0. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def build(self, input_shape=None):
        self.task_weight = self.add_weight(
            shape=(self.num_tasks,), initializer="ones", name="task_weight"
        )
        # L_k(0), recorded at the first training step.
        self.initial_losses = self.add_weight(
            shape=(self.num_tasks,), initializer="zeros", trainable=False, name="initial_losses"
        )
        self.built = True

    def combine(self, task_losses):
        losses = ops.stack(task_losses)
        weights = ops.stop_gradient(ops.cast(self.task_weight, losses.dtype))
        return ops.sum(weights * losses)

    def balance_loss(self, task_losses, gradient_norms):
        """L_grad, whose gradient moves `task_weight` (and nothing else).

        Args:
            task_losses: list of scalar task losses of this step.
            gradient_norms: `(num_tasks,)` tensor, ||grad_W L_k|| of the
                unweighted task losses on the shared weights.
        """
        self._check(task_losses)
        losses = ops.stop_gradient(ops.stack(task_losses))
        norms = ops.stop_gradient(gradient_norms)
        first_step = ops.all(ops.equal(self.initial_losses, 0.0))
        initial = ops.where(first_step, losses, self.initial_losses)
        self.initial_losses.assign(initial)
        ratio = losses / ops.maximum(initial, 1e-12)
        relative_rate = ratio / ops.maximum(ops.mean(ratio), 1e-12)
        weighted_norms = self.task_weight * norms
        target = ops.stop_gradient(ops.mean(weighted_norms) * relative_rate**self.alpha)
        return ops.sum(ops.abs(weighted_norms - target))

    def renormalize(self):
        """Rescales the weights to sum to the number of tasks (kept positive)."""
        w = ops.maximum(self.task_weight, 1e-6)
        self.task_weight.assign(w * self.num_tasks / ops.sum(w))

    def task_weights(self):
        w = ops.convert_to_numpy(self.task_weight)
        return {n: float(v) for n, v in zip(self.task_names, w)}

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


@register
class DynamicWeightAverage(LossWeighting):
    """Dynamic Weight Average, DWA (Liu, Johns & Davison, 2019, equation 7).

    The training loss of epoch t is sum_k lambda_k(t) L_k, with

        lambda_k(t) = K exp(w_k(t-1) / T) / sum_i exp(w_i(t-1) / T),
        w_k(t-1) = L_k(t-1) / L_k(t-2),

    where L_k(t) is task k's average training loss over epoch t, K the
    number of tasks and T the temperature. A task whose loss fell less
    over the last epoch gets more weight; the weights sum to K. In the
    first two epochs there is no ratio yet and every weight is 1 (the
    paper sets w_k(1) = w_k(2) = 1). The weights are constants to the
    gradient (`stop_gradient`); nothing here is trained.

    All state is in non-trainable variables, so it is saved with the model
    and updated inside a compiled (XLA, several steps per execution)
    training step: each training call adds the step's task losses to
    `epoch_loss_sum` and 1 to `epoch_steps`. The compiled step does not
    know where an epoch ends, so `begin_epoch` does the rest eagerly:
    called by the callback of `training_callbacks()` (which the zoo
    models' `fit` adds by itself) at the start of every epoch, it turns the
    sums into that finished epoch's averages, keeps the last two
    (`epoch_losses`), counts the epoch (`epochs_done`) and computes the
    weights of the epoch that begins (`task_weight`).

    Assumed where the paper leaves it open:

    - L_k(t) is the mean over the epoch's training steps of the step's
      task loss, each step counting the same (as the authors' code
      averages per batch). The model's `<task>_loss` logs weight steps by
      their labeled rows; the two agree when batches are equal.
    - The epoch closes at the start of the next one, not at its end: a
      backup or checkpoint written at the end of an epoch then holds that
      epoch's sums and a resumed run closes it first, whatever the order
      of the callbacks. After `fit`, `task_weights()` are the weights the
      last epoch trained with; a later `fit` goes on from there.
    - A task whose L_k(t-2) is 0 (no labeled row in that epoch) gets the
      ratio w_k = 1.
    - `EarlyStopping(restore_best_weights=True)` restores this state too,
      to what it was at the end of the best epoch.

    Under a `tf.distribute` strategy the sums are mean-aggregated over
    replicas (each replica's task losses are over its own rows), and
    `begin_epoch` runs in the cross-replica context. Tried: the layer alone
    under a MirroredStrategy of two replicas on two logical CPUs, whose
    epoch averages are those of both replicas' losses
    (`tests/losses/dynamic_weighting_fit_test.py`). Not tried: a model's
    `fit` under a strategy, MultiWorkerMirroredStrategy, GPUs.

    Args:
        task_names: list of str.
        temperature: float > 0, T above: large T makes the weights equal,
            small T puts them on the slowest task (the paper uses 2).

    References:
        Liu, Johns & Davison, "End-to-End Multi-Task Learning with
        Attention", CVPR 2019, section 3.3, equation 7.
    """

    def __init__(self, task_names, temperature=2.0, **kwargs):
        super().__init__(task_names, **kwargs)
        if not float(temperature) > 0:
            raise ValueError(f"Expected temperature > 0. Received: temperature={temperature!r}")
        self.temperature = float(temperature)

    def build(self, input_shape=None):
        # Updated in each replica's step: the mean over replicas is the
        # step's loss over the global batch.
        self.epoch_loss_sum = self.add_weight(
            shape=(self.num_tasks,),
            initializer="zeros",
            trainable=False,
            aggregation="mean",
            name="epoch_loss_sum",
        )
        self.epoch_steps = self.add_weight(
            shape=(), initializer="zeros", trainable=False, aggregation="mean", name="epoch_steps"
        )
        # Row 0: L(t-2), row 1: L(t-1).
        self.epoch_losses = self.add_weight(
            shape=(2, self.num_tasks), initializer="zeros", trainable=False, name="epoch_losses"
        )
        self.epochs_done = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="epochs_done"
        )
        self.task_weight = self.add_weight(
            shape=(self.num_tasks,), initializer="ones", trainable=False, name="task_weight"
        )
        self.built = True

    def combine(self, task_losses):
        losses = ops.stack(task_losses)  # (num_tasks,)
        self.epoch_loss_sum.assign_add(
            ops.cast(ops.stop_gradient(losses), self.epoch_loss_sum.dtype)
        )
        self.epoch_steps.assign_add(ops.ones((), self.epoch_steps.dtype))
        weights = ops.stop_gradient(ops.cast(self.task_weight, losses.dtype))
        return ops.sum(weights * losses)

    def begin_epoch(self):
        """Closes the epoch trained since the last call and sets the weights of the next.

        Eager; a no-op when no training step ran since the last call (or ever:
        Keras builds a model at its first step, after the first epoch began).
        """
        if not self.built:
            return
        steps = float(ops.convert_to_numpy(self.epoch_steps))
        if steps == 0:
            return
        averages = self.epoch_loss_sum / steps
        last = self.epoch_losses[1]
        self.epoch_losses.assign(ops.stack([last, averages]))
        self.epochs_done.assign_add(1.0)
        self.epoch_loss_sum.assign(ops.zeros_like(self.epoch_loss_sum))
        self.epoch_steps.assign(0.0)
        if float(ops.convert_to_numpy(self.epochs_done)) >= 2:
            self.task_weight.assign(self.weights_from(last, averages))

    def weights_from(self, before_last, last):
        """lambda(t) from L(t-2) and L(t-1), each `(num_tasks,)`; equation 7."""
        before_last = ops.convert_to_tensor(before_last, "float32")
        last = ops.convert_to_tensor(last, "float32")
        seen = before_last > 0
        ratio = ops.where(seen, last / ops.where(seen, before_last, 1.0), 1.0)
        return self.num_tasks * ops.softmax(ratio / self.temperature)

    def task_weights(self):
        w = ops.convert_to_numpy(self.task_weight)
        return {n: float(v) for n, v in zip(self.task_names, w)}

    def training_callbacks(self):
        return [DynamicWeightAverageEpochs(self)]

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config


class DynamicWeightAverageEpochs(keras.callbacks.Callback):
    """Calls `DynamicWeightAverage.begin_epoch` at the start of every epoch of `fit`.

    The zoo models' `fit` adds it by itself; pass it only to a loop of your own.

    Args:
        weighting: the model's `DynamicWeightAverage`.
    """

    def __init__(self, weighting):
        super().__init__()
        self.weighting = weighting

    def on_epoch_begin(self, epoch, logs=None):
        self.weighting.begin_epoch()


@register
class RandomLossWeighting(LossWeighting):
    """Random loss weighting, RLW (Lin et al., 2022): new random weights at every step.

    Each training step draws z ~ N(0, I_K) and trains on sum_k lambda_k L_k
    with lambda = softmax(z): positive weights that sum to 1, the same for
    every task on average. The standard normal and the softmax are the
    default of the authors' own implementation (LibMTL's `RLW`), and as
    there the weights are not scaled by K: the training loss is on the
    scale of one task's loss, not of their sum (Adam, the zoo's default
    optimizer, hardly minds the scale). The other distributions the paper
    studies (uniform, Dirichlet, Bernoulli, ...) are not offered.

    The draws come from a `keras.random.SeedGenerator` held by the layer,
    so they are traceable and XLA-compilable and new at every step, also
    several steps to a compiled call. Its state is not saved with the
    model (Keras saves a layer's variables, not its seed generators'): a
    reloaded model starts the sequence again from `seed`. Tried: the layer
    alone under a MirroredStrategy of two replicas on two logical CPUs,
    where both replicas draw the same weights in a step
    (`tests/losses/dynamic_weighting_fit_test.py`); a model's `fit` under a
    strategy and several workers were not.

    Args:
        task_names: list of str.
        seed: int or `None`; the same seed draws the same sequence of
            weights. `None` takes one from Python's `random`, which
            `keras.utils.set_random_seed` seeds.

    References:
        Lin, Ye, Xu, Shi, Zhang & Kwok, "Reasonable Effectiveness of Random
        Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022
        (arXiv:2111.10603).
    """

    def __init__(self, task_names, seed=None, **kwargs):
        super().__init__(task_names, **kwargs)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"Expected an int seed or None. Received: seed={seed!r}")
        self.seed = seed

    def build(self, input_shape=None):
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")
        self.built = True

    def draw(self):
        """The next step's weights, softmax(z) with z ~ N(0, I); advances the generator."""
        if not self.built:
            self.build()
        z = keras.random.normal((self.num_tasks,), seed=self.seed_generator)  # (num_tasks,)
        return ops.softmax(z)

    def combine(self, task_losses):
        losses = ops.stack(task_losses)
        weights = ops.stop_gradient(ops.cast(self.draw(), losses.dtype))
        return ops.sum(weights * losses)

    def task_weights(self):
        # Each step draws its own; this is their expectation (by symmetry, 1/K).
        return {n: 1.0 / self.num_tasks for n in self.task_names}

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


LOSS_WEIGHTINGS = {
    "fixed": FixedLossWeights,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNorm,
    "dwa": DynamicWeightAverage,
    "random": RandomLossWeighting,
    "pcgrad": PCGrad,
    "metabalance": MetaBalance,
}


def get_loss_weighting(identifier, task_names):
    """A `LossWeighting` from a name, a dict of fixed weights, a config or an instance.

    Args:
        identifier: `None` or `"fixed"` (all weights 1), `"uncertainty"`,
            `"gradnorm"`, `"dwa"`, `"random"`, `"pcgrad"`, `"metabalance"` (the
            names of `LOSS_WEIGHTINGS`),
            a dict from task name to weight (fixed weights), a serialized
            `LossWeighting`, or a `LossWeighting`.
        task_names: list of str, the model's tasks in order.
    """
    if identifier is None:
        identifier = "fixed"
    if isinstance(identifier, LossWeighting):
        weighting = identifier
    elif isinstance(identifier, str):
        if identifier not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"Unknown loss weighting {identifier!r}; expected one of {list(LOSS_WEIGHTINGS)}."
            )
        weighting = LOSS_WEIGHTINGS[identifier](task_names, name="loss_weighting")
    elif isinstance(identifier, dict) and "class_name" in identifier:
        weighting = keras.layers.deserialize(identifier)
    elif isinstance(identifier, dict):
        weighting = FixedLossWeights(task_names, identifier, name="loss_weighting")
    else:
        raise TypeError(
            "Expected a loss weighting name, a dict of task weights or a LossWeighting. "
            f"Received: {identifier!r}"
        )
    if weighting.task_names != list(task_names):
        raise ValueError(
            f"The loss weighting is for tasks {weighting.task_names}, the model's tasks are "
            f"{list(task_names)}."
        )
    return weighting
