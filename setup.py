"""Puts the shipped datasets into the wheel, as `zoo/data/shipped/<name>/`.

Everything else about the package is in pyproject.toml. The data stays in the
repository's datasets/ folder, where the cards, the TFDS builders, the tests
and the benchmarks find it; this build step copies the datasets listed in
`zoo.data.base.paths.SHIPPED_DATASETS` into the built package, so a wheel
installed with no checkout beside it finds them (`default_data_dir`). An
editable install copies nothing: it runs from the checkout, which has them.
"""

import ast
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent
PATHS_MODULE = ROOT / "zoo" / "data" / "base" / "paths.py"


def shipped_datasets():
    """`SHIPPED_DATASETS` of zoo/data/base/paths.py, read without importing zoo.

    The build environment has neither NumPy nor TensorFlow, which zoo.data imports.
    """
    for node in ast.parse(PATHS_MODULE.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["SHIPPED_DATASETS"]:
            return ast.literal_eval(node.value)
    raise RuntimeError(f"{PATHS_MODULE} no longer assigns SHIPPED_DATASETS.")


class BuildPyWithDatasets(build_py):
    """`build_py`, then the shipped datasets' files into `<build_lib>/zoo/data/shipped/`."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        for name in shipped_datasets():
            source = ROOT / "datasets" / name
            if not (source / "CARD.md").is_file():
                raise RuntimeError(f"{source} has no CARD.md: shipped data goes with its card.")
            target = pathlib.Path(self.build_lib, "zoo", "data", "shipped", name)
            self.mkpath(str(target))
            for path in sorted(source.iterdir()):
                if path.is_file():
                    self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildPyWithDatasets})
