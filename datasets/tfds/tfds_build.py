"""TFDS' own `build` command, without the rest of the `tfds` command line.

    cd datasets/tfds/census_income && python ../tfds_build.py --data_dir ~/tfds

takes the same flags as `tfds build` (`--data_dir`, `--manual_dir`,
`--overwrite`, ...) and finds the builder the same way (the current folder,
or a folder named on the command line). It exists because the `tfds` command
of tensorflow-datasets 4.9.8 to 4.9.10 imports Apache Beam and mlcroissant
for its other subcommands before it parses anything, and Apache Beam cannot
be installed beside protobuf 7 (TensorFlow 2.21's). Where both are
installed, `tfds build` does the same thing.
"""

from absl import app, logging
from tensorflow_datasets.scripts.cli import build, cli_utils


def main(args):
    logging.set_verbosity(logging.INFO)
    args.execute()


if __name__ == "__main__":
    app.run(
        main,
        flags_parser=cli_utils.make_flags_parser(
            build.Args, description="Build TFDS datasets (the `tfds build` command)."
        ),
    )
