"""Loader options that add list features: KuaiRand's and MovieLens' histories, MovieLens' genres.

Every history is checked against the raw log read here, independently of the
loader: the same user's events strictly before the row, newest first.
"""

import csv
import gzip
import inspect
import pathlib

import numpy as np
import pytest

from tests.data.movielens_test import _write_folder as _write_movielens
from zoo.data import load_dataset, load_kuairand, load_movielens_100k
from zoo.data.base.paths import REPO_DATASETS
from zoo.data.formats.tfrecord import write_tfrecord_shards
from zoo.data.sources.movielens.loader import GENRE_FEATURES, GENRES, ITEM_FEATURES, USER_FEATURES
from zoo.features.spec import MultiHotFeature, SequenceFeature

SPLITS = ("train", "validation", "test")
SHARED_MOVIELENS = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/movielens-100k"
LENGTH = 12
SAMPLED_ROWS = 300


def _expected_history(candidates, times, items, row_time, max_len, padding=-1):
    """The reference: `candidates` (log row indices of one user) strictly before `row_time`.

    Newest first; ties in time later line first, as `previous_interactions` documents.
    """
    earlier = [j for j in candidates if times[j] < row_time]
    earlier.sort(key=lambda j: (times[j], j), reverse=True)
    kept = [items[j] for j in earlier[:max_len]]
    return kept + [padding] * (max_len - len(kept))


def _check_padding(history, padding):
    """Padding only at the end of each row, and nowhere else."""
    is_padding = history == padding
    assert (is_padding[:, :-1] <= is_padding[:, 1:]).all()
    return is_padding


# -- KuaiRand: the shipped like/hate subset ---------------------------------------


@pytest.fixture(scope="module")
def kuairand():
    return load_kuairand(history_length=LENGTH, history_pooling="attention")


@pytest.fixture(scope="module")
def kuairand_log():
    """The shipped log's columns, read with the csv module, in file order."""
    path = REPO_DATASETS / "kuairand" / "processed_standard_kcore_15.csv.gz"
    wanted = ("user_id", "video_id", "date", "time_ms", "is_click")
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {name: np.asarray([int(row[name]) for row in rows], np.int64) for name in wanted}


def test_kuairand_history_column_shape_dtype_and_padding(kuairand):
    for name in SPLITS:
        split = kuairand.split(name)
        history = split.features["watched_videos"]
        assert history.shape == (len(split), LENGTH) and history.dtype == np.int64
        is_padding = _check_padding(history, -1)
        assert (history[~is_padding] >= 0).all()
    lengths = (kuairand.train.features["watched_videos"] != -1).sum(axis=1)
    assert lengths.min() == 0 and lengths.max() == LENGTH  # first visits and long histories
    feature = kuairand.features[-1]
    assert feature == SequenceFeature(
        "watched_videos",
        max_len=LENGTH,
        pooling="attention",
        shares_table_with="video_id",
        dtype="int64",
        embedding_dim=8,
    )
    assert feature.target == "video_id"
    assert kuairand.settings["history_length"] == LENGTH
    assert kuairand.settings["history_pooling"] == "attention"


def test_kuairand_history_is_earlier_clicks_of_the_same_user(kuairand, kuairand_log):
    log = kuairand_log
    clicks_of = {}
    for j in np.flatnonzero(log["is_click"] == 1).tolist():
        clicks_of.setdefault(int(log["user_id"][j]), []).append(j)
    times, videos = log["time_ms"].tolist(), log["video_id"].tolist()
    rng = np.random.default_rng(0)
    for name in SPLITS:
        split = kuairand.split(name)
        first, last = kuairand.settings["date_ranges"][name]
        # The loader keeps a split's rows in log order.
        log_rows = np.flatnonzero((log["date"] >= first) & (log["date"] <= last))
        np.testing.assert_array_equal(split.features["user_id"], log["user_id"][log_rows])
        np.testing.assert_array_equal(split.features["video_id"], log["video_id"][log_rows])
        history = split.features["watched_videos"]
        for row in rng.choice(len(split), min(SAMPLED_ROWS, len(split)), replace=False).tolist():
            j = int(log_rows[row])
            clicks = clicks_of.get(int(log["user_id"][j]), [])
            earlier = {videos[c] for c in clicks if times[c] < times[j]}
            entries = [v for v in history[row].tolist() if v != -1]
            assert set(entries) <= earlier, f"{name} row {row}: a video not clicked before"
            assert history[row].tolist() == _expected_history(
                clicks, times, videos, times[j], LENGTH
            )


