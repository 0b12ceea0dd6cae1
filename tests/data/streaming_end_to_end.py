"""One short MMoE fit and evaluation on a streamed dataset, shared by the loaders' tests."""

import numpy as np

import zoo.models
from zoo.training.trainer import TrainingConfig, evaluate, fit


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
