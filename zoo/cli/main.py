"""The `zoo` command: train, search, evaluate and export zoo models.

zoo train                      # MMoE on Census-Income, group 1, paper protocol
zoo train --model ple --dataset census-income --task-group 2 --epochs 5
zoo search --model automtl --dataset kuairand --tasks click,like --output-dir runs/search
zoo train --model automtl-derived --arch runs/search/architecture.json --dataset kuairand \
    --tasks click,like
zoo train --model mogenet --dataset taobao-multibehavior --data-dir path/to/Taobao
zoo train --model mmoe --with-mgnn --dataset movielens-100k --data-dir path/to/ml-100k
zoo train --dataset tfds --tfds-name census_income --data-dir ~/tensorflow_datasets
zoo evaluate --run-dir runs/mmoe-census-income-...
zoo export --run-dir runs/mmoe-census-income-...
zoo convert --dataset ali-ccp --data-dir path/to/ali-ccp --output-dir data/ali-ccp-tfrecord
zoo train --dataset tfrecord --data-dir data/ali-ccp-tfrecord
"""

import argparse
import datetime
import inspect
import json
import os
import sys

# Nothing here imports TensorFlow at module level: `zoo --help` and a mistyped
# flag are answered before that import (about 5 s), which `main` makes only
# for a command that runs.
from zoo.cli import run_dir
from zoo.cli.quiet import import_tensorflow
from zoo.files import write_json
from zoo.registry import DATASETS, GATES, MODELS

DATASET_FLAGS = {
    # flag dest -> loader argument
    "data_dir": "data_dir",
    "task_group": "task_group",
    "protocol": "protocol",
    "embedding_dim": "embedding_dim",
    "correlation": "correlation",
    "eta": "eta",
    "list_size": "list_size",
    "tasks": "tasks",
    "validation_days": "validation_days",
    "test_days": "test_days",
    "max_rows": "max_rows",
    "negatives_per_positive": "negatives_per_positive",
    "max_users": "max_users",
    "tfds_name": "tfds_name",
    "stream": "streaming",
}
MODEL_FLAGS = {
    # flag dest -> model constructor argument
    "num_experts": "num_experts",
    "expert_units": "expert_units",
    "tower_units": "tower_units",
    "bottom_units": "bottom_units",
    "hidden_units": "hidden_units",
    "num_levels": "num_levels",
    "num_layers": "num_layers",
    "num_task_experts": "num_task_experts",
    "num_shared_experts": "num_shared_experts",
    "gate_temperature": "gate_temperature",
    "gate": "gate",
    "expert_batch_norm": "expert_batch_norm",
    "dropout": "dropout",
    "units": "units",
    "self_weight": "self_weight",
    "l0_strength": "l0_strength",
    "bias_features": "bias_features",
    "bias_tasks": "bias_tasks",
    "bias_dropout": "bias_dropout",
    "shallow_tower_units": "shallow_tower_units",
    "hidden_state_units": "hidden_state_units",
    "alpha": "alpha",
    "alpha_ratio": "alpha_ratio",
    "layout": "layout",
    "group_feature": "group_feature",
    "interaction": "interaction",
    "cooperative_weight": "cooperative_weight",
    "l2": "l2",
}
# Models whose graph encoder is part of the model, not the --with-mgnn add-on.
GRAPH_MODELS = ("mogenet", "ngcf")


def _units(text):
    try:
        units = [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 64,32; got {text!r}"
        ) from None
    if any(u < 1 for u in units):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return units


def _seed(text):
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**32:  # what Python, NumPy and TensorFlow all take
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**32 - 1; got {text!r}")
    return seed


def _names(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names; got {text!r}")
    return names


def _task_weights(text):
    weights = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected TASK=WEIGHT pairs such as income=1,never_married=0.5; got {item!r}"
            ) from None
    return weights


