import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from zoo.data.base.tabular_dataset import Split, TabularDataset  # noqa: E402
from zoo.features.spec import CategoricalFeature, NumericFeature  # noqa: E402
from zoo.tasks import Task  # noqa: E402


def make_synthetic_dataset(num_rows=600, seed=0):
    """A small dataset whose labels depend on the features, with every feature kind."""
    rng = np.random.default_rng(seed)

    def split(n):
        city = rng.choice(["paris", "lyon", "nice", "lille"], n).astype(object)
        device = rng.integers(0, 5, n).astype("int64")
        query = rng.choice([f"q{i}" for i in range(50)], n).astype(object)
        age = rng.normal(40, 12, n).astype("float32")
        score = rng.random(n).astype("float32")
        click_logit = (city == "paris") * 1.5 + (age - 40) / 12 + score - 0.5
        like_logit = (device >= 3) * 1.0 - (age - 40) / 12 + score
        return Split(
            features={"city": city, "device": device, "query": query, "age": age, "score": score},
            labels={
                "click": (rng.random(n) < 1 / (1 + np.exp(-click_logit))).astype("float32"),
                "like": (rng.random(n) < 1 / (1 + np.exp(-like_logit))).astype("float32"),
            },
        )

    return TabularDataset(
        name="synthetic",
        features=[
            CategoricalFeature("city", embedding_dim=4),
            CategoricalFeature("device", dtype="int64", embedding_dim=3),
            CategoricalFeature("query", num_hash_bins=16, embedding_dim=4),
            NumericFeature("age"),
            NumericFeature("score"),
        ],
        tasks=[Task("click"), Task("like")],
        train=split(num_rows),
        validation=split(num_rows // 3),
        test=split(num_rows // 3),
        settings={"dataset": "synthetic"},
    )


@pytest.fixture(scope="session")
def synthetic_dataset():
    return make_synthetic_dataset()


@pytest.fixture(scope="session")
def synthetic_preprocessor(synthetic_dataset):
    return synthetic_dataset.make_preprocessor()


@pytest.fixture(scope="session")
def pair_data():
    """A small (user, item) dataset with side features (`tests.graph_fixtures`)."""
    from tests.graph_fixtures import pair_dataset

    return pair_dataset()


@pytest.fixture(scope="session")
def pair_preprocessor(pair_data):
    return pair_data.make_preprocessor()
