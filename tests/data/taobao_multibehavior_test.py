"""Taobao cart/buy graph: small folders in GHCF's adjacency-list format, and the shared copy."""

import inspect
import pathlib
import time

import keras
import numpy as np
import pytest

from zoo import models
from zoo.data import DATASETS, DataError, load_dataset, load_taobao_multibehavior
from zoo.training.trainer import TrainingConfig, evaluate, fit

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/taobao-multibehavior"
SPLITS = ("train", "validation", "test")

# user -> items, as in the published files (cart.txt has no line for user 4).
BUY_TRAIN = {0: [1, 2, 3], 1: [4, 5], 2: [6, 7, 8, 9], 3: [1, 10], 4: [11, 12], 5: [2, 13, 14]}
BUY_TEST = {0: [5], 1: [7], 2: [10], 3: [2], 4: [1], 5: [3]}
CART = {0: [1, 5, 15], 1: [16, 17], 2: [6, 18], 3: [19], 5: [14, 20, 40]}
NUM_ITEMS = 41  # ids 0..40; some are in no file


def _pairs(lists):
    return {(user, item) for user, items in lists.items() for item in items}


def _write(path, lists):
    path.write_text("".join(f"{u} {' '.join(map(str, items))}\n" for u, items in lists.items()))


def write_folder(folder):
    """The three published files of the small graph above, in `folder` (created)."""
    folder.mkdir()
    for name, lists in (("train.txt", BUY_TRAIN), ("test.txt", BUY_TEST), ("cart.txt", CART)):
        _write(folder / name, lists)
    return folder


@pytest.fixture
def data_dir(tmp_path):
    return write_folder(tmp_path / "Taobao")


def _rows(split):
    """`{(user, item): (cart, buy)}` of a split."""
    f, labels = split.features, split.labels
    return {
        (int(u), int(i)): (int(c), int(b))
        for u, i, c, b in zip(f["user_id"], f["item_id"], labels["cart"], labels["buy"])
    }


def test_labels_of_the_pairs_and_test_pairs_kept_out_of_training(data_dir):
    dataset = load_taobao_multibehavior(str(data_dir), validation_fraction=0.25)
    assert [t.name for t in dataset.tasks] == ["cart", "buy"]
    assert [f.name for f in dataset.features] == ["user_id", "item_id"]
    assert dataset.user_feature == "user_id"
    rows = {name: _rows(dataset.split(name)) for name in SPLITS}
    cart, buy, test = _pairs(CART), _pairs(BUY_TRAIN), _pairs(BUY_TEST)
    fit_pairs = {p: y for name in ("train", "validation") for p, y in rows[name].items()}
    positives = {p: y for p, y in fit_pairs.items() if y != (0, 0)}
    assert set(positives) == (cart | buy) - test
    for pair, (in_cart, bought) in positives.items():
        assert (in_cart, bought) == (pair in cart, pair in buy)
    assert positives[(0, 1)] == (1, 1) and positives[(0, 15)] == (1, 0)
    assert positives[(4, 11)] == (0, 1)
    # (0, 5) was carted and is user 0's held-out purchase: a test row only.
    test_positives = {p: y for p, y in rows["test"].items() if y != (0, 0)}
    assert test_positives == {p: (int(p in cart), 1) for p in test}
    assert test_positives[(0, 5)] == (1, 1) and (0, 5) not in fit_pairs
    assert dataset.settings["test_pairs_removed_from_training"] == {"cart": 1, "buy": 0}
    counts = dataset.settings["split_counts"]
    assert len(positives) == 23
    assert counts["validation"]["positives"] == 6  # round(0.25 * 23)
    assert counts["train"]["positives"] == 17 and counts["test"]["positives"] == 6
    assert dataset.settings["num_users"] == 6 and dataset.settings["num_items"] == NUM_ITEMS


@pytest.mark.parametrize("ratio", [1, 3])
def test_negatives_are_untouched_items_at_the_ratio_and_splits_are_disjoint(data_dir, ratio):
    dataset = load_taobao_multibehavior(str(data_dir), negatives_per_positive=ratio)
    touched = _pairs(CART) | _pairs(BUY_TRAIN) | _pairs(BUY_TEST)
    seen = set()
    for name in SPLITS:
        split = dataset.split(name)
        rows = _rows(split)
        assert len(rows) == len(split)  # no pair twice within a split
        negatives = [p for p, labels in rows.items() if labels == (0, 0)]
        positives = [p for p, labels in rows.items() if labels != (0, 0)]
        assert not set(negatives) & touched
        assert all(0 <= item < NUM_ITEMS for _, item in negatives)
        assert len(negatives) == ratio * len(positives)
        for user in {u for u, _ in positives}:  # per user, too
            mine = [p for p in positives if p[0] == user]
            assert sum(p[0] == user for p in negatives) == ratio * len(mine)
        assert not seen & set(rows)
        seen |= set(rows)
        assert dataset.settings["split_counts"][name]["negatives"] == len(negatives)
        users = split.features["user_id"]
        assert (np.diff(users) >= 0).all()  # rows grouped by user


