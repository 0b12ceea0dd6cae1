"""`zoo train`: train a model, report exact per-task metrics, export a SavedModel.

The model flags are made from the catalogue of constructor arguments
(`zoo.cli.model_arguments`); the flags written here are the ones that are
not a constructor argument's value: the gate, the graphs, the loss
weighting, training, devices and outputs.
"""

import argparse
import datetime
import json
import os
import sys

from zoo.cli import flags, run_dir
from zoo.cli.commands.common import gate_summary, load_dataset, print_metrics, warmup_rows
from zoo.cli.flags import DATASET_FLAGS, accepted_arguments, flag_kwargs, model_flag_kwargs
from zoo.files import write_json
from zoo.registry import DATASETS, GATES, HEADS, MODELS

# Models whose graph encoder is part of the model, not the --with-mgnn add-on.
GRAPH_MODELS = ("mogenet", "ngcf")
GRAPH_FLAGS = ("graph_units", "graph_layers", "fanouts", "top_k", "attention")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    train = subparsers.add_parser(
        "train",
        parents=[common],
        allow_abbrev=False,
        help="train a model, report per-task metrics, export a SavedModel",
        description=(
            "Train a model with model.fit (XLA on by default), early-stop on the validation "
            "split, report exact per-task AUC on validation and test, write DIR/metrics.json "
            "and DIR/model.keras, and export a TF Serving SavedModel. With no arguments: "
            "MMoE on the shipped Census-Income data, task group 1, paper protocol."
        ),
    )
    flags.add_data_flags(train, DATASETS)
    _add_model_flags(train.add_argument_group("model (flags a model does not take are an error)"))
    _add_graph_flags(
        train.add_argument_group(
            "graphs (mogenet, ngcf, and any model with --with-mgnn; (user, item) datasets)"
        )
    )
    _add_loss_flags(train.add_argument_group("multi-task loss"))
    _add_training_flags(train.add_argument_group("training"))
    _add_cluster_flags(
        train.add_argument_group("devices and clusters (README: Beyond one machine)")
    )
    output = train.add_argument_group("output")
    output.add_argument(
        "--output-dir",
        default=None,
        help="where metrics.json, model.keras and TensorBoard logs go "
        "(default: runs/<model>-<dataset>-<time>); a folder that holds a run is refused "
        "unless --overwrite",
    )
    output.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --output-dir (its files are kept until the new "
        "model is saved)",
    )
    flags.add_export_flags(output)
    output.add_argument("--no-export", action="store_true", help="do not export a SavedModel")


def _add_model_flags(model):
    model.add_argument(
        "--model", default="mmoe", help=f"one of: {', '.join(MODELS)} (default: %(default)s)"
    )
    flags.add_model_flags(model)
    model.add_argument(
        "--gate",
        metavar="NAME",
        choices=tuple(GATES),
        help=f"gated models (omoe, mmoe, cgc, ple, ...): the experts' gate, one of: "
        f"{', '.join(GATES)} (default: softmax with --gate-temperature)",
    )
    model.add_argument(
        "--gate-top-k",
        metavar="K",
        type=int,
        help="--gate noisy-top-k or dselect-k: experts with a non-zero weight per row (default 2)",
    )
    model.add_argument(
        "--head",
        metavar="NAME",
        choices=tuple(HEADS),
        help=f"an output head on the model, one of: {', '.join(HEADS)} (DLEN's latent-emotion "
        "mixture, alpha_t = 0.3 x each task's training rate; ESMM's pCTR x pCVR; that product "
        "with ESCM2's inverse-propensity CVR risk); default: "
        "each task's activation",
    )
    model.add_argument(
        "--arch",
        default=None,
        help="automtl-derived: the architecture file `zoo search` wrote",
    )
    model.add_argument(
        "--model-config",
        metavar="FILE",
        help="every model: a JSON object of constructor arguments, e.g. MFH's groups and "
        'group_tower_units: {"groups": {"new": ["day_new"], ...}}; flags given as well win',
    )
    model.add_argument(
        "--ranking-weights",
        type=flags.task_weights,
        default=None,
        help="every model: TASK=WEIGHT,... adds a ranking_score output to the SavedModel, the "
        "weighted sum of those tasks' predictions",
    )
    model.add_argument(
        "--bias-tower",
        metavar="FEATURE",
        default=None,
        help="every model: add a Biasnet bias tower, MLP (128, 64) over FEATURE alone (e.g. a "
        "user group), whose logit is added to every binary task's logit",
    )


