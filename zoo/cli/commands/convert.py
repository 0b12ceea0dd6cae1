"""`zoo convert`: a dataset as sharded TFRecord files, for `--dataset tfrecord`."""

import argparse
import os

from zoo.cli.commands.common import dataset_loader, load_dataset
from zoo.cli.flags import DATASET_FLAGS, add_data_flags, flag_kwargs
from zoo.registry import DATASETS


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    convert = subparsers.add_parser(
        "convert",
        parents=[common],
        allow_abbrev=False,
        help="write a dataset as sharded TFRecord files, for `--dataset tfrecord`",
        description="Stream every split of a dataset into DIR as "
        "<split>-00000-of-000NN.tfrecord.gz files of tf.train.Examples, with DIR/schema.json "
        "(features, tasks, row counts, learned vocabularies). Train on them with "
        "`zoo train --dataset tfrecord --data-dir DIR`.",
    )
    add_data_flags(convert, DATASETS)
    convert.add_argument("--output-dir", required=True, help="the folder to write")
    convert.add_argument(
        "--rows-per-shard", type=int, default=1_000_000, help="default: %(default)s"
    )
    convert.add_argument("--no-compression", action="store_true", help="write plain .tfrecord")
    convert.add_argument(
        "--overwrite", action="store_true", help="replace --output-dir if it is not empty"
    )


def run(args: argparse.Namespace):
    from zoo.data.formats.tfrecord import write_tfrecord_shards

    loader = dataset_loader(args)
    dataset = load_dataset(args, flag_kwargs(args, DATASET_FLAGS, loader, "dataset", args.dataset))

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