def test_users_short_of_untouched_items_get_all_of_them(data_dir):
    # User 2 touched 6 of 41 items and has 6 pairs: 7 negatives each would need 42.
    dataset = load_taobao_multibehavior(str(data_dir), negatives_per_positive=7)
    negatives = {
        item
        for name in SPLITS
        for (user, item), labels in _rows(dataset.split(name)).items()
        if user == 2 and labels == (0, 0)
    }
    touched = _pairs(CART) | _pairs(BUY_TRAIN) | _pairs(BUY_TEST)
    assert negatives == set(range(NUM_ITEMS)) - {i for u, i in touched if u == 2}
    # Every user needs 7 per touched pair (each is a row of some split) and has 41 - touched.
    per_user = np.bincount([u for u, _ in touched])
    expected = int(np.maximum(0, 7 * per_user - (NUM_ITEMS - per_user)).sum())
    short = sum(c["negatives_short"] for c in dataset.settings["split_counts"].values())
    assert short == expected == 14  # users 2 and 5
    assert f"{short} negatives short" in dataset.summary


def test_the_seed_decides_validation_and_negatives(data_dir):
    first = load_taobao_multibehavior(str(data_dir), seed=3)
    again = load_taobao_multibehavior(str(data_dir), seed=3)
    for name in SPLITS:
        for column in ("user_id", "item_id"):
            np.testing.assert_array_equal(
                first.split(name).features[column], again.split(name).features[column]
            )
        assert _rows(first.split(name)) == _rows(again.split(name))
    other = load_taobao_multibehavior(str(data_dir), seed=4)
    assert any(_rows(first.split(n)) != _rows(other.split(n)) for n in SPLITS)
    # More negatives leave the validation pairs as they were.
    more = load_taobao_multibehavior(str(data_dir), seed=3, negatives_per_positive=2)

    def validation_positives(dataset):
        return {p for p, labels in _rows(dataset.validation).items() if labels != (0, 0)}

    assert validation_positives(more) == validation_positives(first)


@pytest.mark.parametrize(
    "name, line, message",
    [
        ("cart.txt", "3 19 x7\n", r"cart.txt, line 4: expected integer ids .* found 'x7'"),
        ("train.txt", "3 1 -10\n", r"train.txt, line 4: expected ids >= 0, found -10"),
        ("test.txt", "3 1.5\n", r"test.txt, line 4: expected integer ids .* found '1.5'"),
        ("train.txt", "1 10 11\n", r"train.txt, line 4: user 1 already has a line \(line 2\)"),
        ("cart.txt", "3 19 4 19\n", r"cart.txt, line 4: item 19 appears twice for user 3"),
    ],
)
def test_malformed_lines_name_file_and_line(data_dir, name, line, message):
    path = data_dir / name
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = line
    path.write_text("".join(lines))
    with pytest.raises(DataError, match=message):
        load_taobao_multibehavior(str(data_dir))


def test_missing_files_and_folders_are_named(data_dir, tmp_path, monkeypatch):
    (data_dir / "cart.txt").unlink()
    with pytest.raises(DataError, match=r"Taobao/cart.txt: file not found.*train.txt, test.txt"):
        load_taobao_multibehavior(str(data_dir))
    (data_dir / "cart.txt").write_text("")
    with pytest.raises(DataError, match=r"cart.txt: the file is empty"):
        load_taobao_multibehavior(str(data_dir))
    with pytest.raises(DataError, match=r"nowhere: not a directory.*chenchongthu/GHCF"):
        load_taobao_multibehavior(str(tmp_path / "nowhere"))
    # Nothing is shipped: without a folder the error says where to download the data.
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr("zoo.data.base.paths.REPO_DATASETS", tmp_path / "no-datasets")
    with pytest.raises(DataError, match=r"--data-dir.*not shipped.*github.com/chenchongthu/GHCF"):
        load_taobao_multibehavior()


