"""Where datasets are found when the caller does not say."""

import os
import pathlib

from zoo.data.base.errors import DataError

# The datasets the zoo may redistribute, each with its card and licence. Only
# these go into the wheel (setup.py copies them there); Ali-CCP, AliExpress,
# MovieLens and the Taobao graph have no redistribution right and never do.
SHIPPED_DATASETS = ("census-income", "kuairand")

# The wheel's copy of them, `zoo/data/shipped/<name>/`, made at build time
# from the repository's datasets/ (setup.py). A plain path, not an
# importlib.resources traversable: the loaders hand it to tf.data and gzip,
# and pip always unpacks a wheel onto the file system.
PACKAGE_DATASETS = pathlib.Path(__file__).resolve().parents[1] / "shipped"

# The repository's datasets/ folder: where a clone or an editable install
# (`pip install -e .`), which build no copy, find the shipped data.
REPO_DATASETS = pathlib.Path(__file__).resolve().parents[3] / "datasets"


def default_data_dir(name):
    """The first folder of `name` among `$ZOO_DATA_DIR`, the package's copy, the repository's.

    Args:
        name: the dataset's folder name, e.g. `"census-income"`.

    Raises:
        DataError: none of them is a folder; the message names each place
            looked in.
    """
    root = os.environ.get("ZOO_DATA_DIR")
    candidates = [pathlib.Path(root) / name] if root else []
    if name in SHIPPED_DATASETS:
        candidates.append(PACKAGE_DATASETS / name)
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
