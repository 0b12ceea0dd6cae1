"""A synthetic impression -> click -> conversion funnel with a known conversion rate.

Every impression has a user segment, an item (one of `num_items`) and
`num_numeric` numeric features. Each item has a hidden quality that raises
both its click rate and its conversion rate; the numeric features act on
both rates as well, one of them ("clickbait", `x_0`) raising clicks and
lowering conversions:

    ctr(x) = sigmoid(-2.5 + 0.8 q_item + 1.0 x_0 + 0.5 x_1 + 0.3 [segment])
    cvr(x) = sigmoid(-1.0 + 1.0 q_item - 1.0 x_0 + 0.8 x_2 + 0.4 x_1 x_2)

click ~ Bernoulli(ctr); a conversion is only observed after a click:
purchase = click AND Bernoulli(cvr). This is the setting of the ESMM paper:
a CVR model trained on clicked impressions only sees a small sample skewed
towards clickbait, yet serves every impression. Because `cvr(x)` is known,
we can measure how close each model's pCVR is to the truth on all
impressions, not only on the clicked ones.
"""

import numpy as np

from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.tasks import Task

NAME = "synthetic-funnel"
SEGMENTS = ("new", "casual", "loyal")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def generate_funnel(num_rows, num_items=500, num_numeric=4, seed=0):
    """Raw features, labels and the true rates of `num_rows` impressions.

    Returns:
        Dict with `features` (dict of arrays), `click`, `purchase` (float32
        0/1), and the ground truth `true_ctr`, `true_cvr` and
        `counterfactual_conversion` (a conversion drawn from `true_cvr` for
        every impression, clicked or not).
    """
    if num_numeric < 3:
        raise ValueError(f"Expected num_numeric >= 3. Received: num_numeric={num_numeric}")
    rng = np.random.default_rng(seed)
    quality = rng.normal(0.0, 1.0, num_items)  # the same items for every split: drawn first
    items = rng.integers(0, num_items, num_rows)
    segment = rng.integers(0, len(SEGMENTS), num_rows)
    x = rng.normal(0.0, 1.0, (num_rows, num_numeric)).astype("float32")
    q = quality[items]
    true_ctr = _sigmoid(-2.5 + 0.8 * q + 1.0 * x[:, 0] + 0.5 * x[:, 1] + 0.3 * segment)
    true_cvr = _sigmoid(-1.0 + 1.0 * q - 1.0 * x[:, 0] + 0.8 * x[:, 2] + 0.4 * x[:, 1] * x[:, 2])
    click = rng.random(num_rows) < true_ctr
    counterfactual = rng.random(num_rows) < true_cvr
    features = {
        "item": items.astype("int64"),
        "segment": np.asarray(SEGMENTS, dtype=object)[segment],
    }
    features.update({f"x_{i}": x[:, i] for i in range(num_numeric)})
    return {
        "features": features,
        "click": click.astype("float32"),
        "purchase": (click & counterfactual).astype("float32"),
        "true_ctr": true_ctr,
        "true_cvr": true_cvr,
        "counterfactual_conversion": counterfactual.astype("float32"),
    }


def load_synthetic_funnel(num_rows=120000, num_items=500, num_numeric=4, seed=0, embedding_dim=8):
    """The funnel as a `TabularDataset` with tasks `click` and `purchase` (click and convert).

    Rows are split 10:1:1 into train, validation and test. The ground
    truth of the test rows is in `generate_funnel(...)` with the same
    arguments (rows `num_rows * 11 // 12` onwards).
    """
    data = generate_funnel(num_rows, num_items, num_numeric, seed)
    num_train = num_rows * 10 // 12
    num_validation = num_rows // 12
    bounds = {
        "train": (0, num_train),
        "validation": (num_train, num_train + num_validation),
        "test": (num_train + num_validation, num_rows),
    }

    def split(start, stop):
        return Split(
            features={k: v[start:stop] for k, v in data["features"].items()},
            labels={"click": data["click"][start:stop], "purchase": data["purchase"][start:stop]},
        )

    features = [
        CategoricalFeature("item", dtype="int64", embedding_dim=embedding_dim),
        CategoricalFeature("segment", embedding_dim=embedding_dim),
    ] + [NumericFeature(f"x_{i}") for i in range(num_numeric)]
    train = split(*bounds["train"])
    return TabularDataset(
        name=NAME,
        features=features,
        tasks=[Task("click"), Task("purchase")],
        train=train,
        validation=split(*bounds["validation"]),
        test=split(*bounds["test"]),
        settings={
            "dataset": NAME,
            "num_rows": num_rows,
            "num_items": num_items,
            "num_numeric": num_numeric,
            "seed": seed,
            "embedding_dim": embedding_dim,
            "test_rows": list(bounds["test"]),
        },
        summary=(
            f"CTR {train.labels['click'].mean():.2%}, CTCVR {train.labels['purchase'].mean():.2%}"
            f" of training impressions; true mean CVR {data['true_cvr'].mean():.2%}"
        ),
    )