def build_parser():
    # allow_abbrev=False: a mistyped flag such as --epoch must be an error, not
    # silently taken for --epochs (or, when ambiguous, for something else).
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="Train, evaluate and export multi-task ranking models (Keras 3).",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Flags every command takes.
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's native log lines (hidden by default; setting "
        "TF_CPP_MIN_LOG_LEVEL yourself also shows them at that level)",
    )

    train = commands.add_parser(
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
    _add_data_flags(train, DATASETS)

    model = train.add_argument_group("model (flags a model does not take are an error)")
    model.add_argument(
        "--model", default="mmoe", help=f"one of: {', '.join(MODELS)} (default: %(default)s)"
    )
    model.add_argument(
        "--num-experts",
        type=int,
        help="mmoe, omoe: number of experts (default 8); snr-*: sub-networks per layer (4)",
    )
    model.add_argument(
        "--expert-units",
        type=_units,
        help="mmoe, omoe, cgc, ple: expert widths, e.g. 32 or 64,32 (default 32)",
    )
    model.add_argument(
        "--tower-units", type=_units, help="every model: task tower widths (default 16)"
    )
    model.add_argument(
        "--bottom-units", type=_units, help="shared-bottom: shared MLP widths (default 256)"
    )
    model.add_argument(
        "--hidden-units",
        type=_units,
        help="single-task: each task's MLP widths (default 256); esmm: the CTR and CVR networks' "
        "widths (default 128,64)",
    )
    model.add_argument("--num-levels", type=int, help="ple: extraction levels (default 2)")
    model.add_argument(
        "--num-layers", type=int, help="snr-trans, snr-aver: layers of sub-networks (default 2)"
    )
    model.add_argument(
        "--num-task-experts", type=int, help="cgc, ple: experts per task (default 2)"
    )
    model.add_argument(
        "--num-shared-experts", type=int, help="cgc, ple: shared experts (default 4)"
    )
    model.add_argument(
        "--gate-temperature", type=float, help="gated models: softmax temperature (default 1.0)"
    )
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
        help="--gate noisy-top-k: experts with a non-zero weight per row (default 2)",
    )
    model.add_argument(
        "--expert-batch-norm",
        action="store_const",
        const=True,
        default=None,
        help="omoe, mmoe, cgc, ple: BatchNormalization inside every expert (as torch-rechub); "
        "higher AUC on Census-Income, about a quarter slower",
    )
    model.add_argument("--dropout", type=float, help="dropout inside experts / bottoms (default 0)")
    model.add_argument(
        "--units", type=_units, help="cross-stitch: widths of each task's column (default 32,32)"
    )
    model.add_argument(
        "--self-weight",
        type=float,
        help="cross-stitch: initial diagonal of the cross-stitch matrices (default 0.9)",
    )
    model.add_argument(
        "--l0-strength",
        type=float,
        help="snr-trans, snr-aver: weight of the L0 penalty on open connections (default 1e-4)",
    )

    model.add_argument(
        "--bias-features",
        type=_names,
        help="youtube-mmoe: selection-bias features seen only by the shallow tower and left out "
        "of the default serving signature, e.g. position,device (default position)",
    )
    model.add_argument(
        "--bias-tasks",
        type=_names,
        help="youtube-mmoe: tasks whose logit gets the shallow tower's (default: every binary "
        "and regression task)",
    )
    model.add_argument(
        "--bias-dropout",
        type=float,
        help="youtube-mmoe: rate at which bias feature values are dropped in training "
        "(default 0.1)",
    )
    model.add_argument(
        "--shallow-tower-units",
        type=_units,
        help="youtube-mmoe: hidden widths of the shallow tower (default none: linear)",
    )
    model.add_argument(
        "--hidden-state-units",
        type=_units,
        help="mmoe-dlen, ple-dlen: widths of the hidden-state network giving P(UP) "
        "(default 256,128,64)",
    )
    model.add_argument(
        "--alpha",
        type=float,
        help="mmoe-dlen, ple-dlen: upper limit of P(t | not UP), an absolute probability for "
        "every task (instead of --alpha-ratio)",
    )
    model.add_argument(
        "--alpha-ratio",
        type=float,
        help="mmoe-dlen, ple-dlen: upper limit of P(t | not UP) as a multiple of each task's "
        "training positive rate (default 0.3; the paper uses 0.1 to 0.5)",
    )
    model.add_argument(
        "--layout",
        choices=("mfh", "h-mtl", "flat"),
        help="mfh: the switcher tree; 'h-mtl' and 'flat' are the appendix's ablations "
        "(default mfh)",
    )
    model.add_argument(
        "--group-feature",
        help="mfh: the feature that assigns a sample to a user group (default user_active_degree)",
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
        type=_task_weights,
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

    graph = train.add_argument_group(
        "graphs (mogenet, ngcf, and any model with --with-mgnn; (user, item) datasets)"
    )
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
    graph.add_argument(
        "--interaction",
        choices=("product", "concat", "add", "mlp"),
        help="mogenet: the interaction function kappa of the graph representations "
        "(default product)",
    )
    graph.add_argument(
        "--cooperative-weight",
        type=float,
        help="mogenet: weight beta of the cooperative gate loss (default 1e-6; 0: off)",
    )
    graph.add_argument(
        "--l2",
        type=float,
        help="mogenet: L2 weight on the task parameters, per mean loss (default 3.9e-6: the "
        "paper's 1e-3 over its summed batches of 256); ngcf: on the id embeddings (default 1e-5)",
    )

    weighting = train.add_argument_group("multi-task loss")
    weighting.add_argument(
        "--loss-weighting",
        choices=("fixed", "uncertainty", "gradnorm"),
        default=None,
        help="how task losses add up: fixed weights (--loss-weights, default all 1), learned "
        "uncertainty weighting (Kendall et al. 2018) or GradNorm (Chen et al. 2018) "
        "(default: fixed; mogenet: uncertainty)",
    )
    weighting.add_argument(
        "--loss-weights",
        type=_task_weights,
        default=None,
        help="with --loss-weighting fixed: TASK=WEIGHT,... e.g. income=1,never_married=0.5; "
        "tasks not named get 1",
    )

    fitting = train.add_argument_group("training")
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
        type=_seed,
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

    cluster = train.add_argument_group("devices and clusters (README: Beyond one machine)")
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
    _add_export_flags(output)
    output.add_argument("--no-export", action="store_true", help="do not export a SavedModel")

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        allow_abbrev=False,
        help="report exact per-task metrics of a trained run",
        description="Reload RUN_DIR/model.keras and the dataset named in RUN_DIR/metrics.json, "
        "and print per-task AUC and loss; writes RUN_DIR/evaluation.json.",
    )
    evaluate.add_argument("--run-dir", required=True, help="a folder written by `zoo train`")
    evaluate.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        action="append",
        help="split(s) to evaluate; repeatable (default: validation and test)",
    )
    evaluate.add_argument("--data-dir", default=None, help="override the run's data folder")
    evaluate.add_argument(
        "--baseline-run",
        default=None,
        help="another `zoo train` folder on the same data: report RelaImpr of every binary "
        "task's AUC against that run's",
    )

    search = commands.add_parser(
        "search",
        parents=[common],
        allow_abbrev=False,
        help="search a model architecture (AutoMTL) and write it to a file",
        description=(
            "AutoMTL's differentiable architecture search (Algorithm 1 of the paper): alpha "
            "learns on validation batches, the network weights and the expert-selection beta "
            "on training batches. Writes the derived architecture (DIR/architecture.json, "
            "readable and editable), pictures of it and of the experts each task selected, the "
            "search's history and TensorBoard logs. Retrain it with "
            "`zoo train --model automtl-derived --arch DIR/architecture.json`."
        ),
    )
    _add_data_flags(search, DATASETS)
    space = search.add_argument_group("search space (AutoMTL Table 1 by default)")
    space.add_argument("--model", default="automtl", choices=("automtl",), help="default: automtl")
    space.add_argument(
        "--interaction-ops",
        type=_names,
        help="feature-interaction candidates, e.g. skip,inner-product,cross-2,attention-4,mlp-64",
    )
    space.add_argument(
        "--expert-ops",
        type=_names,
        help="expert-block candidates, e.g. skip,bit-gate,mlp-64,conv1d-3",
    )
    space.add_argument(
        "--no-interaction", action="store_true", help="no interaction module (ablation w/o INT)"
    )
    space.add_argument(
        "--homogeneous-experts",
        action="store_true",
        help="every expert searches the same architecture (ablation hom Expert)",
    )
    space.add_argument(
        "--no-expert-selection",
        action="store_true",
        help="softmax gates instead of expert selection (ablation w/o SEL)",
    )
    space.add_argument("--num-experts", type=int, default=8, help="N (default: %(default)s)")
    space.add_argument(
        "--num-blocks", type=int, default=3, help="choice blocks per expert (default: %(default)s)"
    )
    space.add_argument(
        "--expert-width", type=int, default=64, help="width of the experts (default: %(default)s)"
    )
    space.add_argument(
        "--field-dim",
        type=int,
        default=8,
        help="width of every field vector (default: %(default)s)",
    )
    space.add_argument(
        "--tower-units", type=_units, default=[128, 64], help="task towers (default: 128,64)"
    )
    searching = search.add_argument_group("search")
    searching.add_argument("--epochs", type=int, default=10, help="default: %(default)s")
    searching.add_argument("--batch-size", type=int, default=1024, help="default: %(default)s")
    searching.add_argument(
        "--warmup-epochs", type=int, default=None, help="epochs with beta frozen (default: a third)"
    )
    searching.add_argument(
        "--jsd-weight",
        type=float,
        default=1.0,
        help="initial weight of the JSD loss, decayed to 0; 0 = ablation w/o AUX "
        "(default: %(default)s)",
    )
    searching.add_argument(
        "--no-auxiliary-skip", action="store_true", help="no DARTS- auxiliary skip connection"
    )
    searching.add_argument(
        "--num-selected",
        type=int,
        default=6,
        help="experts each task keeps when deriving (default: %(default)s)",
    )
    searching.add_argument(
        "--jit",
        action="store_true",
        help="compile the search step with XLA (off by default: on 2 CPU cores the supernet's "
        "XLA step was slower than graph mode and took minutes to compile)",
    )
    searching.add_argument(
        "--seed", type=_seed, default=2024, help="seeds everything (default: %(default)s)"
    )
    searching.add_argument("--quiet", action="store_true", help="one line per epoch")
    searching.add_argument(
        "--output-dir",
        default=None,
        help="where architecture.json, the pictures and logs go "
        "(default: runs/automtl-search-<dataset>-<time>)",
    )

    export = commands.add_parser(
        "export",
        parents=[common],
        allow_abbrev=False,
        help="export a trained run as a TF Serving SavedModel",
        description="Write RUN_DIR/model.keras as EXPORT_DIR/NAME/VERSION/ for TF Serving.",
    )
    export.add_argument("--run-dir", required=True, help="a folder written by `zoo train`")
    _add_export_flags(export)
    export.add_argument("--version", type=int, default=None, help="default: the next free number")

    convert = commands.add_parser(
        "convert",
        parents=[common],
        allow_abbrev=False,
        help="write a dataset as sharded TFRecord files, for `--dataset tfrecord`",
        description="Stream every split of a dataset into DIR as "
        "<split>-00000-of-000NN.tfrecord.gz files of tf.train.Examples, with DIR/schema.json "
        "(features, tasks, row counts, learned vocabularies). Train on them with "
        "`zoo train --dataset tfrecord --data-dir DIR`.",
    )
    _add_data_flags(convert, DATASETS)
    convert.add_argument("--output-dir", required=True, help="the folder to write")
    convert.add_argument(
        "--rows-per-shard", type=int, default=1_000_000, help="default: %(default)s"
    )
    convert.add_argument("--no-compression", action="store_true", help="write plain .tfrecord")
    convert.add_argument(
        "--overwrite", action="store_true", help="replace --output-dir if it is not empty"
    )
    return parser


