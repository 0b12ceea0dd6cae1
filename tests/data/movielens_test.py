"""MovieLens 100K: small folders in the GroupLens file formats, and the shared copy."""

import inspect
import pathlib
import time

import keras
import numpy as np
import pytest

from zoo import models
from zoo.data import DATASETS, DataError, load_dataset, load_movielens_100k
from zoo.data.sources.movielens.loader import (
    GENRE_FEATURES,
    ITEM_FEATURES,
    MISSING_YEAR,
    USER_FEATURES,
)
from zoo.training.trainer import TrainingConfig, evaluate, fit

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/movielens-100k"
SPLITS = ("train", "validation", "test")
ALL_TASKS = ["rated", "rating_ge_4", "rating_5"]

USERS = [
    "1|24|M|technician|85711",
    "2|53|F|other|94043",
    "3|17|M|student|K7L5J",
    "4|56|F|retired|02139",
    "5|45|M|engineer|55105",
    "6|30|F|writer|E2A4H",
]
AGES = {1: "18-24", 2: "50-55", 3: "under 18", 4: "56+", 5: "45-49", 6: "25-34"}
ZIPS = {1: "8", 2: "9", 3: "K", 4: "0", 5: "5", 6: "E"}
NUM_ITEMS = 30
# Ratings per user; user 5 has too few to split and stays in training.
NUM_RATINGS = {1: 10, 2: 10, 3: 6, 4: 10, 5: 2, 6: 8}


def _item_lines():
    rng = np.random.default_rng(0)
    lines = []
    for item in range(1, NUM_ITEMS + 1):
        title, date = f"Movie {item} ({1960 + item})", f"01-Jan-{1960 + item}"
        if item == 2:
            title = "\u00catre et avoir (1962)"  # latin-1 byte 0xCA, not valid UTF-8
        if item == 3:
            date = "4-Feb-1963"  # ml-100k has one single-digit day
        flags = (rng.random(19) < 0.2).astype(int)
        if item == 4:
            title, date, flags = "unknown", "", np.eye(19, dtype=int)[0]
        url = f"http://us.imdb.com/M/title-exact?Movie%20{item}"
        lines.append("|".join([str(item), title, date, "", url] + [str(f) for f in flags]))
    return lines


def _ratings():
    """`[(user, item, rating, timestamp)]` in random order, as u.data is."""
    rng = np.random.default_rng(1)
    rows = []
    for user, count in NUM_RATINGS.items():
        items = rng.choice(np.arange(1, NUM_ITEMS + 1), count, replace=False)
        times = 880000000 + rng.integers(0, 1000, count)
        times[:2] = times.max()  # a tie in time, broken by the item id
        rows += [(user, int(i), int(rng.integers(1, 6)), int(t)) for i, t in zip(items, times)]
    return [rows[k] for k in rng.permutation(len(rows))]


def _write_folder(folder, ratings=None, users=None, items=None):
    folder.mkdir(exist_ok=True)
    ratings = _ratings() if ratings is None else ratings
    (folder / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in ratings))
    (folder / "u.user").write_text("\n".join(USERS if users is None else users) + "\n")
    text = "\n".join(_item_lines() if items is None else items) + "\n"
    (folder / "u.item").write_bytes(text.encode("latin-1"))
    return folder


@pytest.fixture
def data_dir(tmp_path):
    return _write_folder(tmp_path / "ml-100k")


def _expected_split(ratings, validation_fraction=0.2, test_fraction=0.2):
    """`{(user, item): split}` by each user's last ratings in (time, item) order."""
    split = {}
    for user in NUM_RATINGS:
        mine = sorted((t, i) for u, i, _, t in ratings if u == user)
        count = len(mine)
        num_test = max(1, int(np.floor(test_fraction * count + 0.5)))
        num_validation = max(1, int(np.floor(validation_fraction * count + 0.5)))
        for rank, (_, item) in enumerate(reversed(mine)):
            if count < 3:
                split[(user, item)] = "train"
            else:
                is_test, is_validation = rank < num_test, rank < num_test + num_validation
                split[(user, item)] = (
                    "test" if is_test else "validation" if is_validation else "train"
                )
    return split


