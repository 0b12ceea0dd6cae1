"""Taobao UserBehavior: small logs in the raw format written here, and the shared head of the file.

The data may not be redistributed: nothing of it is in the repository. The
shared copy's tests skip, saying so, where it is absent.
"""

import gzip
import inspect
import pathlib

import numpy as np
import pytest

from zoo.data import DATASETS, DataError, load_dataset, load_taobao_user_behavior
from zoo.features.spec import CategoricalFeature, SequenceFeature

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/taobao-userbehavior-head"
SHARED_FILE = SHARED / "UserBehavior_first4321.csv"
SPLITS = ("train", "validation", "test")

# user, item, category, behaviour, time. User 1 views item 10, carts it and buys
# it later; item 12's first event is a fav. User 2's first event on item 10 is
# a purchase, in the same second as a view of item 13.
EVENTS = [
    (1, 10, 100, "pv", 100),
    (1, 10, 100, "cart", 150),
    (1, 11, 101, "pv", 200),
    (1, 12, 100, "fav", 250),
    (1, 10, 100, "buy", 300),
    (1, 10, 100, "pv", 400),
    (2, 10, 100, "buy", 120),
    (2, 13, 102, "pv", 120),
    (2, 14, 101, "pv", 500),
]
# Per (user, item) row: time, cart, fav, buy, item history, category history (length 3).
EXPECTED = {
    (1, 10): (100, 1, 0, 1, [-1, -1, -1], [-1, -1, -1]),
    (2, 10): (120, 0, 0, 1, [-1, -1, -1], [-1, -1, -1]),
    (2, 13): (120, 0, 0, 0, [-1, -1, -1], [-1, -1, -1]),  # the buy of the same second is left out
    (1, 11): (200, 0, 0, 0, [10, 10, -1], [100, 100, -1]),
    (1, 12): (250, 0, 1, 0, [11, 10, 10], [101, 100, 100]),
    (2, 14): (500, 0, 0, 0, [13, 10, -1], [102, 100, -1]),  # ties: the later line first
}


def _write(path, events=EVENTS, lines=None):
    text = lines if lines is not None else [",".join(map(str, event)) for event in events]
    path.write_text("\n".join(text) + "\n")
    return path


def _load(path, **options):
    options = {"validation_fraction": 0.2, "test_fraction": 0.2, **options}
    return load_taobao_user_behavior(str(path), **options)


def _rows(dataset):
    """`{(user, item): (split, row)}` over the three splits."""
    found = {}
    for name in SPLITS:
        split = dataset.split(name)
        for row, pair in enumerate(zip(split.features["user_id"], split.features["item_id"])):
            assert tuple(map(int, pair)) not in found, f"pair {pair} in two rows"
            found[tuple(map(int, pair))] = (name, row)
    return found


def test_rows_labels_histories_and_split_by_time(tmp_path):
    dataset = _load(_write(tmp_path / "UserBehavior.csv"), history_length=3, category_history=True)
    rows = _rows(dataset)
    assert set(rows) == set(EXPECTED)
    for pair, (_, cart, fav, buy, items, categories) in EXPECTED.items():
        name, row = rows[pair]
        split = dataset.split(name)
        labels = [split.labels[task][row] for task in ("cart", "fav", "buy")]
        assert labels == [cart, fav, buy], pair
        assert split.features["item_history"][row].tolist() == items, pair
        assert split.features["category_history"][row].tolist() == categories, pair
        assert split.features["category_id"][row] == {10: 100, 11: 101, 12: 100}.get(
            pair[1], {13: 102, 14: 101}.get(pair[1])
        )
    # Six rows in time order: the last fifth is test, the fifth before it validation.
    assert {pair for pair, (name, _) in rows.items() if name == "test"} == {(2, 14)}
    assert {pair for pair, (name, _) in rows.items() if name == "validation"} == {(1, 12)}
    assert dataset.train.features["user_id"].tolist() == [1, 2, 2, 1]  # in time order
    assert dataset.settings["split_counts"]["train"] == {"rows": 4, "cart": 1, "fav": 0, "buy": 2}
    assert dataset.settings["behavior_counts"] == {"pv": 5, "cart": 1, "fav": 1, "buy": 2}
    assert dataset.user_feature == "user_id"
    assert dataset.features == [
        CategoricalFeature("user_id", dtype="int64", embedding_dim=16),
        CategoricalFeature("item_id", dtype="int64", embedding_dim=16),
        CategoricalFeature("category_id", dtype="int64", embedding_dim=16),
        SequenceFeature("item_history", max_len=3, shares_table_with="item_id", dtype="int64",
                        embedding_dim=16),
        SequenceFeature("category_history", max_len=3, shares_table_with="category_id",
                        dtype="int64", embedding_dim=16),
    ]  # fmt: skip


