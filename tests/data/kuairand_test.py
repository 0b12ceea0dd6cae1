"""KuaiRand: the like/hate subset shipped in datasets/, and small copies in the official format."""

import csv
import gzip
import inspect
import time

import keras
import numpy as np
import pytest

from zoo import models
from zoo.data import DATASETS, DataError, load_dataset, load_kuairand
from zoo.data.base.paths import REPO_DATASETS
from zoo.data.sources.kuairand.schema import LOG_COLUMNS, MISSING_CODE, SUBSET_COLUMNS, TASKS
from zoo.training.trainer import TrainingConfig, evaluate, fit

SHIPPED = REPO_DATASETS / "kuairand"
ALL_TASKS = list(TASKS)


@pytest.fixture(scope="module")
def shipped():
    start = time.perf_counter()
    dataset = load_kuairand(tasks=ALL_TASKS)
    return dataset, time.perf_counter() - start


# -- the shipped subset ---------------------------------------------------------


def test_shipped_subset_splits_by_date(shipped):
    dataset, seconds = shipped
    assert seconds < 10
    sizes = [len(dataset.split(name)) for name in ("train", "validation", "test")]
    assert sizes == [33485, 4508, 3835] and sum(sizes) == 41828
    ranges = dataset.settings["date_ranges"]
    assert ranges == {
        "train": [20220408, 20220417],
        "validation": [20220418, 20220419],
        "test": [20220420, 20220421],
    }
    assert ranges["train"][1] < ranges["validation"][0] <= ranges["validation"][1]
    assert ranges["validation"][1] < ranges["test"][0]
    assert dataset.settings["log_format"] == "like-hate-subset"
    assert dataset.settings["log_files"] == ["processed_standard_kcore_15.csv.gz"]
    assert dataset.settings["user_file"] == "user_features_pure.csv.gz"
    assert "only has rows with a like or a hate" in dataset.summary
    assert DATASETS["kuairand"] is load_kuairand


def test_shipped_subset_positives_match_the_source_counts(shipped):
    dataset, _ = shipped
    expected = {
        "click": 27484,
        "long_view": 19320,
        "like": 33745,
        "comment": 1258,
        "forward": 326,
        "follow": 304,
        "profile_enter": 2214,
    }
    splits = [dataset.split(name) for name in ("train", "validation", "test")]
    for task, count in expected.items():
        assert sum(int(s.labels[task].sum()) for s in splits) == count, task
        assert all(task not in s.label_masks for s in splits)  # every row has every label
    pcr = np.concatenate([s.labels["pcr"] for s in splits])
    assert pcr.min() >= 0 and pcr.max() <= 1
    assert sum(int((~s.label_masks["pcr"]).sum()) for s in splits) == 7738
    assert {t.name: t.type for t in dataset.tasks}["pcr"] == "regression"


def test_shipped_subset_features_and_gauc_user(shipped):
    dataset, _ = shipped
    train = dataset.train.features
    assert set(np.unique(train["user_active_degree"])) <= {
        "full_active", "high_active", "middle_active", "low_active", "2_14_day_new",
        "single_low_active", "30day_retention", "day_new", "UNKNOWN",
    }  # fmt: skip
    assert "high_active" in set(train["user_active_degree"])
    assert set(np.unique(train["is_live_streamer"])) <= {MISSING_CODE, 0, 1}
    assert set(np.unique(train["hour"])) <= set(range(24))
    assert set(np.unique(train["weekday"])) == set(range(7))
    assert train["user_id"].dtype == np.int64 and train["video_id"].dtype == np.int64
    for leak in ("play_time_ms", "duration_ms", "comment_stay_time", "label", "is_click"):
        assert leak not in train
    assert dataset.user_feature == "user_id"
    _, _, users = dataset.label_arrays("test")
    assert users is not None and len(users) == 3835


