"""Label masks: a missing label is said explicitly, checked, and becomes a 0 sample weight."""

import dataclasses

import numpy as np
import pytest

from zoo.data.base.errors import DataError
from zoo.data.base.tabular_dataset import Split


def _split(labels, masks=None):
    n = len(next(iter(labels.values())))
    return Split(features={"x": np.zeros(n, "float32")}, labels=labels, label_masks=masks or {})


def test_nan_label_without_a_mask_is_an_error_not_a_negative():
    with pytest.raises(DataError, match=r"label 'like' is nan at row 1 \(1 rows"):
        _split({"like": np.array([1.0, np.nan, 0.0])})


def test_masked_rows_may_hold_nan_but_present_rows_may_not():
    labels = {"like": np.array([1.0, np.nan, 0.0])}
    split = _split(labels, {"like": np.array([True, False, True])})
    np.testing.assert_array_equal(split.label_present("like"), [True, False, True])
    with pytest.raises(DataError, match="row 1"):
        _split(labels, {"like": np.array([True, True, False])})


def test_bad_masks_are_named():
    with pytest.raises(DataError, match="expected a bool array of shape \\(3,\\)"):
        _split({"like": np.zeros(3)}, {"like": np.array([1, 0, 1])})
    with pytest.raises(DataError, match="'buy', which has no labels"):
        _split({"like": np.zeros(3)}, {"buy": np.ones(3, bool)})


def test_tf_dataset_yields_zero_weights_and_finite_labels_where_missing(
    synthetic_dataset, synthetic_preprocessor
):
    assert len(next(iter(synthetic_dataset.tf_dataset("test", synthetic_preprocessor, 8)))) == 2
    test = synthetic_dataset.test
    present = np.arange(len(test)) % 3 != 0
    masked_test = dataclasses.replace(
        test,
        labels={**test.labels, "like": np.where(present, test.labels["like"], np.nan)},
        label_masks={"like": present},
    )
    dataset = dataclasses.replace(synthetic_dataset, test=masked_test)
    assert dataset.has_label_masks
    features, labels, weights = next(iter(dataset.tf_dataset("test", synthetic_preprocessor, 9)))
    np.testing.assert_array_equal(weights["like"].numpy(), present[:9].astype("float32"))
    np.testing.assert_array_equal(weights["click"].numpy(), np.ones(9, "float32"))
    assert np.isfinite(labels["like"].numpy()).all()
    assert labels["like"].numpy()[0, 0] == 0.0  # row 0 is missing: the placeholder, weight 0


def test_labels_a_task_cannot_learn_from_are_named(synthetic_dataset):
    from zoo.tasks import Task

    test = synthetic_dataset.test
    twos = dataclasses.replace(test, labels={**test.labels, "click": test.labels["click"] * 2})
    with pytest.raises(DataError, match="test split, task 'click': expected 0 or 1, found 2.0"):
        dataclasses.replace(synthetic_dataset, test=twos)
    with pytest.raises(DataError, match="train split has no labels for task 'buy'"):
        dataclasses.replace(synthetic_dataset, tasks=[*synthetic_dataset.tasks, Task("buy")])
    genre = dataclasses.replace(
        synthetic_dataset,
        tasks=[Task("click"), Task("like", "multiclass", num_classes=2)],
    )
    assert genre.tasks[1].num_classes == 2  # 0/1 labels are valid class ids
    doubled = dataclasses.replace(test, labels={**test.labels, "like": test.labels["like"] * 2})
    with pytest.raises(DataError, match=r"task 'like': expected a class id in 0\.\.1, found 2\.0"):
        dataclasses.replace(genre, test=doubled)