def test_max_users_keeps_a_seeded_sample_of_users_with_all_their_pairs(data_dir):
    every = load_taobao_multibehavior(str(data_dir), seed=3)
    sample = load_taobao_multibehavior(str(data_dir), seed=3, max_users=3)
    users = set(np.concatenate([sample.split(n).features["user_id"] for n in SPLITS]).tolist())
    assert len(users) == 3 and sample.settings["max_users"] == 3
    kept = {p for n in SPLITS for p, labels in _rows(sample.split(n)).items() if labels != (0, 0)}
    expected = (_pairs(BUY_TRAIN) | _pairs(BUY_TEST) | _pairs(CART)) & {
        (u, i) for u in users for i in range(NUM_ITEMS)
    }
    assert kept == expected
    again = load_taobao_multibehavior(str(data_dir), seed=3, max_users=3)
    assert _rows(again.train) == _rows(sample.train)
    assert len(every.train) > len(sample.train)
    with pytest.raises(ValueError, match="max_users >= 1"):
        load_taobao_multibehavior(str(data_dir), max_users=0)


def test_bad_arguments(data_dir):
    with pytest.raises(ValueError, match="negatives_per_positive >= 1"):
        load_taobao_multibehavior(str(data_dir), negatives_per_positive=0)
    with pytest.raises(ValueError, match="0 < validation_fraction < 1"):
        load_taobao_multibehavior(str(data_dir), validation_fraction=1.0)
    with pytest.raises(DataError, match="leaves no validation"):
        load_taobao_multibehavior(str(data_dir), validation_fraction=0.01)


def test_registry_and_reload_from_settings(data_dir, tmp_path, monkeypatch):
    assert DATASETS["taobao-multibehavior"] is load_taobao_multibehavior
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    (tmp_path / "Taobao").rename(tmp_path / "taobao-multibehavior")
    dataset = load_dataset("taobao-multibehavior", negatives_per_positive=2, seed=9)
    assert dataset.settings["data_dir"] == str(tmp_path / "taobao-multibehavior")
    # As `zoo evaluate` reloads a run's data: the settings the loader accepts.
    accepted = inspect.signature(load_taobao_multibehavior).parameters
    again = load_dataset(
        "taobao-multibehavior", **{k: v for k, v in dataset.settings.items() if k in accepted}
    )
    for name in SPLITS:
        assert _rows(again.split(name)) == _rows(dataset.split(name))


def test_mmoe_trains_and_reports_gauc(data_dir):
    dataset = load_taobao_multibehavior(str(data_dir), negatives_per_positive=2, embedding_dim=4)
    keras.utils.set_random_seed(1)
    model = models.MMoE(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        num_experts=2,
        expert_units=[8],
        tower_units=[8],
    )
    config = TrainingConfig(
        epochs=1, batch_size=32, jit_compile=False, early_stopping_patience=None, verbose=0
    )
    fit(model, dataset, config)
    results = evaluate(model, dataset, "test")
    assert results["num_rows"] == 18
    assert {"auc", "gauc"} <= set(results["buy"]) and np.isfinite(results["total_loss"])


def test_the_shared_copy_has_the_published_counts():
    if not SHARED.is_dir():
        pytest.skip(reason=f"the shared Taobao multi-behaviour folder {SHARED} is absent")
    start = time.perf_counter()
    dataset = load_taobao_multibehavior(str(SHARED))
    seconds = time.perf_counter() - start
    settings = dataset.settings
    # SOURCE.md: 48,749 users, 39,493 items; purchase 211,022 train + 48,749 test; cart
    # 193,747; 414,327 pairs in all, 8,326 test purchases carted.
    assert (settings["num_users"], settings["num_items"]) == (48749, 39493)
    counts = settings["split_counts"]
    assert counts["test"]["positives"] == 48749
    assert counts["train"]["positives"] + counts["validation"]["positives"] == 414327 - 48749
    assert settings["test_pairs_removed_from_training"] == {"cart": 8326, "buy": 0}
    labels = {
        task: sum(int(dataset.split(n).labels[task].sum()) for n in ("train", "validation"))
        for task in ("cart", "buy")
    }
    assert labels == {"cart": 193747 - 8326, "buy": 211022}
    assert int(dataset.test.labels["cart"].sum()) == 8326
    assert int(dataset.test.labels["buy"].sum()) == 48749
    assert all(counts[n]["negatives"] == counts[n]["positives"] for n in SPLITS)
    assert len(np.unique(dataset.test.features["user_id"])) == 48749
    assert seconds < 15