def test_unseen_test_videos_go_to_the_oov_bucket(shipped):
    dataset, _ = shipped
    train_videos = set(dataset.train.features["video_id"].tolist())
    unseen = [v for v in dataset.test.features["video_id"].tolist() if v not in train_videos]
    assert unseen
    features = {name: values[:1] for name, values in dataset.test.features.items()}
    features["video_id"] = np.asarray(unseen[:1], np.int64)
    preprocessor = dataset.make_preprocessor()
    assert int(preprocessor(features)["video_id"][0]) == 0


# -- small copies in the official log format -------------------------------------


def _user_lines(count=10):
    """The header and the first `count` users (ids 0..count-1) of the shipped user table."""
    with gzip.open(SHIPPED / "user_features_pure.csv.gz", "rt", newline="") as f:
        return [next(f) for _ in range(count + 1)]


def _official_rows(num_rows=300, num_days=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(num_rows):
        reaction = rng.choice(["like", "hate", "both", "none"], p=[0.3, 0.1, 0.05, 0.55])
        duration = 0 if i % 10 == 0 else int(rng.integers(5000, 60000))
        play = int(rng.integers(0, 90000))
        rows.append(
            {
                "user_id": int(rng.integers(0, 10)),
                "video_id": int(rng.integers(0, 40)),
                "date": 20220408 + int(rng.integers(0, num_days)),
                "hourmin": int(rng.integers(0, 24)) * 100,
                "time_ms": 1649400000000 + i,
                "is_click": int(rng.random() < 0.5),
                "is_like": int(reaction in ("like", "both")),
                "is_follow": int(rng.random() < 0.1),
                "is_comment": int(rng.random() < 0.1),
                "is_forward": int(rng.random() < 0.1),
                "is_hate": int(reaction in ("hate", "both")),
                "long_view": int(play >= min(duration, 18000)),
                "play_time_ms": play,
                "duration_ms": duration,
                "profile_stay_time": 0,
                "comment_stay_time": 0,
                "is_profile_enter": int(rng.random() < 0.1),
                "is_rand": 0,
                "tab": 1,
            }
        )
    return rows


def _write(path, rows, columns=LOG_COLUMNS, delimiter=","):
    with open(path, "w", newline="") as f:
        f.write(delimiter.join(columns) + "\n")
        for row in rows:
            f.write(delimiter.join(str(row[c]) for c in columns) + "\n")


def _official_copy(tmp_path, rows=None, name="log_standard_4_08_to_4_21_pure.csv"):
    _write(tmp_path / name, _official_rows() if rows is None else rows)
    (tmp_path / "user_features_pure.csv").write_text("".join(_user_lines()))
    return str(tmp_path)


def test_official_like_is_masked_where_neither_like_nor_hate(tmp_path):
    rows = _official_rows()
    dataset = load_kuairand(data_dir=_official_copy(tmp_path, rows), tasks=["like", "pcr"])
    assert dataset.settings["log_format"] == "kuairand-log"
    labels, masks, liked, hated = [], [], [], []
    for name in ("train", "validation", "test"):
        split = dataset.split(name)
        labels.append(split.labels["like"])
        masks.append(split.label_masks["like"])
        first, last = dataset.settings["date_ranges"][name]
        in_split = [r for r in rows if first <= r["date"] <= last]  # file order within a split
        liked.append([r["is_like"] == 1 for r in in_split])
        hated.append([r["is_hate"] == 1 for r in in_split])
    labels, masks = np.concatenate(labels), np.concatenate(masks)
    liked, hated = np.concatenate(liked), np.concatenate(hated)
    np.testing.assert_array_equal(masks, liked | hated)
    np.testing.assert_array_equal(labels[masks], liked[masks])  # both set: like wins
    assert (hated & ~liked).any() and (hated & liked).any() and (~masks).any()
    pcr_mask = np.concatenate([dataset.split(n).label_masks["pcr"] for n in ("train", "test")])
    assert (~pcr_mask).any()
    assert "masked on the others" in dataset.summary


def test_pcr_is_clipped_and_masked_where_duration_is_zero(tmp_path):
    rows = _official_rows(num_days=3)
    rows[0].update(date=20220408, play_time_ms=5000, duration_ms=0)
    rows[1].update(date=20220408, play_time_ms=30000, duration_ms=10000)
    rows[2].update(date=20220408, play_time_ms=2500, duration_ms=10000)
    dataset = load_kuairand(
        data_dir=_official_copy(tmp_path, rows), tasks=["pcr"], validation_days=1, test_days=1
    )
    train = dataset.train
    np.testing.assert_allclose(train.labels["pcr"][:3], [0.0, 1.0, 0.25])
    np.testing.assert_array_equal(train.label_masks["pcr"][:3], [False, True, True])
    assert train.features["weekday"][0] == 4  # 2022-04-08 was a Friday


def test_format_is_decided_by_the_header(tmp_path):
    rows = [r for r in _official_rows() if r["is_like"] or r["is_hate"]]
    for row in rows:
        row["label"] = row["is_like"]
        row["timestamp"] = "2022-04-08 00:00:00"
    # The subset's columns, reordered, comma-separated, under an official log's name.
    columns = list(reversed(SUBSET_COLUMNS))
    _write(tmp_path / "log_standard_4_08_to_4_21_27k_part1.csv", rows, columns)
    (tmp_path / "user_features_27k.csv").write_text("".join(_user_lines()))
    dataset = load_kuairand(data_dir=str(tmp_path), tasks=["like", "click"])
    assert dataset.settings["log_format"] == "like-hate-subset"
    assert not dataset.has_label_masks
    total = sum(int(dataset.split(n).labels["like"].sum()) for n in ("train", "validation", "test"))
    assert total == sum(r["is_like"] for r in rows)
    # An official log beside it: two formats in one folder.
    _write(tmp_path / "log_standard_4_08_to_4_21_27k_part2.csv", _official_rows())
    with pytest.raises(DataError, match="part2.csv is in the kuairand-log format.*count rows"):
        load_kuairand(data_dir=str(tmp_path))


def test_header_with_a_wrong_column_is_named(tmp_path):
    data_dir = _official_copy(tmp_path)
    path = tmp_path / "log_standard_4_08_to_4_21_pure.csv"
    text = path.read_text().replace("is_hate", "is_hated", 1)
    path.write_text(text)
    with pytest.raises(DataError, match=r"pure.csv, line 1: unexpected column 'is_hated'"):
        load_kuairand(data_dir=data_dir)
    path.write_text(text.replace(",is_hated", "", 1))
    with pytest.raises(DataError, match=r"line 1: missing column 'is_hate'"):
        load_kuairand(data_dir=data_dir)


@pytest.mark.parametrize(
    "row, column, value, message",
    [
        (4, "user_id", "u7", r"line 6: column 'user_id' expects an integer, found 'u7'"),
        (9, "video_id", "1.5", r"line 11: column 'video_id' expects an integer, found '1.5'"),
        (2, "is_like", "2", r"line 4: column 'is_like' expects 0 or 1, found 2"),
        (7, "long_view", "-1", r"line 9: column 'long_view' expects 0 or 1, found -1"),
        (3, "date", "20220431", r"line 5: column 'date' expects YYYYMMDD, found 20220431"),
        (5, "hourmin", "2460", r"line 7: column 'hourmin' expects HHMM"),
    ],
)
def test_malformed_values_name_file_and_line(tmp_path, row, column, value, message):
    rows = _official_rows(num_rows=20)
    rows[row][column] = value
    data_dir = _official_copy(tmp_path, rows)
    with pytest.raises(DataError, match=r"log_standard_4_08_to_4_21_pure.csv, " + message):
        load_kuairand(data_dir=data_dir)


def test_wrong_field_count_names_file_and_line(tmp_path):
    data_dir = _official_copy(tmp_path, _official_rows(num_rows=20))
    path = tmp_path / "log_standard_4_08_to_4_21_pure.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[12] = lines[12].rstrip("\n") + ",7\n"
    path.write_text("".join(lines))
    with pytest.raises(DataError, match=r"pure.csv, line 13: expected 19 fields.*found 20"):
        load_kuairand(data_dir=data_dir)


def test_log_user_missing_from_the_user_table(tmp_path):
    rows = _official_rows(num_rows=50)
    rows[30]["user_id"] = 4242
    data_dir = _official_copy(tmp_path, rows)
    with pytest.raises(
        DataError, match=r"pure.csv, line 32: user_id 4242 is not in the user table .*user_feat"
    ):
        load_kuairand(data_dir=data_dir)


def test_user_table_encodings(tmp_path):
    data_dir = _official_copy(tmp_path)
    lines = _user_lines()
    header = next(csv.reader(lines[:1]))
    table = [next(csv.reader([line])) for line in lines[1:]]
    table[2][header.index("onehot_feat12")] = ""  # user 2
    table[2][header.index("onehot_feat4")] = "7.0"
    with open(tmp_path / "user_features_pure.csv", "w", newline="") as f:
        csv.writer(f).writerows([header] + table)
    dataset = load_kuairand(data_dir=data_dir)
    users = np.concatenate([dataset.split(n).features["user_id"] for n in ("train", "test")])
    feat12 = np.concatenate([dataset.split(n).features["onehot_feat12"] for n in ("train", "test")])
    feat4 = np.concatenate([dataset.split(n).features["onehot_feat4"] for n in ("train", "test")])
    assert set(feat12[users == 2]) == {MISSING_CODE} and set(feat4[users == 2]) == {7}
    assert MISSING_CODE not in set(feat12[users != 2])
    table[5][header.index("onehot_feat6")] = "one"
    with open(tmp_path / "user_features_pure.csv", "w", newline="") as f:
        csv.writer(f).writerows([header] + table)
    with pytest.raises(DataError, match=r"line 7: column 'onehot_feat6' expects an integer"):
        load_kuairand(data_dir=data_dir)


def test_too_few_dates_and_bad_arguments(tmp_path):
    data_dir = _official_copy(tmp_path, _official_rows(num_days=4))
    assert len(load_kuairand(data_dir=data_dir, validation_days=1, test_days=2).test) > 0
    with pytest.raises(DataError, match=r"4 distinct dates.*need at least 5"):
        load_kuairand(data_dir=data_dir)
    with pytest.raises(ValueError, match="validation_days >= 1"):
        load_kuairand(data_dir=data_dir, validation_days=0)
    with pytest.raises(ValueError, match="max_rows >= 1"):
        load_kuairand(data_dir=data_dir, max_rows=0)


def test_unknown_task_names_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"click, long_view, like.*pcr.*unknown: watch_time"):
        load_kuairand(tasks=["click", "watch_time"])
    with pytest.raises(ValueError, match="each task once"):
        load_kuairand(tasks=["click", "click"])
    data_dir = _official_copy(tmp_path)
    dataset = load_kuairand(data_dir=data_dir, tasks="pcr, profile_enter")
    assert [t.name for t in dataset.tasks] == ["pcr", "profile_enter"]