def test_kuairand_without_history_is_unchanged(kuairand):
    plain = load_kuairand()
    assert "watched_videos" not in plain.train.features
    assert not [f for f in plain.features if isinstance(f, SequenceFeature)]
    assert plain.settings["history_length"] is None
    assert [f.name for f in plain.features] == [f.name for f in kuairand.features[:-1]]
    for name in SPLITS:
        for feature, values in plain.split(name).features.items():
            np.testing.assert_array_equal(values, kuairand.split(name).features[feature])


def test_kuairand_reloads_its_history_from_settings(kuairand):
    # As `zoo evaluate` reloads a run's data: the settings the loader accepts.
    accepted = inspect.signature(load_kuairand).parameters
    again = load_dataset(
        "kuairand", **{k: v for k, v in kuairand.settings.items() if k in accepted}
    )
    np.testing.assert_array_equal(
        again.test.features["watched_videos"], kuairand.test.features["watched_videos"]
    )
    assert again.features == kuairand.features


@pytest.mark.parametrize(
    "options, message",
    [
        ({"history_length": 0}, r"history_length >= 1 or None.*history_length=0"),
        ({"history_length": 2.5}, r"history_length >= 1 or None.*history_length=2.5"),
        ({"history_length": 5, "history_pooling": "median"}, r"history_pooling in .*'median'"),
        ({"history_length": 5, "streaming": True}, r"does not go with streaming=True"),
    ],
)
def test_kuairand_history_arguments_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        load_kuairand(**options)


# -- MovieLens 100K ------------------------------------------------------------------


def _ratings_log(data_dir):
    """`u.data`'s columns in file order: users, items, timestamps."""
    fields = [line.split("\t") for line in (data_dir / "u.data").read_text().splitlines() if line]
    return [np.asarray([int(f[k]) for f in fields], np.int64) for k in (0, 1, 3)]


def _check_movielens_histories(dataset, data_dir, length, sampled_rows=None, seed=0):
    """Rated rows: exactly the reference; sampled negatives: the history of a rating of theirs."""
    users, items, timestamps = _ratings_log(data_dir)
    rows_of = {}
    for j, user in enumerate(users.tolist()):
        rows_of.setdefault(user, []).append(j)
    time_of = {(u, i): t for u, i, t in zip(users.tolist(), items.tolist(), timestamps.tolist())}
    times, movies = timestamps.tolist(), items.tolist()
    rng = np.random.default_rng(seed)
    for name in SPLITS:
        split = dataset.split(name)
        history = split.features["rated_movies"]
        assert history.shape == (len(split), length) and history.dtype == np.int64
        _check_padding(history, -1)
        # The candidate is never in its own history: rated once, or never (a negative).
        assert not (history == split.features["item_id"][:, None]).any()
        row_users, row_items = split.features["user_id"], split.features["item_id"]
        rated = np.asarray([(u, i) in time_of for u, i in zip(row_users, row_items)])
        rated_histories = {}
        for row in np.flatnonzero(rated).tolist():
            rated_histories.setdefault(int(row_users[row]), set()).add(tuple(history[row]))
        rows = np.arange(len(split))
        if sampled_rows is not None:
            rows = rng.choice(rows, min(sampled_rows, len(rows)), replace=False)
        for row in rows.tolist():
            user = int(row_users[row])
            if rated[row]:
                row_time = time_of[(user, int(row_items[row]))]
                expected = _expected_history(rows_of[user], times, movies, row_time, length)
                assert history[row].tolist() == expected, f"{name} row {row}"
            else:
                assert tuple(history[row]) in rated_histories[user], f"{name} negative {row}"


