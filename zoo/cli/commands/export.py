"""`zoo export --run-dir DIR`: a trained run as a TF Serving SavedModel."""

import argparse

from zoo.cli.commands.common import load_run, warmup_rows
from zoo.cli.flags import add_export_flags


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = subparsers.add_parser(
        "export",
        parents=[common],
        allow_abbrev=False,
        help="export a trained run as a TF Serving SavedModel",
        description="Write RUN_DIR/model.keras as EXPORT_DIR/NAME/VERSION/ for TF Serving.",
    )
    export.add_argument("--run-dir", required=True, help="a folder written by `zoo train`")
    add_export_flags(export)
    export.add_argument("--version", type=int, default=None, help="default: the next free number")


def run(args: argparse.Namespace):
    from zoo.export.saved_model import export_saved_model
    from zoo.export.target import check_export_target

    if args.export_name is not None:
        try:
            check_export_target(args.export_dir, args.export_name)
        except (ValueError, OSError) as error:
            raise SystemExit(f"zoo export: error: {error}") from None
    run, dataset, model = load_run(args.run_dir, command="zoo export")
    name = args.export_name or f"{run['model']}-{dataset.name}"
    try:
        path = export_saved_model(
            model,
            args.export_dir,
            name,
            version=args.version,
            warmup_rows=warmup_rows(dataset),
            xla_signatures=args.xla_signatures,
        )
    except (ValueError, OSError) as error:
        raise SystemExit(f"zoo export: error: {error}") from None
    print(f"SavedModel for TF Serving: {path}")
    return path