def _add_graph_flags(graph):
    graph.add_argument(
        "--with-mgnn",
        action="store_true",
        help="append MoGENet's multi-channel GNN representations of the pair to the model's "
        "input (the paper's '+MGNN' variants)",
    )
    graph.add_argument(
        "--graph-units",
        type=int,
        default=None,
        help="width of the graph representations (default 32; ngcf: 64)",
    )
    graph.add_argument(
        "--graph-layers", type=int, default=None, help="GNN layers per channel, L (default 2)"
    )
    graph.add_argument(
        "--fanouts",
        default=None,
        help="neighbours sampled per node at each hop, one per layer, e.g. 10,5 (default); "
        "'full' runs every batch on the whole graph (small graphs)",
    )
    graph.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="neighbours per node in the user-user and item-item similarity graphs (default 10)",
    )
    graph.add_argument(
        "--attention",
        choices=("dot", "additive"),
        default=None,
        help="MGNN attention score (default dot)",
    )


def _add_loss_flags(weighting):
    weighting.add_argument(
        "--loss-weighting",
        # The names of zoo.losses.weighting.LOSS_WEIGHTINGS, written out: importing
        # it imports TensorFlow, which `zoo train --help` must not wait for.
        choices=("fixed", "uncertainty", "gradnorm", "dwa", "random", "pcgrad", "metabalance"),
        default=None,
        help="how task losses add up: fixed weights (--loss-weights, default all 1), learned "
        "uncertainty weighting (Kendall et al. 2018), GradNorm (Chen et al. 2018), dynamic "
        "weight average from the last two epochs' losses (dwa, Liu et al. 2019), new random "
        "weights every step (random, Lin et al. 2022), or on the gradients of the shared "
        "weights: conflicting task gradients projected apart (pcgrad, Yu et al. 2020) or the "
        "later tasks' gradients scaled to the first task's (metabalance, He et al. 2022) "
        "(default: fixed; mogenet: uncertainty)",
    )
    weighting.add_argument(
        "--loss-weights",
        type=flags.task_weights,
        default=None,
        help="with --loss-weighting fixed: TASK=WEIGHT,... e.g. income=1,never_married=0.5; "
        "tasks not named get 1",
    )


def _add_training_flags(fitting):
    fitting.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="maximum epochs; early stopping usually ends the run sooner (default: %(default)s)",
    )
    fitting.add_argument("--batch-size", type=int, default=1024, help="default: %(default)s")
    fitting.add_argument(
        "--learning-rate", type=float, default=1e-3, help="Adam (default: %(default)s)"
    )
    fitting.add_argument(
        "--seed",
        type=flags.seed,
        default=2024,
        help="seeds weights and shuffling (default: %(default)s)",
    )
    fitting.add_argument(
        "--early-stopping-patience",
        type=int,
        default=3,
        help="stop after this many epochs without a lower validation loss, keeping the best "
        "weights (default: %(default)s)",
    )
    fitting.add_argument(
        "--early-stopping-monitor",
        default=None,
        help="what early stopping watches on the validation split: val_loss, val_task_loss "
        "(the unweighted sum of the task losses) or a task's metric such as val_income_auc "
        "(maximized) (default: val_loss; val_task_loss with learned loss weights, whose "
        "val_loss moves with the weights themselves)",
    )
    fitting.add_argument(
        "--no-early-stopping", action="store_true", help="train all --epochs, keep the last weights"
    )
    fitting.add_argument("--no-jit", action="store_true", help="turn XLA compilation off")
    fitting.add_argument(
        "--steps-per-execution",
        type=int,
        default=8,
        help="training steps per compiled call (default: %(default)s)",
    )
    fitting.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bar")
    fitting.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
        help="floating-point policy: auto is mixed_float16 on a GPU, float32 on a CPU; "
        "mixed_bfloat16 needs a CPU with AVX512-BF16/AMX (default: %(default)s)",
    )