def test_timestamps_outside_any_calendar_are_kept(tmp_path):
    events = EVENTS + [(3, 15, 103, "pv", -5), (3, 16, 103, "pv", 10**15)]
    dataset = _load(_write(tmp_path / "UserBehavior.csv", events), history_length=2)
    assert dataset.settings["time_ranges"]["train"][0] == "1969-12-31T23:59:55+00:00"
    assert dataset.settings["time_ranges"]["test"][1] == str(10**15)
    assert dataset.test.features["item_history"].tolist()[-1] == [15, -1]


def test_without_history_and_with_a_task_subset(tmp_path):
    dataset = _load(_write(tmp_path / "UserBehavior.csv"), tasks="buy,cart")
    assert [task.name for task in dataset.tasks] == ["buy", "cart"]
    assert set(dataset.train.features) == {"user_id", "item_id", "category_id"}
    assert dataset.settings["history_length"] is None


def test_line_order_does_not_change_the_rows(tmp_path):
    shuffled = [EVENTS[k] for k in np.random.default_rng(0).permutation(len(EVENTS))]
    # Ties between lines would come in another order: keep only the untied events.
    untied = [event for event in shuffled if event[4] != 120]
    first = _load(_write(tmp_path / "a.csv", sorted(untied, key=lambda e: e[4])), history_length=3)
    second = _load(_write(tmp_path / "b.csv", untied), history_length=3)
    for name in SPLITS:
        for feature, values in first.split(name).features.items():
            np.testing.assert_array_equal(values, second.split(name).features[feature])


def test_folder_gzip_and_reload_from_settings(tmp_path):
    folder = tmp_path / "taobao"
    folder.mkdir()
    text = "\n".join(",".join(map(str, event)) for event in EVENTS) + "\n"
    with gzip.open(folder / "UserBehavior.csv.gz", "wt") as f:
        f.write(text)
    dataset = _load(folder, history_length=2)
    assert dataset.settings["file"] == "UserBehavior.csv.gz"
    assert DATASETS["taobao-user-behavior"] is load_taobao_user_behavior
    accepted = inspect.signature(load_taobao_user_behavior).parameters
    again = load_dataset(
        "taobao-user-behavior", **{k: v for k, v in dataset.settings.items() if k in accepted}
    )
    np.testing.assert_array_equal(
        again.test.features["item_history"], dataset.test.features["item_history"]
    )


@pytest.mark.parametrize(
    "line, message",
    [
        ("1,10,100,pv", r"line 3: expected 5 fields \(user_id,item_id,.*found 4"),
        ("1,10,100,pv,100,7", r"line 3: expected 5 fields.*found 6"),
        ("1,10,100,click,100", r"line 3: column 'behavior_type' expects one of pv, cart, fav, "),
        ("1,x10,100,pv,100", r"line 3: column 'item_id' expects an integer, found 'x10'\."),
        ("1,10,,pv,100", r"line 3: column 'category_id' expects an integer, found ''"),
        ("1,10,100,pv,1.5e9", r"line 3: column 'timestamp' expects an integer, found '1.5e9'"),
        ("-4,10,100,pv,100", r"line 3: column 'user_id' expects an integer >= 0, found '-4'"),
        ("1,99999999999999999999,100,pv,100", r"line 3: column 'item_id' expects an integer"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "UserBehavior.csv", lines=["1,10,100,pv,100", "", line])
    with pytest.raises(DataError, match=rf"UserBehavior\.csv, {message}"):
        _load(path)


def test_a_header_line_is_named_as_such(tmp_path):
    lines = ["user_id,item_id,category_id,behavior_type,timestamp", "1,10,100,pv,100"]
    with pytest.raises(DataError, match=r"line 1: .*'user_id'.*no header line"):
        _load(_write(tmp_path / "UserBehavior.csv", lines=lines))


def test_missing_file_several_files_and_an_empty_split(tmp_path):
    with pytest.raises(DataError, match=r"expected one UserBehavior\*\.csv\[\.gz\] log, found no"):
        _load(tmp_path)
    _write(tmp_path / "UserBehavior.csv")
    _write(tmp_path / "UserBehavior_head.csv")
    with pytest.raises(DataError, match=r"found 2 files \(UserBehavior.csv, UserBehavior_head"):
        _load(tmp_path)
    one_pair = _write(tmp_path / "one.csv", lines=["1,10,100,pv,100", "1,10,100,buy,200"])
    with pytest.raises(
        DataError, match=r"one.csv: 1 \(user, item\) pairs leave the train split empty"
    ):
        _load(one_pair)
    empty = _write(tmp_path / "empty.csv", lines=[""])
    with pytest.raises(DataError, match=r"empty.csv: the file has no data rows"):
        _load(empty)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"tasks": "buy,click"}, ValueError, r"tasks from cart, fav, buy.*unknown: click"),
        ({"test_fraction": 0.5}, ValueError, r"0 < test_fraction < 0.5"),
        ({"max_rows": 0}, ValueError, r"max_rows >= 1 or None"),
        ({"history_length": -2}, ValueError, r"history_length >= 1 or None"),
        ({"history_length": 2, "history_pooling": "min"}, ValueError, r"history_pooling in"),
        ({"category_history": True}, ValueError, r"give history_length too"),
    ],
)
def test_arguments_are_checked(tmp_path, options, error, message):
    with pytest.raises(error, match=message):
        _load(_write(tmp_path / "UserBehavior.csv"), **options)