def _add_data_flags(parser, datasets):
    data = parser.add_argument_group("data (flags a dataset does not take are an error)")
    data.add_argument(
        "--dataset",
        default="census-income",
        help=f"one of: {', '.join(datasets)} (default: %(default)s)",
    )
    data.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset's files "
        "(default: the copy in datasets/, or $ZOO_DATA_DIR)",
    )
    data.add_argument(
        "--task-group",
        type=int,
        choices=(1, 2),
        help="census-income: 1 = income + never_married (default), "
        "2 = college_or_above + never_married",
    )
    data.add_argument(
        "--protocol",
        choices=("paper", "all-features"),
        help="census-income: 'paper' (default) drops every label column of both groups from "
        "the features; 'all-features' drops only this group's labels, as the peer libraries do",
    )
    data.add_argument(
        "--embedding-dim",
        type=int,
        help="census-income: embedding width of every categorical feature (default 4)",
    )
    data.add_argument(
        "--eta",
        type=float,
        help="census-position-bias: position bias severity, P(examined) = (1/p)^eta (default 1)",
    )
    data.add_argument(
        "--list-size",
        type=int,
        help="census-position-bias: results per simulated list (default 10)",
    )
    data.add_argument(
        "--tasks",
        type=_names,
        help="kuairand: tasks, from click, long_view, like, follow, comment, forward, "
        "profile_enter, pcr (default click,long_view,like,follow,comment,forward)",
    )
    data.add_argument(
        "--validation-days",
        type=int,
        help="kuairand: the last days before the test days are validation (default 2)",
    )
    data.add_argument(
        "--test-days", type=int, help="kuairand: the last days of the log are test (default 2)"
    )
    data.add_argument(
        "--max-rows",
        type=int,
        help="kuairand: read at most this many log rows (for a quick run on the full download)",
    )
    data.add_argument(
        "--stream",
        action="store_const",
        const=True,
        default=None,
        help="census-income, kuairand, tfds: read the files as a stream on every pass instead "
        "of into memory (data bigger than memory, e.g. KuaiRand-27K's 322M log rows); "
        "ali-ccp, aliexpress and tfrecord always stream",
    )
    data.add_argument(
        "--negatives-per-positive",
        type=int,
        help="movielens-100k, taobao-multibehavior: sampled non-interacted items per "
        "interaction (default 1)",
    )
    data.add_argument(
        "--max-users",
        type=int,
        help="taobao-multibehavior: keep a seeded sample of this many users with all their "
        "pairs (default: every user)",
    )
    data.add_argument(
        "--tfds-name",
        help="tfds: the prepared TFDS dataset to read from --data-dir (the TFDS data folder), "
        "e.g. census_income, kuairand, movielens_100k (see datasets/tfds/README.md)",
    )
    data.add_argument(
        "--correlation",
        type=float,
        help="synthetic: correlation p of the two regression tasks' weights (default 0.5)",
    )