def _add_cluster_flags(cluster):
    cluster.add_argument(
        "--strategy",
        default="default",
        choices=("default", "mirrored", "multi-worker"),
        help="tf.distribute strategy: mirrored over this machine's GPUs, or multi-worker over "
        "the TF_CONFIG cluster (run the same command on every worker; only the chief writes "
        "files) (default: %(default)s)",
    )
    cluster.add_argument(
        "--backup-dir",
        default=None,
        help="back the training state up here every epoch; the same command run again resumes "
        "after the last finished epoch (on a cluster: a folder every worker reads)",
    )


def check(args: argparse.Namespace) -> None:
    """Usage errors found without TensorFlow: a model flag the model does not take."""
    model_flag_kwargs(args, args.model)


def run(args: argparse.Namespace):
    """Checks, trains, saves, evaluates and exports; the run record (`None` on a worker)."""
    output_dir, export_name = _output_names(args)
    role, model_class, resuming = _check_run(args, output_dir, export_name)
    model_kwargs = _model_kwargs(args, model_class)
    dataset_kwargs = _dataset_kwargs(args)
    config, precision, strategy = _training_setup(args, role, output_dir)
    dataset = _load_checked_dataset(args, dataset_kwargs)
    model, graph_inputs = _build_model(args, model_class, model_kwargs, dataset, strategy)
    _watch_task_loss_if_weights_learn(args, model, config)
    if role.is_chief:
        _claim_output_dir(args, output_dir, resuming)
    print(
        f"{args.model}: {len(dataset.features)} features, tasks "
        f"{[t.name for t in dataset.tasks]}, {dataset.num_rows('train'):,} training rows",
        flush=True,
    )
    args.interrupted_note = "training stopped before it finished; nothing was saved " + (
        f"but the backup in {args.backup_dir}: the same command resumes after its last epoch."
        if args.backup_dir
        else "(--backup-dir DIR keeps every finished epoch, to resume after an interruption)."
    )
    result = _fit(model, dataset, config, graph_inputs)
    if not role.is_chief:
        # Every worker holds the same weights; one copy of the outputs is enough.
        print(f"Worker {role.task_index}: training done; the chief writes {output_dir}.")
        return None
    record = _training_record(
        args, model, dataset, config, result, precision, strategy, graph_inputs
    )
    model_path = _save_trained_model(record, model, output_dir)
    args.interrupted_note = _recovery_hint(output_dir, args, export_name)
    _evaluate_and_export(args, record, model, dataset, result, output_dir, export_name)
    _print_outputs(record, output_dir, model_path, config)
    return record