def test_missing_files_are_listed(tmp_path):
    (tmp_path / "user_features_1k.csv").write_text("".join(_user_lines()))
    with pytest.raises(DataError, match=r"no KuaiRand log found.*log_standard_\*\.csv\[\.gz\]"):
        load_kuairand(data_dir=str(tmp_path))
    _write(tmp_path / "log_random_4_22_to_5_08_1k.csv", _official_rows())
    (tmp_path / "user_features_1k.csv").unlink()
    with pytest.raises(DataError, match=r"no KuaiRand user table.*user_features_27k\.csv"):
        load_kuairand(data_dir=str(tmp_path))
    for name in ("user_features_1k.csv", "user_features_pure.csv.gz"):
        (tmp_path / name).write_bytes((SHIPPED / "user_features_pure.csv.gz").read_bytes())
    with pytest.raises(DataError, match=r"several user tables \(user_features_1k.csv, user_f"):
        load_kuairand(data_dir=str(tmp_path))
    (tmp_path / "log_random_4_22_to_5_08_1k.csv.gz").write_bytes(b"")
    with pytest.raises(DataError, match=r"_1k.csv and .*_1k.csv.gz both exist"):
        load_kuairand(data_dir=str(tmp_path))


def test_several_log_files_max_rows_and_reload_from_settings(tmp_path):
    _official_copy(tmp_path, _official_rows(seed=1), name="log_standard_4_08_to_4_21_1k.csv")
    _write(tmp_path / "log_random_4_22_to_5_08_1k.csv", _official_rows(seed=2))
    (tmp_path / "user_features_pure.csv").rename(tmp_path / "user_features_1k.csv")
    both = load_kuairand(data_dir=str(tmp_path))
    assert both.settings["log_rows"] == 600
    assert both.settings["log_files"] == [
        "log_random_4_22_to_5_08_1k.csv",
        "log_standard_4_08_to_4_21_1k.csv",
    ]
    capped = load_kuairand(data_dir=str(tmp_path), max_rows=350)
    assert capped.settings["log_rows"] == 350 and capped.settings["max_rows"] == 350
    # As `zoo evaluate` reloads a run's data: the settings the loader accepts.
    accepted = inspect.signature(load_kuairand).parameters
    again = load_dataset("kuairand", **{k: v for k, v in capped.settings.items() if k in accepted})
    np.testing.assert_array_equal(again.test.labels["click"], capped.test.labels["click"])


