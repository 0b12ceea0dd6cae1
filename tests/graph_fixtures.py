"""A small (user, item) dataset with user and item side features, for the graph tests."""

import numpy as np

from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.features.spec import CategoricalFeature
from zoo.tasks import Task

AGES = np.array(["young", "middle", "old"])
GENRES = np.array(["drama", "comedy", "horror", "action"])


def pair_dataset(num_users=30, num_items=40, rows=900, seed=0):
    """Rows of (user, item) with labels `click` and `buy` that follow user and item taste.

    Each user has an age and each item a genre (constant per node, as graph
    node features must be); user ids are 100..., item ids 500..., so that
    raw ids and the preprocessor's indices differ. Labels come from a
    latent dot product, so the graphs carry signal.
    """
    rng = np.random.default_rng(seed)
    user_taste = rng.normal(size=(num_users, 4))
    item_taste = rng.normal(size=(num_items, 4))
    user_age = AGES[rng.integers(0, len(AGES), num_users)]
    item_genre = GENRES[rng.integers(0, len(GENRES), num_items)]

    def split(count, offset):
        users = rng.integers(0, num_users, count)
        items = rng.integers(0, num_items, count)
        score = (user_taste[users] * item_taste[items]).sum(axis=1)
        click = (score + rng.normal(scale=0.5, size=count) > 0.5).astype("float32")
        buy = (click * (score > 1.5)).astype("float32")
        return Split(
            features={
                "user_id": (users + 100).astype("int64"),
                "item_id": (items + 500).astype("int64"),
                "age": user_age[users].astype(object),
                "genre": item_genre[items].astype(object),
            },
            labels={"click": click, "buy": buy},
        )

    return TabularDataset(
        name="pairs",
        features=[
            CategoricalFeature("user_id", dtype="int64", embedding_dim=4),
            CategoricalFeature("item_id", dtype="int64", embedding_dim=4),
            CategoricalFeature("age", dtype="string", embedding_dim=3),
            CategoricalFeature("genre", dtype="string", embedding_dim=3),
        ],
        tasks=[Task("click"), Task("buy")],
        train=split(rows, 0),
        validation=split(rows // 4, 1),
        test=split(rows // 4, 2),
        settings={"user_features": ["user_id", "age"], "item_features": ["item_id", "genre"]},
        user_feature="user_id",
    )