def _output_names(args):
    """`(output_dir, export_name)` of a `zoo train` run, from the flags."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = args.output_dir or os.path.join("runs", f"{args.model}-{args.dataset}-{stamp}")
    export_name = None if args.no_export else args.export_name or f"{args.model}-{args.dataset}"
    return output_dir, export_name


def _check_run(args, output_dir, export_name):
    """`(cluster role, model class, resuming)`, after checking that the outputs can be written.

    Only the chief writes; another worker may start after it has made the folder.
    """
    from zoo.distribute import cluster_role
    from zoo.distribute.backup import read_backup_state
    from zoo.export.target import check_export_target
    from zoo.models.registry import get_model_class

    try:
        role = cluster_role()
        model_class = get_model_class(args.model)
        resuming = False
        if role.is_chief:
            resuming = bool(args.backup_dir) and read_backup_state(args.backup_dir) is not None
            run_dir.check_output_dir(output_dir, args.overwrite, resuming)
            if export_name is not None:
                check_export_target(args.export_dir, export_name)
    except (ValueError, OSError) as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    return role, model_class, resuming


def _model_kwargs(args, model_class):
    """The model's constructor arguments from --model-config, the model flags and --arch."""
    model_kwargs = _model_config(args.model_config, model_class, args.model)
    args.gate = _gate_argument(args)
    model_kwargs.update(flag_kwargs(args, {"gate": "gate"}, model_class, "model", args.model))
    model_kwargs.update(model_flag_kwargs(args, args.model))
    takes_architecture = "architecture" in accepted_arguments(model_class)
    if args.arch is not None and not takes_architecture:
        raise SystemExit(f"zoo train: error: --arch does not apply to model {args.model!r}.")
    if takes_architecture and "architecture" not in model_kwargs:
        model_kwargs["architecture"] = _architecture(args)
    return model_kwargs


def _model_config(path, model_class, name):
    """Constructor arguments from a `--model-config` JSON file, checked against the model."""
    if path is None:
        return {}
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"zoo train: error: --model-config {path}: {error}") from None
    if not isinstance(config, dict):
        raise SystemExit(f"zoo train: error: --model-config {path}: expected a JSON object")
    unknown = sorted(set(config) - accepted_arguments(model_class))
    if unknown:
        raise SystemExit(
            f"zoo train: error: --model-config {path}: model {name!r} takes no {unknown}"
        )
    return config


def _output_head(name, dataset):
    """The `--head` layer; DLEN's takes each task's training rate, for its alpha_ratio."""
    head_class = HEADS[name]
    if "base_rates" in accepted_arguments(head_class):
        from zoo.models.dlen import base_rates

        return head_class(base_rates=base_rates(dataset))
    return head_class()


def _gate_argument(args):
    """The models' `gate=` from --gate and --gate-top-k (`None` when neither is set)."""
    if args.gate_top_k is None:
        return args.gate
    if args.gate is None:
        raise SystemExit("zoo train: error: --gate-top-k needs --gate, e.g. --gate noisy-top-k.")
    if "k" not in accepted_arguments(GATES[args.gate]):
        raise SystemExit(f"zoo train: error: --gate-top-k does not apply to gate {args.gate!r}.")
    return {"class_name": args.gate, "config": {"k": args.gate_top_k}}


def _architecture(args):
    """The searched architecture that --arch names (automtl-derived needs one)."""
    from zoo.models.automtl import load_architecture

    if args.arch is None:
        raise SystemExit(
            f"zoo train: error: --model {args.model} needs --arch FILE, the architecture "
            "`zoo search` wrote."
        )
    try:
        return load_architecture(args.arch)
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None


def _training_setup(args, role, output_dir):
    """`(TrainingConfig, precision, tf.distribute strategy)` from the training flags."""
    from zoo.distribute import make_strategy
    from zoo.training.precision import set_precision
    from zoo.training.trainer import TrainingConfig

    try:
        config = TrainingConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            jit_compile=not args.no_jit,
            steps_per_execution=args.steps_per_execution,
            early_stopping_patience=(
                None if args.no_early_stopping else args.early_stopping_patience
            ),
            early_stopping_monitor=args.early_stopping_monitor or "val_loss",
            seed=args.seed,
            backup_dir=args.backup_dir,
            verbose=2 if args.quiet else 1,
        )
        precision = set_precision(args.precision)
        strategy = make_strategy(args.strategy)
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    config.tensorboard_dir = os.path.join(output_dir, run_dir.LOGS)
    if args.strategy != "default":
        print(
            f"{args.strategy}: {strategy.num_replicas_in_sync} replicas in sync; this process is "
            f"{role.task_type or 'alone'} {role.task_index} of {role.num_workers}"
            f"{' (chief: writes the outputs)' if role.is_chief else ''}",
            flush=True,
        )
    return config, precision, strategy