def _rows(split, tasks=ALL_TASKS):
    f = split.features
    labels = zip(*[split.labels[t] for t in tasks])
    return {
        (int(u), int(i)): tuple(int(v) for v in y)
        for u, i, y in zip(f["user_id"], f["item_id"], labels)
    }


def test_rated_pairs_get_their_labels_and_each_users_last_ratings_are_held_out(data_dir):
    dataset = load_movielens_100k(
        str(data_dir), tasks=ALL_TASKS, validation_fraction=0.2, test_fraction=0.2
    )
    assert [t.name for t in dataset.tasks] == ALL_TASKS
    assert dataset.user_feature == "user_id"
    ratings = _ratings()
    expected = _expected_split(ratings)
    rating_of = {(u, i): r for u, i, r, _ in ratings}
    for name in SPLITS:
        rated = {p: y for p, y in _rows(dataset.split(name)).items() if y[0] == 1}
        assert set(rated) == {p for p, s in expected.items() if s == name}
        for pair, labels in rated.items():
            assert labels == (1, int(rating_of[pair] >= 4), int(rating_of[pair] == 5))
    counts = dataset.settings["split_counts"]
    assert [counts[n]["positives"] for n in SPLITS] == [28, 9, 9]  # 2+2+1+2+0+2 held out
    # Per user, every training rating precedes every validation one, which precede the test.
    time_of = {(u, i): t for u, i, _, t in ratings}
    for user in NUM_RATINGS:
        times = [
            [time_of[p] for p, y in _rows(dataset.split(n)).items() if p[0] == user and y[0]]
            for n in SPLITS
        ]
        if times[2]:
            assert max(times[0]) <= min(times[1]) <= max(times[1]) <= min(times[2])


@pytest.mark.parametrize("ratio", [1, 2])
def test_negatives_are_unrated_movies_with_their_side_features(data_dir, ratio):
    dataset = load_movielens_100k(str(data_dir), tasks=ALL_TASKS, negatives_per_positive=ratio)
    rated = {(u, i) for u, i, _, _ in _ratings()}
    items = {int(line.split("|")[0]): line.split("|") for line in _item_lines()}
    seen = set()
    for name in SPLITS:
        split = dataset.split(name)
        rows = _rows(split)
        assert len(rows) == len(split)
        negatives = [p for p, y in rows.items() if y == (0, 0, 0)]
        positives = [p for p, y in rows.items() if y[0] == 1]
        assert len(negatives) + len(positives) == len(rows)
        assert not set(negatives) & rated
        assert len(negatives) == ratio * len(positives)
        for user in {u for u, _ in positives}:
            assert sum(u == user for u, _ in negatives) == ratio * sum(
                u == user for u, _ in positives
            )
        assert not seen & set(rows)  # splits are disjoint
        seen |= set(rows)
        # Every row, negatives included, carries its user's and its movie's features.
        f = split.features
        for row, (user, item) in enumerate(zip(f["user_id"].tolist(), f["item_id"].tolist())):
            assert f["age"][row] == AGES[user] and f["zip_prefix"][row] == ZIPS[user]
            assert f["gender"][row] == USERS[user - 1].split("|")[2]
            flags = [int(f[name][row]) for name in GENRE_FEATURES]
            assert flags == [int(v) for v in items[item][5:]]
            year = MISSING_YEAR if item == 4 else 1960 + item
            assert f["release_year"][row] == year
    assert dataset.settings["split_counts"]["test"]["negatives_short"] == 0


def test_features_and_their_kinds(data_dir):
    dataset = load_movielens_100k(str(data_dir), embedding_dim=5)
    names = [f.name for f in dataset.features]
    assert names == list(USER_FEATURES + ITEM_FEATURES) and len(GENRE_FEATURES) == 19
    assert GENRE_FEATURES[4] == "genre_childrens" and GENRE_FEATURES[15] == "genre_sci_fi"
    assert all(f.kind == "categorical" and f.embedding_dim == 5 for f in dataset.features)
    dtypes = {f.name: f.dtype for f in dataset.features}
    assert [n for n, d in dtypes.items() if d == "string"] == [
        "age",
        "gender",
        "occupation",
        "zip_prefix",
    ]
    assert set(dataset.train.features) == set(names)
    assert [t.name for t in dataset.tasks] == ["rating_ge_4", "rating_5"]
    assert dataset.settings["user_features"] == list(USER_FEATURES)
    # u.item is latin-1 (here not valid UTF-8); movie 3's date has a one-digit day and
    # movie 4 has none (both checked row by row in the negatives test).
    with pytest.raises(UnicodeDecodeError):
        (data_dir / "u.item").read_text(encoding="utf-8")
    items = np.concatenate([dataset.split(n).features["item_id"] for n in SPLITS])
    years = np.concatenate([dataset.split(n).features["release_year"] for n in SPLITS])
    assert set(years[items == 3].tolist()) == {1963}
    assert set(years[items == 4].tolist()) == {MISSING_YEAR}


