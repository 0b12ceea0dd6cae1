"""AutoMTL's architecture search (Algorithm 1) with `model.fit`, and saving what it finds."""

import dataclasses
import json
import os
import time

import keras
import tensorflow as tf


@dataclasses.dataclass
class SearchConfig:
    """How to search. Defaults follow the AutoMTL reference configuration.

    Attributes:
        epochs: passes over the training split.
        batch_size: rows per training batch, and per validation batch.
        weight_learning_rate: initial learning rate of SGD (momentum 0.9)
            on the network weights; cosine decay to 0 over the search.
        weight_momentum: SGD momentum.
        weight_decay: SGD weight decay.
        gradient_clip_norm: global norm the network-weight gradients are
            clipped to, or `None`.
        architecture_learning_rate: Adam (beta_1 0.5) on alpha.
        architecture_weight_decay: Adam weight decay on alpha.
        selection_learning_rate: Adam (beta_1 0.5) on beta.
        warmup_epochs: epochs with beta frozen (and no JSD loss); `None`:
            a third of `epochs`, as the reference's 5 of 15.
        auxiliary_skip: add DARTS-'s auxiliary skip connection to every
            block, its weight decaying linearly from 1 to 0.
        num_selected: experts each task keeps (c) when deriving.
        weight_optimizer, architecture_optimizer, selection_optimizer: a
            Keras optimizer to use instead of the one the rates above
            describe (for the network weights, alpha and beta), or `None`.
        jit_compile: compile each search step with XLA. Off by default: on
            2 CPU cores the full supernet's XLA step ran 1.15 s per batch of
            1024 against 0.67 s in graph mode, after ~270 s of compilation.
        steps_per_execution: search steps per call into the compiled step.
        seed: seeds weights, alpha/beta noise and the batch order.
        tensorboard_dir: write TensorBoard logs here, or `None`.
        verbose: 1 progress bar, 2 one line per epoch, 0 nothing; at 1 or 2
            each epoch also prints the current derived architecture.
    """

    epochs: int = 10
    batch_size: int = 1024
    weight_learning_rate: float = 0.02
    weight_momentum: float = 0.9
    weight_decay: float = 3e-4
    gradient_clip_norm: float | None = 5.0
    architecture_learning_rate: float = 1e-3
    architecture_weight_decay: float = 1e-6
    selection_learning_rate: float = 1e-3
    warmup_epochs: int | None = None
    auxiliary_skip: bool = True
    num_selected: int = 6
    weight_optimizer: keras.optimizers.Optimizer | None = None
    architecture_optimizer: keras.optimizers.Optimizer | None = None
    selection_optimizer: keras.optimizers.Optimizer | None = None
    jit_compile: bool = False
    steps_per_execution: int = 8
    seed: int = 2024
    tensorboard_dir: str | None = None
    verbose: int = 1

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"Expected epochs >= 1. Received: epochs={self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={self.batch_size}")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                "Expected 0 <= warmup_epochs < epochs. Received: "
                f"warmup_epochs={self.warmup_epochs}, epochs={self.epochs}"
            )
        for name in (
            "weight_learning_rate",
            "architecture_learning_rate",
            "selection_learning_rate",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"Expected {name} > 0. Received: {getattr(self, name)}")
        if self.num_selected < 1:
            raise ValueError(f"Expected num_selected >= 1. Received: {self.num_selected}")

    @property
    def warmup(self):
        return self.epochs // 3 if self.warmup_epochs is None else self.warmup_epochs


@dataclasses.dataclass
class SearchResult:
    """What `search_automtl` reports.

    Attributes:
        architecture: the derived architecture (`AutoMTLSupernet.derive`),
            with a `search` entry recording how it was found.
        history: Keras' per-epoch logs (training loss, `search_val_loss`,
            per-task losses, the schedules).
        epoch_architectures: the architecture derived after each epoch, in
            the compact text form the progress shows.
        wall_seconds: the search's wall time, data preparation included.
    """

    architecture: dict
    history: dict
    epoch_architectures: list
    wall_seconds: float


def describe_architecture(architecture):
    """One line: the interaction operation, each expert's operations, each task's experts."""
    experts = " | ".join(
        f"e{i}: " + ">".join(ops_) for i, ops_ in enumerate(architecture["experts"])
    )
    tasks = "; ".join(
        f"{task}: {','.join(f'e{i}' for i in chosen)}"
        for task, chosen in architecture["task_experts"].items()
    )
    return f"interaction: {architecture['interaction'] or 'none'} || {experts} || {tasks}"