def _dataset_kwargs(args):
    from zoo.data.registry import get_loader

    return flag_kwargs(args, DATASET_FLAGS, get_loader(args.dataset), "dataset", args.dataset)


def _load_checked_dataset(args, dataset_kwargs):
    """The dataset, every split read once, its tasks checked against the task flags.

    In-memory datasets were checked while loading; a stream checks its rows
    on its first pass over each split (`num_rows`), which would otherwise be
    the evaluation after training for validation and test: a bad row
    anywhere stops the run before training.
    """
    import keras

    keras.utils.set_random_seed(args.seed)
    dataset = load_dataset(args, dataset_kwargs)
    if dataset.summary:
        print(f"{dataset.name}: {dataset.summary}", flush=True)
    for split in ("train", "validation", "test"):
        dataset.num_rows(split)
    _check_task_names(args, dataset.tasks)
    return dataset


def _check_task_names(args, tasks):
    names = [t.name for t in tasks]
    for flag, given in (
        ("--loss-weights", args.loss_weights),
        ("--ranking-weights", args.ranking_weights),
        ("--bias-tasks", args.bias_tasks),
    ):
        unknown = [name for name in (given or ()) if name not in names]
        if unknown:
            raise SystemExit(
                f"zoo train: error: {flag} names {unknown}, which the dataset does not have; "
                f"its tasks are {names}."
            )


def _build_model(args, model_class, model_kwargs, dataset, strategy):
    """`(model, graph inputs or None)`: the model built under the strategy's scope."""
    from zoo.distribute.backup import check_backup_matches

    preprocessor = dataset.make_preprocessor()
    if "base_rates" in accepted_arguments(model_class):
        from zoo.models.dlen import base_rates

        # DLEN's alpha_ratio is relative to each task's rate on the training split.
        model_kwargs["base_rates"] = base_rates(dataset)
    if args.head is not None:
        model_kwargs["heads"] = [_output_head(args.head, dataset)]
    graph_inputs = _graph_inputs(args, dataset, preprocessor, model_kwargs)
    try:
        with strategy.scope():
            model = model_class(
                tasks=dataset.tasks,
                preprocessor=preprocessor,
                **_loss_weighting_kwargs(args),
                bias_tower_feature=args.bias_tower,
                ranking_weights=args.ranking_weights,
                **model_kwargs,
            )
            model.build()  # checks that need the weights, e.g. GradNorm's shared weights
        if args.backup_dir:
            check_backup_matches(args.backup_dir, model)
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    return model, graph_inputs


def _loss_weighting_kwargs(args):
    """`{"loss_weighting": ...}` from the flags, or `{}` for the model's own default."""
    if args.loss_weights is not None and args.loss_weighting not in (None, "fixed"):
        raise SystemExit(
            "zoo train: error: --loss-weights sets fixed weights; it cannot be combined with "
            f"--loss-weighting {args.loss_weighting}."
        )
    if args.loss_weights is not None:
        return {"loss_weighting": args.loss_weights}
    return {} if args.loss_weighting is None else {"loss_weighting": args.loss_weighting}


def _graph_inputs(args, dataset, preprocessor, model_kwargs):
    """Builds the graphs for a graph model and sets its graph constructor arguments.

    Returns the `GraphInputs`, or `None` for a model without graphs (after
    checking that no graph flag was given).
    """
    from zoo.graphs import GraphInputs

    if args.model not in GRAPH_MODELS and not args.with_mgnn:
        given = [f"--{name.replace('_', '-')}" for name in GRAPH_FLAGS if getattr(args, name)]
        if given:
            raise SystemExit(
                f"zoo train: error: {given[0]} applies to graph models (mogenet, ngcf) and to "
                "--with-mgnn."
            )
        return None
    if args.model in GRAPH_MODELS and args.with_mgnn:
        raise SystemExit(
            f"zoo train: error: --with-mgnn adds a graph encoder to a model without one; "
            f"{args.model} has its own."
        )
    num_layers = args.graph_layers or 2
    fanouts = _fanouts(args.fanouts, num_layers)
    if args.model == "ngcf" and args.attention:
        raise SystemExit("zoo train: error: --attention does not apply to ngcf.")
    try:
        graph_inputs = GraphInputs.from_dataset(
            dataset, preprocessor, top_k=args.top_k or 10, fanouts=fanouts, seed=args.seed
        )
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    print(graph_inputs.summary(), flush=True)
    model_kwargs.update(_graph_model_kwargs(args, graph_inputs, preprocessor, num_layers))
    return graph_inputs


