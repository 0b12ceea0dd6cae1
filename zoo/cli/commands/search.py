"""`zoo search`: AutoMTL's architecture search, written to a file `zoo train` retrains."""

import argparse
import datetime
import os
import sys

from zoo.cli import flags
from zoo.cli.commands.common import dataset_loader, load_dataset
from zoo.cli.flags import DATASET_FLAGS, add_data_flags, flag_kwargs
from zoo.files import write_json
from zoo.registry import DATASETS


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    search = subparsers.add_parser(
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
    add_data_flags(search, DATASETS)
    _add_space_flags(search.add_argument_group("search space (AutoMTL Table 1 by default)"))
    _add_search_flags(search.add_argument_group("search"))


def _add_space_flags(space):
    space.add_argument("--model", default="automtl", choices=("automtl",), help="default: automtl")
    space.add_argument(
        "--interaction-ops",
        type=flags.names,
        help="feature-interaction candidates, e.g. skip,inner-product,cross-2,attention-4,mlp-64",
    )
    space.add_argument(
        "--expert-ops",
        type=flags.names,
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
        "--tower-units", type=flags.units, default=[128, 64], help="task towers (default: 128,64)"
    )


def _add_search_flags(searching):
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
        "--seed", type=flags.seed, default=2024, help="seeds everything (default: %(default)s)"
    )
    searching.add_argument("--quiet", action="store_true", help="one line per epoch")
    searching.add_argument(
        "--output-dir",
        default=None,
        help="where architecture.json, the pictures and logs go "
        "(default: runs/automtl-search-<dataset>-<time>)",
    )


def run(args: argparse.Namespace):
    import keras

    from zoo.search import describe_architecture, search_automtl

    loader = dataset_loader(args)
    dataset_kwargs = flag_kwargs(args, DATASET_FLAGS, loader, "dataset", args.dataset)
    config = _search_config(args)
    keras.utils.set_random_seed(args.seed)
    dataset = load_dataset(args, dataset_kwargs)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = args.output_dir or os.path.join("runs", f"automtl-search-{args.dataset}-{stamp}")
    os.makedirs(output_dir, exist_ok=True)
    config.tensorboard_dir = os.path.join(output_dir, "logs")
    supernet = _supernet(args, dataset)
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
    path, pictures = _write_results(result, supernet, dataset, output_dir)
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


def _search_config(args):
    from zoo.search import SearchConfig

    try:
        return SearchConfig(
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


def _supernet(args, dataset):
    """The built AutoMTL supernet of the search-space flags."""
    from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS
    from zoo.models.automtl_supernet import AutoMTLSupernet

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
    return supernet


def _write_results(result, supernet, dataset, output_dir):
    """Writes the architecture, the search's history and pictures; returns their paths."""
    from zoo.search import save_architecture
    from zoo.search.plots import plot_architecture, plot_expert_selection

    architecture = result.architecture
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
    return path, pictures
