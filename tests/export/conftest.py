import keras
import pytest

from zoo import models


def small_mmoe(dataset, preprocessor):
    """An untrained, built MMoE: exports in about a second, enough for export mechanics."""
    keras.utils.set_random_seed(3)
    model = models.MMoE(
        tasks=dataset.tasks, preprocessor=preprocessor, num_experts=2, expert_units=[4]
    )
    model({k: v[:2] for k, v in dataset.train.features.items()})
    return model


@pytest.fixture(scope="module")
def small_model(synthetic_dataset, synthetic_preprocessor):
    return small_mmoe(synthetic_dataset, synthetic_preprocessor)
