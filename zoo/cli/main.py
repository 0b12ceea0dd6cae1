"""The `zoo` command: train, search, evaluate and export zoo models.

zoo train                      # MMoE on Census-Income, group 1, paper protocol
zoo train --model ple --dataset census-income --task-group 2 --epochs 5
zoo search --model automtl --dataset kuairand --tasks click,like --output-dir runs/search
zoo train --model automtl-derived --arch runs/search/architecture.json --dataset kuairand \\
    --tasks click,like
zoo train --model mogenet --dataset taobao-multibehavior --data-dir path/to/Taobao
zoo train --model mmoe --with-mgnn --dataset movielens-100k --data-dir path/to/ml-100k
zoo train --dataset tfds --tfds-name census_income --data-dir ~/tensorflow_datasets
zoo evaluate --run-dir runs/mmoe-census-income-...
zoo export --run-dir runs/mmoe-census-income-...
zoo convert --dataset ali-ccp --data-dir path/to/ali-ccp --output-dir data/ali-ccp-tfrecord
zoo train --dataset tfrecord --data-dir data/ali-ccp-tfrecord

Each command is a module of `zoo.cli.commands`; this one builds the parser
from them and runs the one asked for.
"""

import argparse
import sys

# Nothing here imports TensorFlow at module level: `zoo --help` and a mistyped
# flag are answered before that import (about 5 s), which `main` makes only
# for a command that runs.
from zoo.cli.commands import convert, evaluate, export, search, train
from zoo.cli.quiet import import_tensorflow
from zoo.registry import DATASETS, MODELS

COMMANDS = {
    "train": train,
    "evaluate": evaluate,
    "search": search,
    "export": export,
    "convert": convert,
}


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: a mistyped flag such as --epoch must be an error, not
    # silently taken for --epochs (or, when ambiguous, for something else).
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="Train, evaluate and export multi-task ranking models (Keras 3).",
        allow_abbrev=False,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Flags every command takes.
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's native log lines (hidden by default; setting "
        "TF_CPP_MIN_LOG_LEVEL yourself also shows them at that level)",
    )
    for command in COMMANDS.values():
        command.add_parser(subparsers, common)
    return parser


def _check(args):
    """Usage errors found before TensorFlow is imported: unknown names, misplaced flags."""
    try:
        if args.command == "train":
            MODELS.check_name(args.model)
        if hasattr(args, "dataset"):
            DATASETS.check_name(args.dataset)
    except ValueError as error:
        raise SystemExit(f"zoo {args.command}: error: {error}") from None
    check = getattr(COMMANDS[args.command], "check", None)
    if check is not None:
        check(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        argv = ["train"]  # the embedded default
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _check(args)
    # What an interrupted command has left, said in one line; each stage updates it.
    args.interrupted_note = "nothing was written."
    try:
        import_tensorflow(verbose=args.verbose)
        from zoo.data.base.errors import DataError

        try:
            COMMANDS[args.command].run(args)
        except DataError as error:
            print(f"zoo {args.command}: data error: {error}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print(f"\nzoo {args.command}: interrupted; {args.interrupted_note}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
