"""Where loaders find a dataset: `$ZOO_DATA_DIR`, the installed package's copy, the repository."""

import pytest

from zoo.data.base import paths
from zoo.data.base.errors import DataError


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty stand-ins for the package's copy and the repository's datasets/."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    package, repo = tmp_path / "package", tmp_path / "repo"
    monkeypatch.setattr(paths, "PACKAGE_DATASETS", package)
    monkeypatch.setattr(paths, "REPO_DATASETS", repo)
    return package, repo


def test_package_copy_before_the_repository(places):
    package, repo = places
    (repo / "census-income").mkdir(parents=True)
    assert paths.default_data_dir("census-income") == str(repo / "census-income")
    (package / "census-income").mkdir(parents=True)
    assert paths.default_data_dir("census-income") == str(package / "census-income")


def test_zoo_data_dir_before_both(places, tmp_path, monkeypatch):
    package, _ = places
    (package / "kuairand").mkdir(parents=True)
    (tmp_path / "mine" / "kuairand").mkdir(parents=True)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "mine"))
    assert paths.default_data_dir("kuairand") == str(tmp_path / "mine" / "kuairand")


def test_only_shipped_datasets_are_looked_for_in_the_package(places):
    package, repo = places
    (package / "movielens-100k").mkdir(parents=True)
    with pytest.raises(DataError, match="movielens-100k") as error:
        paths.default_data_dir("movielens-100k")
    assert str(package) not in str(error.value) and str(repo / "movielens-100k") in str(error.value)


def test_the_repository_holds_every_shipped_dataset_with_card_and_licence():
    for name in paths.SHIPPED_DATASETS:
        folder = paths.REPO_DATASETS / name
        assert (folder / "CARD.md").is_file(), folder
        assert list(folder.glob("LICENSE*")), f"{folder} has no licence file"