def _graph_model_kwargs(args, graph_inputs, preprocessor, num_layers):
    """NGCF's id vocabularies and sizes, or the graph encoder of the other graph models."""
    from zoo.models import make_graph_encoder

    if args.model == "ngcf":
        return dict(
            num_users=graph_inputs.num_users,
            num_items=graph_inputs.num_items,
            user_id_feature=graph_inputs.user_id_feature,
            item_id_feature=graph_inputs.item_id_feature,
            units=args.graph_units or 64,
            num_layers=num_layers,
        )
    try:
        graph_encoder = make_graph_encoder(
            graph_inputs,
            preprocessor,
            units=args.graph_units or 32,
            num_layers=num_layers,
            attention=args.attention or "dot",
        )
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    return {"graph_encoder": graph_encoder}


def _fanouts(text, num_layers):
    """The `--fanouts` flag: one fan-out per layer, `None` for the whole graph."""
    if text is None:  # GraphSAGE's (25, 10) scaled down for two CPU cores
        return (10, 5) if num_layers == 2 else (10,) * num_layers
    if text == "full":
        return None
    try:
        fanouts = tuple(int(part) for part in text.split(","))
    except ValueError:
        fanouts = ()
    if not fanouts or min(fanouts) < 1:
        raise SystemExit(
            f"zoo train: error: --fanouts expects ints >= 1 separated by commas (one per "
            f"layer) or 'full'. Received: {text!r}"
        )
    if len(fanouts) != num_layers:
        raise SystemExit(
            f"zoo train: error: --fanouts {text} samples {len(fanouts)} hops but the graph "
            f"model has {num_layers} layers (--graph-layers); give one fan-out per layer."
        )
    return fanouts


def _watch_task_loss_if_weights_learn(args, model, config):
    """Early stopping watches val_task_loss by default when the loss weights are learned.

    Their val_loss moves with the weights themselves.
    """
    from zoo.losses.weighting import FixedLossWeights

    if args.early_stopping_monitor is None and not isinstance(
        model.loss_weighting, FixedLossWeights
    ):
        config.early_stopping_monitor = "val_task_loss"


def _claim_output_dir(args, output_dir, resuming):
    """The last check, and the first write: the folder is claimed just before training."""
    try:
        run_dir.claim_output_dir(output_dir, overwrite=args.overwrite, resuming=resuming)
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None


def _fit(model, dataset, config, graph_inputs):
    from zoo.training.trainer import fit

    try:
        return fit(model, dataset, config, graph_inputs=graph_inputs)
    except ValueError as error:
        if "early_stopping_monitor" not in str(error) and "replicas" not in str(error):
            raise
        raise SystemExit(f"zoo train: error: {error}") from None