def test_mmoe_trains_on_official_logs_with_masked_like_and_pcr(tmp_path):
    data_dir = _official_copy(tmp_path, _official_rows(num_rows=1500))
    dataset = load_kuairand(data_dir=data_dir, tasks=["click", "like", "pcr"], embedding_dim=4)
    keras.utils.set_random_seed(1)
    model = models.MMoE(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        num_experts=2,
        expert_units=[8],
        tower_units=[8],
    )
    config = TrainingConfig(epochs=1, batch_size=512, early_stopping_patience=None, verbose=0)
    fit(model, dataset, config)
    results = evaluate(model, dataset, "test")
    assert {"auc", "loss", "gauc", "num_labeled"} <= set(results["click"])
    assert {"auc", "gauc"} <= set(results["like"])
    assert results["like"]["num_labeled"] == int(dataset.test.label_masks["like"].sum())
    assert results["like"]["num_labeled"] < results["num_rows"]
    assert {"mse", "loss"} <= set(results["pcr"]) and "gauc" not in results["pcr"]
    assert results["pcr"]["num_labeled"] == int(dataset.test.label_masks["pcr"].sum())
    assert np.isfinite(results["total_loss"])


def test_chunked_reading_gives_the_same_rows_and_lines(tmp_path, monkeypatch):
    rows = _official_rows(num_rows=100)
    data_dir = _official_copy(tmp_path, rows)
    whole = load_kuairand(data_dir=data_dir, tasks=ALL_TASKS)
    monkeypatch.setattr("zoo.data.sources.kuairand.files.CHUNK_ROWS", 7)
    chunked = load_kuairand(data_dir=data_dir, tasks=ALL_TASKS)
    for name in ("train", "validation", "test"):
        for feature, values in whole.split(name).features.items():
            np.testing.assert_array_equal(chunked.split(name).features[feature], values)
        for task, values in whole.split(name).labels.items():
            np.testing.assert_array_equal(chunked.split(name).labels[task], values)
    rows[60]["is_forward"] = "yes"
    data_dir = _official_copy(tmp_path, rows)
    with pytest.raises(DataError, match=r"line 62: column 'is_forward' expects an integer"):
        load_kuairand(data_dir=data_dir)
