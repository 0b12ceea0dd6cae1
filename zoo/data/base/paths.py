"""Where datasets are found when the caller does not say."""

import os
import pathlib

from zoo.data.base.errors import DataError

# The repository's datasets/ folder, present in a clone or an editable install.
REPO_DATASETS = pathlib.Path(__file__).resolve().parents[3] / "datasets"


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


def unshipped_data_dir(data_dir, name, reason, download):
    """The folder of a dataset the zoo does not ship: `data_dir`, or `default_data_dir(name)`.

    Args:
        data_dir: the folder the caller passed, or `None` for the default.
        name: the dataset's name, as in `default_data_dir`.
        reason: why the data is not shipped (e.g. "its licence forbids
            redistribution"), said when there is no default folder.
        download: where and how to get the data; ends every error message.

    Raises:
        DataError: no default folder, or `data_dir` is not a directory.
    """
    if data_dir is None:
        try:
            data_dir = default_data_dir(name)
        except DataError as error:
            raise DataError(
                f"{error} The {name} data is not shipped with the zoo ({reason}). {download}"
            ) from None
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: not a directory. {download}")
    return data_dir