def _training_record(args, model, dataset, config, result, precision, strategy, graph_inputs):
    """The run record written as soon as training ends (metrics come later)."""
    from zoo import __version__

    return {
        "status": "trained",
        "zoo_version": __version__,
        "model": args.model,
        "model_config": {k: v for k, v in model.get_config().items() if k != "preprocessor"},
        "num_params": int(model.count_params()),
        "data": dataset.settings,
        "training": {
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "jit_compile": config.jit_compile,
            "steps_per_execution": result.steps_per_execution,
            "steps_per_epoch": result.steps_per_epoch,
            "early_stopping_patience": config.early_stopping_patience,
            "early_stopping_monitor": config.early_stopping_monitor,
            "seed": config.seed,
            "precision": precision,
            "strategy": args.strategy,
            "replicas": strategy.num_replicas_in_sync,
            "loss_weighting": {
                "type": type(model.loss_weighting).__name__,
                "task_weights": model.loss_weighting.task_weights(),
            },
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "resumed_from_epoch": result.resumed_from_epoch,
            "epoch_seconds": [round(s, 4) for s in result.epoch_seconds],
            "history": result.history,
        },
        "graphs": graph_inputs
        and {
            "summary": graph_inputs.summary(),
            "fanouts": graph_inputs.fanouts and list(graph_inputs.fanouts),
            "top_k": graph_inputs.graphs.top_k,
            "channels": list(model.graph_channels),
        },
        "throughput": {"train_samples_per_second": round(result.train_samples_per_second, 1)},
        "metrics": None,
        "gates": None,
        "artifacts": {"model": None, "saved_model": None},
    }


def _save_trained_model(record, model, output_dir):
    """Saves a finished fit before anything else can fail: the model and its record.

    `zoo evaluate --run-dir` and `zoo export --run-dir` can finish the run from them.
    """
    model_path = run_dir.save_model(model, output_dir)
    record["artifacts"]["model"] = os.path.abspath(model_path)
    write_json(os.path.join(output_dir, run_dir.RUN_RECORD), record)
    run_dir.drop_replaced_run(output_dir)
    return model_path


def _recovery_hint(output_dir, args, export_name):
    export = f"zoo export --run-dir {output_dir}"
    if export_name is not None:
        export += f" --export-dir {args.export_dir} --export-name {export_name}"
        if args.xla_signatures:
            export += " --xla-signatures"
    return (
        f"the trained model is safe in {output_dir}/model.keras, with its record in "
        f"{output_dir}/metrics.json. Finish the run with `zoo evaluate --run-dir {output_dir}` "
        f"and `{export}`."
    )


def _evaluate_and_export(args, record, model, dataset, result, output_dir, export_name):
    """Exact metrics, the gates' report and the SavedModel, each recorded as it is done.

    A failure here is one line that says how to finish the run from its saved model.
    """
    from zoo.export.saved_model import export_saved_model
    from zoo.training.trainer import evaluate

    metrics_path = os.path.join(output_dir, run_dir.RUN_RECORD)
    try:
        metrics = {split: evaluate(model, dataset, split) for split in ("validation", "test")}
        print_metrics(
            f"Exact per-task metrics (weights of epoch {result.best_epoch} of "
            f"{result.epochs_run}):",
            metrics,
        )
        print(
            f"Training throughput: {result.train_samples_per_second:,.0f} samples/s "
            "(median of the epochs after the first)"
        )
        record["metrics"] = metrics
        if model.gate_expert_names():
            record["gates"] = gate_summary(model, dataset, "test")
        write_json(metrics_path, record)
        if export_name is not None:
            export_path = export_saved_model(
                model,
                args.export_dir,
                export_name,
                warmup_rows=warmup_rows(dataset),
                xla_signatures=args.xla_signatures,
            )
            record["artifacts"]["saved_model"] = os.path.abspath(export_path)
        record["status"] = "complete"
        write_json(metrics_path, record)
    except Exception as error:
        print(
            f"zoo train: error after training: {type(error).__name__}: {error}\n"
            f"zoo train: {_recovery_hint(output_dir, args, export_name)}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


def _print_outputs(record, output_dir, model_path, config):
    print(f"Metrics: {os.path.join(output_dir, run_dir.RUN_RECORD)}")
    print(f"Keras model: {model_path}")
    print(
        f"TensorBoard logs: {config.tensorboard_dir}  "
        f"(tensorboard --logdir {config.tensorboard_dir})"
    )
    if record["artifacts"]["saved_model"]:
        print(
            f"SavedModel for TF Serving: {os.path.relpath(record['artifacts']['saved_model'])}  "
            "(see savedmodels/README.md)"
        )