def _add_export_flags(group):
    group.add_argument(
        "--export-dir",
        default="savedmodels",
        help="TF Serving model base folder (default: %(default)s)",
    )
    group.add_argument(
        "--export-name", default=None, help="served model name (default: <model>-<dataset>)"
    )


def _accepted_arguments(target):
    """Argument names of a function, or of a class's constructor chain.

    For a class, `__init__` methods are followed up the zoo's hierarchy
    while they pass `**kwargs` on: `YouTubeMMoE` hands its MMoE arguments to
    `MMoE`. Keras' own constructors are not flags.
    """
    if not isinstance(target, type):
        return set(inspect.signature(target).parameters)
    accepted = set()
    for cls in target.__mro__:
        if not cls.__module__.startswith("zoo."):
            break
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters
        accepted |= set(parameters)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            break
    return accepted


def _flag_kwargs(args, flags, target, kind, name):
    """Keyword arguments of `target` (a loader or a model class) from the flags the user set.

    A flag left unset is not passed (the function's default applies); a flag
    set for a model or dataset that has no such argument is an error rather
    than silently ignored.
    """
    accepted = _accepted_arguments(target)
    kwargs = {}
    for dest, argument in flags.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if argument not in accepted:
            flag = "--" + dest.replace("_", "-")
            raise SystemExit(
                f"zoo {args.command}: error: {flag} does not apply to {kind} {name!r}."
            )
        kwargs[argument] = value
    return kwargs