def test_movielens_history_on_a_small_folder(tmp_path):
    data_dir = _write_movielens(tmp_path / "ml")
    dataset = load_movielens_100k(str(data_dir), history_length=3, negatives_per_positive=2)
    assert dataset.features[-1].name == "rated_movies"
    assert dataset.features[-1].shares_table_with == "item_id"
    _check_movielens_histories(dataset, data_dir, 3)


def test_list_features_are_refused_by_the_tfrecord_writer(tmp_path):
    dataset = load_movielens_100k(str(_write_movielens(tmp_path / "ml")), history_length=2)
    with pytest.raises(ValueError, match=r"list features \['rated_movies'\].*cannot be written"):
        write_tfrecord_shards(dataset, tmp_path / "shards")
    assert not (tmp_path / "shards").exists() and not list(tmp_path.glob(".shards*"))


@pytest.fixture(scope="module")
def movielens():
    if not (SHARED_MOVIELENS / "u.data").exists():
        pytest.skip(f"MovieLens 100K is not in {SHARED_MOVIELENS} (it may not be redistributed)")
    plain = load_movielens_100k(str(SHARED_MOVIELENS))
    listed = load_movielens_100k(str(SHARED_MOVIELENS), history_length=LENGTH, genres="multi_hot")
    return plain, listed


def test_movielens_history_is_earlier_ratings_of_the_same_user(movielens):
    _, listed = movielens
    _check_movielens_histories(listed, SHARED_MOVIELENS, LENGTH, sampled_rows=SAMPLED_ROWS)
    lengths = (listed.train.features["rated_movies"] != -1).sum(axis=1)
    assert lengths.min() == 0 and lengths.max() == LENGTH


def test_movielens_list_options_keep_the_rows_and_labels(movielens):
    plain, listed = movielens
    for name in SPLITS:
        for feature in USER_FEATURES + ("item_id", "release_year"):
            np.testing.assert_array_equal(
                plain.split(name).features[feature], listed.split(name).features[feature]
            )
        for task, labels in plain.split(name).labels.items():
            np.testing.assert_array_equal(labels, listed.split(name).labels[task])


def test_movielens_multi_hot_genres_are_the_flags_by_name(movielens):
    plain, listed = movielens
    for name in SPLITS:
        genres = listed.split(name).features["genres"]
        assert genres.shape == (len(listed.split(name)), 6) and genres.dtype == object
        is_padding = _check_padding(genres, "")
        assert all(isinstance(g, str) for g in genres[~is_padding].tolist())
        for genre, flag in zip(GENRES, GENRE_FEATURES):
            np.testing.assert_array_equal(
                (genres == genre).any(axis=1), plain.split(name).features[flag] == 1
            )
    assert not set(GENRE_FEATURES) & set(listed.train.features)
    genres_feature = next(f for f in listed.features if f.name == "genres")
    assert genres_feature == MultiHotFeature(
        "genres", dtype="string", embedding_dim=16, max_len=6, pooling="mean"
    )
    assert listed.settings["item_features"] == ["item_id", "release_year"]
    assert listed.settings["genres"] == "multi_hot"


def test_movielens_defaults_are_unchanged(movielens):
    plain, _ = movielens
    assert [f.name for f in plain.features] == list(USER_FEATURES + ITEM_FEATURES)
    assert set(plain.train.features) == set(USER_FEATURES + ITEM_FEATURES)
    assert plain.settings["item_features"] == list(ITEM_FEATURES)
    assert plain.settings["history_length"] is None and plain.settings["genres"] == "flags"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"genres": "bag"}, r"genres in \('flags', 'multi_hot'\).*'bag'"),
        ({"history_length": 0}, r"history_length >= 1 or None.*history_length=0"),
        ({"history_length": 3, "history_pooling": "last"}, r"history_pooling in .*'last'"),
    ],
)
def test_movielens_list_arguments_are_checked(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        load_movielens_100k(str(tmp_path), **options)
