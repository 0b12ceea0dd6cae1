"""Where an export goes, checked before the hours of training that precede it."""

import os
import re

from zoo.files import check_creatable_folder

# TF Serving serves a model by its folder name, and clients name it in URLs.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_model_name(name):
    """`name`, or a ValueError unless it is a folder name TF Serving and URLs take as it is."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"Expected a model name of letters, digits, '.', '_' and '-'. Received: {name!r}"
        )
    return name


def check_export_target(export_base, name):
    """Raises ValueError unless `export_base/name/` can take a new version; writes nothing."""
    check_model_name(name)
    return check_creatable_folder(os.path.join(export_base, name), "--export-dir")