def test_the_seed_decides_the_negatives(data_dir):
    first = load_movielens_100k(str(data_dir), seed=5)
    again = load_movielens_100k(str(data_dir), seed=5)
    other = load_movielens_100k(str(data_dir), seed=6)
    for name in SPLITS:
        assert _rows(first.split(name), ["rating_5"]) == _rows(again.split(name), ["rating_5"])
        for feature, values in first.split(name).features.items():
            np.testing.assert_array_equal(values, again.split(name).features[feature])
    assert any(
        set(_rows(first.split(n), ["rating_5"])) != set(_rows(other.split(n), ["rating_5"]))
        for n in SPLITS
    )


@pytest.mark.parametrize(
    "file, row, line, message",
    [
        ("u.data", 6, "1\t2\t6\t880000000", r"u.data, line 7: column 'rating' expects 1 to 5"),
        ("u.data", 0, "1\tx\t3\t880000000", r"u.data, line 1: column 'item_id' expects an int"),
        ("u.data", 3, "1\t2\t3", r"u.data, line 4: expected 4 fields separated by '\\t', found 3"),
        ("u.data", 9, "7\t2\t3\t880000000", r"u.data, line 10: user_id 7 is not in u.user"),
        ("u.data", 2, "1\t31\t3\t880000000", r"u.data, line 3: item_id 31 is not in u.item"),
        ("u.user", 2, "3|17|X|student|K7L5J", r"u.user, line 3: column 'gender' expects M or F"),
        ("u.user", 4, "5|old|M|engineer|55105", r"u.user, line 5: column 'age' expects an int"),
        ("u.user", 5, "2|30|F|writer|E2A4H", r"u.user, line 6: user_id 2 appears twice \(first"),
        ("u.item", 7, "8|M|1-Foo-1990||u" + "|0" * 19, r"u.item, line 8: column 'release_date'"),
        ("u.item", 8, "9|M|||u" + "|2" + "|0" * 18, r"u.item, line 9: column \"genre 'unknown'\""),
        ("u.item", 9, "10|M|||u" + "|0" * 18, r"u.item, line 10: expected 24 fields"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, file, row, line, message):
    ratings = _ratings()
    lines = {
        "u.data": ["\t".join(map(str, r)) for r in ratings],
        "u.user": list(USERS),
        "u.item": _item_lines(),
    }
    lines[file][row] = line
    folder = tmp_path / "ml-100k"
    _write_folder(folder, ratings=ratings, users=lines["u.user"], items=lines["u.item"])
    if file == "u.data":
        (folder / "u.data").write_text("\n".join(lines["u.data"]) + "\n")
    with pytest.raises(DataError, match=message):
        load_movielens_100k(str(folder))


def test_a_pair_rated_twice_names_both_lines(tmp_path):
    ratings = _ratings()
    ratings[8] = (ratings[3][0], ratings[3][1], 4, 880000001)
    folder = _write_folder(tmp_path / "ml-100k", ratings=ratings)
    with pytest.raises(
        DataError, match=r"u.data, line 9: user \d+ rated item \d+ before \(line 4\)"
    ):
        load_movielens_100k(str(folder))


def test_missing_files_and_folders_are_named(data_dir, tmp_path, monkeypatch):
    (data_dir / "u.item").unlink()
    with pytest.raises(DataError, match=r"ml-100k/u.item: file not found.*u.data, u.user"):
        load_movielens_100k(str(data_dir))
    (data_dir / "u.item").write_text("\n")
    with pytest.raises(DataError, match=r"u.item: the file has no data rows"):
        load_movielens_100k(str(data_dir))
    with pytest.raises(DataError, match=r"nowhere: not a directory.*grouplens.org"):
        load_movielens_100k(str(tmp_path / "nowhere"))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr("zoo.data.base.paths.REPO_DATASETS", tmp_path / "no-datasets")
    with pytest.raises(DataError, match=r"--data-dir.*not shipped.*grouplens.org/datasets/movie"):
        load_movielens_100k()


def test_bad_arguments_and_too_few_ratings(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"rated, rating_ge_4, rating_5.*unknown: rating_4"):
        load_movielens_100k(str(data_dir), tasks="rating_ge_4,rating_4")
    with pytest.raises(ValueError, match="each task once"):
        load_movielens_100k(str(data_dir), tasks=["rated", "rated"])
    with pytest.raises(ValueError, match="negatives_per_positive >= 1"):
        load_movielens_100k(str(data_dir), negatives_per_positive=1.5)
    with pytest.raises(ValueError, match="0 < test_fraction < 0.5"):
        load_movielens_100k(str(data_dir), test_fraction=0.5)
    few = [r for r in _ratings() if r[0] == 5]  # 2 ratings: nothing to hold out
    folder = _write_folder(tmp_path / "few", ratings=few)
    with pytest.raises(DataError, match="the validation split has no ratings"):
        load_movielens_100k(str(folder))


def test_registry_and_reload_from_settings(data_dir, monkeypatch):
    assert DATASETS["movielens-100k"] is load_movielens_100k
    target = data_dir.parent / "movielens-100k"
    data_dir.rename(target)
    monkeypatch.setenv("ZOO_DATA_DIR", str(target.parent))
    dataset = load_dataset("movielens-100k", tasks="rated,rating_5", negatives_per_positive=2)
    assert dataset.settings["data_dir"] == str(target)
    accepted = inspect.signature(load_movielens_100k).parameters
    again = load_dataset(
        "movielens-100k", **{k: v for k, v in dataset.settings.items() if k in accepted}
    )
    for name in SPLITS:
        tasks = ["rated", "rating_5"]
        assert _rows(again.split(name), tasks) == _rows(dataset.split(name), tasks)


def test_mmoe_trains_and_reports_gauc(data_dir):
    dataset = load_movielens_100k(str(data_dir), embedding_dim=4)
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
    assert results["num_rows"] == len(dataset.test)
    assert {"auc", "gauc"} <= set(results["rating_ge_4"]) and np.isfinite(results["total_loss"])


def test_the_shared_copy_has_the_published_counts():
    if not SHARED.is_dir():
        pytest.skip(reason=f"the shared MovieLens 100K folder {SHARED} is absent")
    start = time.perf_counter()
    dataset = load_movielens_100k(str(SHARED), tasks=ALL_TASKS)
    seconds = time.perf_counter() - start
    settings = dataset.settings
    # README / SOURCE.md: 100,000 ratings by 943 users on 1,682 movies; 55,375 rated >= 4,
    # 21,201 rated 5; 670 men and 273 women; 21 occupations.
    assert (settings["num_ratings"], settings["num_users"], settings["num_items"]) == (
        100000,
        943,
        1682,
    )
    totals = {t: sum(int(dataset.split(n).labels[t].sum()) for n in SPLITS) for t in ALL_TASKS}
    assert totals == {"rated": 100000, "rating_ge_4": 55375, "rating_5": 21201}
    counts = settings["split_counts"]
    assert all(counts[n]["negatives"] == counts[n]["positives"] for n in SPLITS)
    test = dataset.test.features
    assert len(np.unique(test["user_id"])) == 943  # every user has held-out ratings
    train = dataset.train.features
    first = np.unique(train["user_id"], return_index=True)[1]
    assert (train["gender"][first] == "M").sum() == 670 and len(first) == 943
    assert len(np.unique(train["occupation"])) == 21
    assert set(np.unique(train["release_year"]).tolist()) >= {MISSING_YEAR, 1922, 1998}
    assert settings["time_ranges"]["test"][1] == "1998-04-22T23:10:38+00:00"
    assert seconds < 15