# -- the shared head of the published file ------------------------------------------


@pytest.fixture(scope="module")
def shared():
    if not SHARED_FILE.exists():
        pytest.skip(
            f"{SHARED_FILE} is absent: the Taobao UserBehavior data may not be redistributed, "
            "so only the shared workspace has a copy"
        )
    return load_taobao_user_behavior(str(SHARED), history_length=10, category_history=True)


def test_shared_head_counts_match_its_card(shared):
    # shared/data/taobao-userbehavior-head/SOURCE.md
    assert shared.settings["num_events"] == 4321
    assert shared.settings["behavior_counts"] == {"pv": 3926, "cart": 190, "fav": 128, "buy": 77}
    assert shared.settings["num_pairs"] == 3329
    assert (shared.settings["num_users"], shared.settings["num_items"]) == (43, 3276)
    assert shared.settings["num_categories"] == 567
    positives = {
        task: sum(int(shared.split(name).labels[task].sum()) for name in SPLITS)
        for task in ("cart", "fav", "buy")
    }
    assert positives == {"cart": 185, "fav": 128, "buy": 70}
    sizes = [len(shared.split(name)) for name in SPLITS]
    assert sum(sizes) == 3329 and 300 <= sizes[1] <= 366 and 300 <= sizes[2] <= 366


def test_shared_head_histories_hold_only_earlier_events_of_the_user(shared):
    user_events, first_time = {}, {}
    for line, text in enumerate(SHARED_FILE.read_text().splitlines()):
        user, item, category, _, time = map(lambda f: int(f) if f.isdigit() else f, text.split(","))
        user_events.setdefault(user, []).append((time, line, item, category))
        first_time[(user, item)] = min(first_time.get((user, item), time), time)
    split_times = []
    for name in SPLITS:
        split = shared.split(name)
        items, categories = split.features["item_history"], split.features["category_history"]
        assert items.shape == (len(split), 10) and items.dtype == np.int64
        pairs = list(zip(split.features["user_id"].tolist(), split.features["item_id"].tolist()))
        times = [first_time[pair] for pair in pairs]
        assert times == sorted(times)  # each split in time order
        split_times.append(times)
        for row, (user, item) in enumerate(pairs):
            # Strictly earlier events of the user, newest first, ties later line first.
            earlier = sorted(
                (event for event in user_events[user] if event[0] < times[row]), reverse=True
            )[:10]
            padding = [-1] * (10 - len(earlier))
            assert items[row].tolist() == [event[2] for event in earlier] + padding
            assert categories[row].tolist() == [event[3] for event in earlier] + padding
            assert item not in items[row]  # the row is the pair's first event
    # Split by time: every training row before every validation row, before every test row.
    assert split_times[0][-1] < split_times[1][0] and split_times[1][-1] < split_times[2][0]


def test_shared_head_max_rows(shared):
    head = load_taobao_user_behavior(str(SHARED_FILE), max_rows=1000)
    assert head.settings["num_events"] == 1000 and head.settings["max_rows"] == 1000