class ArchitectureProgress(keras.callbacks.Callback):
    """Prints (and records) the current argmax architecture after every search epoch."""

    def __init__(self, num_selected, verbose=1):
        super().__init__()
        self.num_selected = num_selected
        self.verbose = verbose
        self.architectures = []

    def on_epoch_end(self, epoch, logs=None):
        text = describe_architecture(self.model.derive(self.num_selected))
        self.architectures.append(text)
        if self.verbose:
            print(f"epoch {epoch + 1} architecture: {text}", flush=True)


def search_automtl(model, dataset, config):
    """Runs AutoMTL's search on `dataset` and derives the architecture.

    Each step takes one training and one validation batch: alpha learns
    from the validation batch, the network weights (and beta after the
    warm-up) from the training batch (`AutoMTLSupernet.train_step`). The
    test split is never read.

    Args:
        model: a `zoo.models.AutoMTLSupernet` built with
            `preprocessor=dataset.make_preprocessor()`.
        dataset: a `zoo.data` dataset with training and validation splits.
        config: a `SearchConfig`.

    Returns:
        A `SearchResult`.
    """
    started = time.perf_counter()
    if model.preprocessor is None:
        raise ValueError(
            "The supernet has no preprocessor: build it with "
            "preprocessor=dataset.make_preprocessor()."
        )
    if config.num_selected > model.switcher.num_experts:
        raise ValueError(
            f"num_selected={config.num_selected} exceeds the supernet's "
            f"{model.switcher.num_experts} experts."
        )
    keras.utils.set_random_seed(config.seed)
    train = dataset.tf_dataset(
        "train", model.preprocessor, config.batch_size, shuffle=True, seed=config.seed
    )
    validation = dataset.tf_dataset(
        "validation", model.preprocessor, config.batch_size, shuffle=True, seed=config.seed + 1
    )
    steps_per_epoch = int(train.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(
            f"The training split of {dataset.name!r} gives no batches "
            f"(cardinality {steps_per_epoch}); a search needs a known, non-empty split."
        )
    total_steps = steps_per_epoch * config.epochs
    model.configure_search(
        total_steps=total_steps,
        warmup_steps=steps_per_epoch * config.warmup,
        auxiliary_skip=config.auxiliary_skip,
    )
    model.compile(
        optimizer=config.weight_optimizer
        or keras.optimizers.SGD(
            learning_rate=keras.optimizers.schedules.CosineDecay(
                config.weight_learning_rate, decay_steps=total_steps
            ),
            momentum=config.weight_momentum,
            weight_decay=config.weight_decay,
            global_clipnorm=config.gradient_clip_norm,
        ),
        architecture_optimizer=config.architecture_optimizer
        or keras.optimizers.Adam(
            learning_rate=config.architecture_learning_rate,
            beta_1=0.5,
            weight_decay=config.architecture_weight_decay,
        ),
        selection_optimizer=config.selection_optimizer
        or keras.optimizers.Adam(learning_rate=config.selection_learning_rate, beta_1=0.5),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    progress = ArchitectureProgress(config.num_selected, verbose=config.verbose)
    callbacks = [progress]
    if config.tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=config.tensorboard_dir))
    # Both splits repeat: one endless iterator of (training, validation)
    # pairs for the whole search; the validation split is usually the
    # smaller one and is cycled, as the reference's DataProvider does.
    pairs = tf.data.Dataset.zip((train.repeat(), validation.repeat()))
    with model.preprocessed_inputs():  # the splits hold preprocessed features
        history = model.fit(
            pairs.prefetch(tf.data.AUTOTUNE),
            steps_per_epoch=steps_per_epoch,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,
        )
    wall = time.perf_counter() - started
    architecture = model.derive(config.num_selected)
    architecture["search"] = {
        "dataset": dataset.name,
        "data": dataset.settings,
        "config": {
            f.name: _json_value(getattr(config, f.name)) for f in dataclasses.fields(config)
        },
        "supernet": {
            k: v
            for k, v in model.get_config().items()
            if k in ("interaction_ops", "expert_ops", "num_experts", "num_blocks")
            or k in ("expert_selection", "shared_expert_architecture", "jsd_weight", "seed")
        },
        "wall_seconds": round(wall, 2),
    }
    return SearchResult(
        architecture=architecture,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        epoch_architectures=progress.architectures,
        wall_seconds=wall,
    )


def _json_value(value):
    # An optimizer object is recorded by its class name and learning rate.
    if isinstance(value, keras.optimizers.Optimizer):
        return {"class": type(value).__name__, "learning_rate": float(value.learning_rate)}
    return value


def save_architecture(architecture, path):
    """Writes the architecture as indented JSON, beside then renamed: whole or absent."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(architecture, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path