def _load_dataset(args, dataset_kwargs):
    """The dataset the flags name; a bad option is a usage error, a bad file a data error."""
    from zoo.data.base.errors import DataError
    from zoo.data.registry import load_dataset

    print(f"Loading {args.dataset} ...", flush=True)
    try:
        return load_dataset(args.dataset, **dataset_kwargs)
    except DataError:
        raise
    except (ValueError, TypeError) as error:
        raise SystemExit(f"zoo {args.command}: error: {error}") from None


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
    unknown = sorted(set(config) - _accepted_arguments(model_class))
    if unknown:
        raise SystemExit(
            f"zoo train: error: --model-config {path}: model {name!r} takes no {unknown}"
        )
    return config


def _print_metrics(title, metrics_by_split):
    print(title)
    for split, results in metrics_by_split.items():
        parts = []
        for task, values in results.items():
            if not isinstance(values, dict):
                continue
            shown = ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in values.items()
                if k != "num_labeled" or v != results["num_rows"]
            )
            parts.append(f"{task}: {shown}")
        parts.append(f"total loss {results['total_loss']:.4f}")
        print(f"  {split:<10} " + " | ".join(parts))


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


def _graph_inputs(args, dataset, preprocessor, model_kwargs):
    """Builds the graphs for a graph model and sets its graph constructor arguments.

    Returns the `GraphInputs`, or `None` for a model without graphs (after
    checking that no graph flag was given).
    """
    from zoo.graphs import GraphInputs
    from zoo.models import make_graph_encoder

    graph_flags = ("graph_units", "graph_layers", "fanouts", "top_k", "attention")
    if args.model not in GRAPH_MODELS and not args.with_mgnn:
        given = [f"--{name.replace('_', '-')}" for name in graph_flags if getattr(args, name)]
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
            dataset,
            preprocessor,
            top_k=args.top_k or 10,
            fanouts=fanouts,
            seed=args.seed,
        )
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    print(graph_inputs.summary(), flush=True)
    if args.model == "ngcf":
        model_kwargs.update(
            num_users=graph_inputs.num_users,
            num_items=graph_inputs.num_items,
            user_id_feature=graph_inputs.user_id_feature,
            item_id_feature=graph_inputs.item_id_feature,
            units=args.graph_units or 64,
            num_layers=num_layers,
        )
    else:
        try:
            model_kwargs["graph_encoder"] = make_graph_encoder(
                graph_inputs,
                preprocessor,
                units=args.graph_units or 32,
                num_layers=num_layers,
                attention=args.attention or "dot",
            )
        except ValueError as error:
            raise SystemExit(f"zoo train: error: {error}") from None
    return graph_inputs


def _gate_summary(model, dataset, split):
    from zoo.training.gate_diagnostics import gate_report

    report = gate_report(model, dataset, split)
    if report["collapsed_onto"] is not None:
        print(
            f"Warning: expert collapse, {report['collapsed_onto']!r} takes more than "
            f"{report['collapse_threshold']:.0%} of every task's gate weight on {split}."
        )
    return report


def _warmup_rows(dataset, count=8):
    return dataset.head("validation", count)


def _output_names(args):
    """`(output_dir, export_name)` of a `zoo train` run, from the flags."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = args.output_dir or os.path.join("runs", f"{args.model}-{args.dataset}-{stamp}")
    export_name = None if args.no_export else args.export_name or f"{args.model}-{args.dataset}"
    return output_dir, export_name


def _check_output_dir(args, output_dir):
    """Whether the run resumes from a backup, after checking that the folder can take it."""
    from zoo.distribute.backup import read_backup_state

    resuming = bool(args.backup_dir) and read_backup_state(args.backup_dir) is not None
    try:
        run_dir.check_output_dir(output_dir, args.overwrite, resuming)
    except ValueError as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    return resuming


def _check_every_split(dataset):
    """Reads every split once, so a bad row anywhere stops the run before training.

    In-memory datasets were checked while loading; a stream checks its rows
    on its first pass over each split (`num_rows`), which would otherwise be
    the evaluation after training for validation and test.
    """
    for split in ("train", "validation", "test"):
        dataset.num_rows(split)


def _gate_argument(args):
    """The models' `gate=` from --gate and --gate-top-k (`None` when neither is set)."""
    if args.gate_top_k is None:
        return args.gate
    if args.gate is None:
        raise SystemExit("zoo train: error: --gate-top-k needs --gate, e.g. --gate noisy-top-k.")
    if "k" not in _accepted_arguments(GATES[args.gate]):
        raise SystemExit(f"zoo train: error: --gate-top-k does not apply to gate {args.gate!r}.")
    return {"class_name": args.gate, "config": {"k": args.gate_top_k}}


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


def _recovery_hint(output_dir, args, export_name):
    export = f"zoo export --run-dir {output_dir}"
    if export_name is not None:
        export += f" --export-dir {args.export_dir} --export-name {export_name}"
    return (
        f"the trained model is safe in {output_dir}/model.keras, with its record in "
        f"{output_dir}/metrics.json. Finish the run with `zoo evaluate --run-dir {output_dir}` "
        f"and `{export}`."
    )


