"""What the loaders' streaming tests share: the same data as in memory, and a short fit."""

import numpy as np

import zoo.models
from zoo.data.base.streaming_dataset import StreamingDataset
from zoo.training.trainer import TrainingConfig, evaluate, fit

SPLITS = ("train", "validation", "test")


def assert_streams_as_loaded(in_memory, streamed, batch_size=64):
    """Same vocabularies, statistics, rows, labels, masks and users, split by split, in order.

    Numbers are compared to float32 precision: the normalization statistics
    are float64 sums taken in another order (differences near 1e-15).
    """
    assert isinstance(streamed, StreamingDataset)
    assert streamed.features == in_memory.features
    assert streamed.tasks == in_memory.tasks
    assert streamed.has_label_masks == in_memory.has_label_masks
    memory_preprocessor = in_memory.make_preprocessor()
    stream_preprocessor = streamed.make_preprocessor()
    assert stream_preprocessor.vocabularies == memory_preprocessor.vocabularies
    assert stream_preprocessor.statistics.keys() == memory_preprocessor.statistics.keys()
    for name, moments in memory_preprocessor.statistics.items():
        np.testing.assert_allclose(stream_preprocessor.statistics[name], moments, rtol=1e-12)
    for split in SPLITS:
        assert streamed.num_rows(split) == in_memory.num_rows(split), split
        labels, present, users = in_memory.label_arrays(split)
        stream_labels, stream_present, stream_users = streamed.label_arrays(split)
        if users is None:
            assert stream_users is None
        else:
            np.testing.assert_array_equal(stream_users, users)
        for task in labels:
            np.testing.assert_array_equal(stream_present[task], present[task])
            np.testing.assert_array_equal(
                stream_labels[task], np.where(present[task], labels[task], 0.0)
            )
        memory_batches = in_memory.tf_dataset(split, memory_preprocessor, batch_size)
        stream_batches = streamed.tf_dataset(split, stream_preprocessor, batch_size)
        assert stream_batches.cardinality() == memory_batches.cardinality()
        for expected, found in zip(memory_batches, stream_batches, strict=True):
            assert len(found) == len(expected)
            for part, found_part in zip(expected, found):
                assert found_part.keys() == part.keys()
                for name, values in part.items():
                    if values.dtype.is_floating:
                        np.testing.assert_allclose(
                            found_part[name], values, rtol=1e-6, atol=1e-6, err_msg=name
                        )
                    else:
                        np.testing.assert_array_equal(found_part[name], values, err_msg=name)
        head = streamed.head(split, 3)
        for name, values in in_memory.head(split, 3).items():
            np.testing.assert_array_equal(head[name], values, err_msg=name)


def check_mmoe_trains_and_evaluates(dataset, num_test_rows):
    model = zoo.models.MMoE(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        num_experts=2,
        expert_units=(8,),
        tower_units=(8,),
    )
    config = TrainingConfig(
        epochs=1, batch_size=32, jit_compile=False, early_stopping_patience=None, verbose=0
    )
    result = fit(model, dataset, config)
    tasks = [t.name for t in dataset.tasks]
    assert all(f"val_{task}_loss" in result.history for task in tasks)
    metrics = evaluate(model, dataset, "test")
    assert set(metrics) == {*tasks, "total_loss", "num_rows"}
    assert metrics["num_rows"] == num_test_rows
    for task in tasks:
        assert 0.0 <= metrics[task]["auc"] <= 1.0 and np.isfinite(metrics[task]["loss"])
