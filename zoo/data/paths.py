"""Where datasets are found when the caller does not say."""

import os
import pathlib

from zoo.data.errors import DataError

# The repository's datasets/ folder, present in a clone or an editable install.
REPO_DATASETS = pathlib.Path(__file__).resolve().parents[2] / "datasets"


def default_data_dir(name):
    """`$ZOO_DATA_DIR/<name>` if set, else the repository's `datasets/<name>`."""
    root = os.environ.get("ZOO_DATA_DIR")
    candidates = [pathlib.Path(root) / name] if root else []
    candidates.append(REPO_DATASETS / name)
    for candidate in candidates:
        if candidate.is_dir():
            return str(candidate)
    raise DataError(
        f"No data directory for dataset {name!r}: looked in "
        f"{', '.join(str(c) for c in candidates)}. Pass --data-dir (data_dir=...) or set "
        "ZOO_DATA_DIR to the folder that holds it."
    )