def run_train(args):
    output_dir, export_name = _output_names(args)
    import keras

    from zoo.data.registry import get_loader
    from zoo.distribute import cluster_role, make_strategy
    from zoo.distribute.backup import check_backup_matches
    from zoo.export.saved_model import export_saved_model
    from zoo.export.target import check_export_target
    from zoo.losses.weighting import FixedLossWeights
    from zoo.models.registry import get_model_class
    from zoo.training.precision import set_precision
    from zoo.training.trainer import TrainingConfig, evaluate, fit

    try:
        role = cluster_role()
        model_class = get_model_class(args.model)
        # Only the chief writes; another worker may start after it has made the folder.
        resuming = _check_output_dir(args, output_dir) if role.is_chief else False
        if export_name is not None and role.is_chief:
            check_export_target(args.export_dir, export_name)
    except (ValueError, OSError) as error:
        raise SystemExit(f"zoo train: error: {error}") from None
    model_kwargs = _model_config(args.model_config, model_class, args.model)
    args.gate = _gate_argument(args)
    model_kwargs.update(_flag_kwargs(args, MODEL_FLAGS, model_class, "model", args.model))
    if args.arch is not None and "architecture" not in _accepted_arguments(model_class):
        raise SystemExit(f"zoo train: error: --arch does not apply to model {args.model!r}.")
    if "architecture" in _accepted_arguments(model_class) and "architecture" not in model_kwargs:
        if args.arch is None:
            raise SystemExit(
                f"zoo train: error: --model {args.model} needs --arch FILE, the architecture "
                "`zoo search` wrote."
            )
        from zoo.models.automtl import load_architecture

        try:
            model_kwargs["architecture"] = load_architecture(args.arch)
        except ValueError as error:
            raise SystemExit(f"zoo train: error: {error}") from None
    dataset_kwargs = _flag_kwargs(
        args, DATASET_FLAGS, get_loader(args.dataset), "dataset", args.dataset
    )
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
    if args.strategy != "default":
        print(
            f"{args.strategy}: {strategy.num_replicas_in_sync} replicas in sync; this process is "
            f"{role.task_type or 'alone'} {role.task_index} of {role.num_workers}"
            f"{' (chief: writes the outputs)' if role.is_chief else ''}",
            flush=True,
        )
    keras.utils.set_random_seed(args.seed)
    dataset = _load_dataset(args, dataset_kwargs)
    if dataset.summary:
        print(f"{dataset.name}: {dataset.summary}", flush=True)
    _check_every_split(dataset)
    _check_task_names(args, dataset.tasks)
    preprocessor = dataset.make_preprocessor()
    config.tensorboard_dir = os.path.join(output_dir, run_dir.LOGS)
    if "base_rates" in _accepted_arguments(model_class):
        from zoo.models.dlen import base_rates

        # DLEN's alpha_ratio is relative to each task's rate on the training split.
        model_kwargs["base_rates"] = base_rates(dataset)
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
    if args.early_stopping_monitor is None and not isinstance(
        model.loss_weighting, FixedLossWeights
    ):
        config.early_stopping_monitor = "val_task_loss"
    if role.is_chief:
        # The last check, and the first write: the folder is claimed just before training.
        try:
            run_dir.claim_output_dir(output_dir, overwrite=args.overwrite, resuming=resuming)
        except ValueError as error:
            raise SystemExit(f"zoo train: error: {error}") from None
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
    try:
        result = fit(model, dataset, config, graph_inputs=graph_inputs)
    except ValueError as error:
        if "early_stopping_monitor" not in str(error) and "replicas" not in str(error):
            raise
        raise SystemExit(f"zoo train: error: {error}") from None
    if not role.is_chief:
        # Every worker holds the same weights; one copy of the outputs is enough.
        print(f"Worker {role.task_index}: training done; the chief writes {output_dir}.")
        return None

    # A finished fit is saved before anything else can fail: the model and a
    # record that `zoo evaluate --run-dir` and `zoo export --run-dir` can finish from.
    record = _training_record(
        args, model, dataset, config, result, precision, strategy, graph_inputs
    )
    model_path = run_dir.save_model(model, output_dir)
    record["artifacts"]["model"] = os.path.abspath(model_path)
    metrics_path = os.path.join(output_dir, run_dir.RUN_RECORD)
    write_json(metrics_path, record)
    run_dir.drop_replaced_run(output_dir)
    args.interrupted_note = _recovery_hint(output_dir, args, export_name)
    try:
        metrics = {split: evaluate(model, dataset, split) for split in ("validation", "test")}
        _print_metrics(
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
            record["gates"] = _gate_summary(model, dataset, "test")
        write_json(metrics_path, record)
        if export_name is not None:
            export_path = export_saved_model(
                model, args.export_dir, export_name, warmup_rows=_warmup_rows(dataset)
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
    print(f"Metrics: {metrics_path}")
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
    return record


def _load_run(run_folder, data_dir=None, command="zoo"):
    """The run record, the dataset it names and the trained model of a `zoo train` folder."""
    from zoo.data.registry import get_loader, load_dataset

    try:
        run = run_dir.read_run_record(run_folder)
        model = run_dir.load_keras_model(run_folder)
    except run_dir.RunDirError as error:
        raise SystemExit(f"{command}: error: {error}") from None
    settings = dict(run["data"])
    name = settings.pop("dataset")
    if data_dir:
        settings["data_dir"] = data_dir
    # settings also records facts about the data (e.g. a measured
    # correlation); pass back only what the loader takes.
    accepted = inspect.signature(get_loader(name)).parameters
    dataset = load_dataset(name, **{k: v for k, v in settings.items() if k in accepted})
    return run, dataset, model


def _relative_improvements(metrics, baseline_dir):
    """RelaImpr of each binary task's AUC against the same split of another run."""
    from zoo.metrics.ranking import relative_improvement

    path = os.path.join(baseline_dir, "evaluation.json")
    if not os.path.exists(path):
        path = os.path.join(baseline_dir, "metrics.json")
    if not os.path.exists(path):
        raise SystemExit(
            f"zoo evaluate: error: --baseline-run {baseline_dir!r} has no metrics.json"
        )
    with open(path) as f:
        baseline = json.load(f)
    out = {}
    for split, results in metrics.items():
        base = (baseline.get("metrics") or {}).get(split)
        if base is None:
            raise SystemExit(
                f"zoo evaluate: error: the baseline run {baseline_dir!r} has no {split!r} metrics "
                f"in {path}"
            )
        out[split] = {
            task: relative_improvement(values["auc"], base[task]["auc"])
            for task, values in results.items()
            if isinstance(values, dict) and "auc" in values and task in base
        }
    return {"baseline_run": os.path.abspath(baseline_dir), "percent": out}


def run_search(args):
    import keras

    from zoo.data.registry import get_loader
    from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS
    from zoo.models.automtl_supernet import AutoMTLSupernet
    from zoo.search import SearchConfig, describe_architecture, save_architecture, search_automtl
    from zoo.search.plots import plot_architecture, plot_expert_selection

    try:
        get_loader(args.dataset)
    except ValueError as error:
        raise SystemExit(f"zoo search: error: {error}") from None
    dataset_kwargs = _flag_kwargs(
        args, DATASET_FLAGS, get_loader(args.dataset), "dataset", args.dataset
    )
    try:
        config = SearchConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            warmup_epochs=args.warmup_epochs,
            auxiliary_skip=not args.no_auxiliary_skip,
            num_selected=args.num_selected,
            jit_compile=args.jit,
            seed=args.seed,
            verbose=2 if args.quiet else 1,
        )
    except ValueError as error:
        raise SystemExit(f"zoo search: error: {error}") from None
    keras.utils.set_random_seed(args.seed)
    dataset = _load_dataset(args, dataset_kwargs)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = args.output_dir or os.path.join("runs", f"automtl-search-{args.dataset}-{stamp}")
    os.makedirs(output_dir, exist_ok=True)
    config.tensorboard_dir = os.path.join(output_dir, "logs")
    try:
        supernet = AutoMTLSupernet(
            dataset.tasks,
            preprocessor=dataset.make_preprocessor(),
            field_dim=args.field_dim,
            interaction_ops=None
            if args.no_interaction
            else (args.interaction_ops or INTERACTION_OPS),
            expert_ops=args.expert_ops or EXPERT_OPS,
            num_experts=args.num_experts,
            num_blocks=args.num_blocks,
            expert_width=args.expert_width,
            expert_selection=not args.no_expert_selection,
            shared_expert_architecture=args.homogeneous_experts,
            jsd_weight=args.jsd_weight,
            tower_units=args.tower_units,
            seed=args.seed,
        )
        supernet.build()
    except ValueError as error:
        raise SystemExit(f"zoo search: error: {error}") from None
    print(
        f"AutoMTL supernet: {supernet.count_params():,} parameters, "
        f"{dataset.num_rows('train'):,} training rows; searching {config.epochs} epochs",
        flush=True,
    )
    try:
        result = search_automtl(supernet, dataset, config)
    except ValueError as error:
        raise SystemExit(f"zoo search: error: {error}") from None
    architecture = result.architecture
    architecture["search"]["command"] = "zoo " + " ".join(sys.argv[1:])
    path = save_architecture(architecture, os.path.join(output_dir, "architecture.json"))
    write_json(
        os.path.join(output_dir, "search.json"),
        {
            "history": result.history,
            "epoch_architectures": result.epoch_architectures,
            "wall_seconds": round(result.wall_seconds, 2),
            "supernet_params": int(supernet.count_params()),
        },
    )
    title = f"AutoMTL on {dataset.name}"
    pictures = [
        plot_architecture(architecture, os.path.join(output_dir, "architecture.png"), title)
    ]
    if architecture["search_weights"]["selection"]:
        pictures.append(
            plot_expert_selection(architecture, os.path.join(output_dir, "selection.png"), title)
        )
    print(f"Derived in {result.wall_seconds:.0f} s: {describe_architecture(architecture)}")
    print(f"Architecture: {path}")
    print("Pictures: " + ", ".join(pictures))
    data_flags = "".join(
        f" --{key.replace('_', '-')} "
        + (",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
        for key, value in dataset_kwargs.items()
    )
    print(
        f"Retrain it: zoo train --model automtl-derived --arch {path} "
        f"--dataset {args.dataset}{data_flags}"
    )
    return architecture


def run_evaluate(args):
    from zoo.training.gate_diagnostics import plot_gate_heatmap
    from zoo.training.trainer import evaluate

    run, dataset, model = _load_run(args.run_dir, args.data_dir, "zoo evaluate")
    splits = args.split or ["validation", "test"]
    metrics = {split: evaluate(model, dataset, split) for split in splits}
    _print_metrics(f"{run['model']} on {dataset.name}:", metrics)
    payload = {"model": run["model"], "data": dataset.settings, "metrics": metrics}
    if args.baseline_run:
        payload["relaimpr"] = _relative_improvements(metrics, args.baseline_run)
        for split, values in payload["relaimpr"]["percent"].items():
            shown = ", ".join(f"{task} {v:+.2f}%" for task, v in values.items())
            print(f"RelaImpr vs {args.baseline_run} on {split}: {shown}")
    if model.gate_expert_names():
        split = splits[-1]
        payload["gates"] = _gate_summary(model, dataset, split)
        picture = os.path.join(args.run_dir, f"gates-{split}.png")
        plot_gate_heatmap(
            payload["gates"]["average_gate_weights"],
            picture,
            title=f"{run['model']} on {dataset.name}, {split}: mean gate weight per expert",
        )
        print(f"Gate heat map: {picture}")
    path = os.path.join(args.run_dir, "evaluation.json")
    write_json(path, payload)
    print(f"Wrote {path}")
    return payload


def run_export(args):
    from zoo.export.saved_model import export_saved_model
    from zoo.export.target import check_export_target

    if args.export_name is not None:
        try:
            check_export_target(args.export_dir, args.export_name)
        except (ValueError, OSError) as error:
            raise SystemExit(f"zoo export: error: {error}") from None
    run, dataset, model = _load_run(args.run_dir, command="zoo export")
    name = args.export_name or f"{run['model']}-{dataset.name}"
    try:
        path = export_saved_model(
            model, args.export_dir, name, version=args.version, warmup_rows=_warmup_rows(dataset)
        )
    except (ValueError, OSError) as error:
        raise SystemExit(f"zoo export: error: {error}") from None
    print(f"SavedModel for TF Serving: {path}")
    return path


def run_convert(args):
    from zoo.data.formats.tfrecord import write_tfrecord_shards
    from zoo.data.registry import get_loader

    try:
        get_loader(args.dataset)
    except ValueError as error:
        raise SystemExit(f"zoo convert: error: {error}") from None
    dataset_kwargs = _flag_kwargs(
        args, DATASET_FLAGS, get_loader(args.dataset), "dataset", args.dataset
    )
    dataset = _load_dataset(args, dataset_kwargs)

    def progress(split, path, rows):
        print(f"  {split}: {rows:,} rows written", flush=True)

    try:
        result = write_tfrecord_shards(
            dataset,
            args.output_dir,
            rows_per_shard=args.rows_per_shard,
            compression=None if args.no_compression else "GZIP",
            overwrite=args.overwrite,
            progress=progress,
        )
    except FileExistsError as error:
        raise SystemExit(f"zoo convert: error: {error}") from None
    for split, paths in result.files.items():
        names = ", ".join(os.path.basename(p) for p in paths[:2]) + (", ..." if paths[2:] else "")
        print(f"{split}: {result.num_rows[split]:,} rows in {len(paths)} files ({names})")
    print(
        f"Wrote {result.out_dir} in {result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s)"
    )
    print(f"Train on it: zoo train --dataset tfrecord --data-dir {result.out_dir}")
    return result


def _check_names(args):
    """Unknown model and dataset names, reported before TensorFlow is imported."""
    try:
        if args.command == "train":
            MODELS.check_name(args.model)
        if hasattr(args, "dataset"):
            DATASETS.check_name(args.dataset)
    except ValueError as error:
        raise SystemExit(f"zoo {args.command}: error: {error}") from None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        argv = ["train"]  # the embedded default
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _check_names(args)
    # What an interrupted command has left, said in one line; each stage updates it.
    args.interrupted_note = "nothing was written."
    handlers = {
        "train": run_train,
        "search": run_search,
        "evaluate": run_evaluate,
        "export": run_export,
        "convert": run_convert,
    }
    try:
        import_tensorflow(verbose=args.verbose)
        from zoo.data.base.errors import DataError

        try:
            handlers[args.command](args)
        except DataError as error:
            print(f"zoo {args.command}: data error: {error}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print(f"\nzoo {args.command}: interrupted; {args.interrupted_note}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
