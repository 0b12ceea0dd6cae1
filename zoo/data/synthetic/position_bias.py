"""Semi-synthetic position bias on Census-Income: real relevance, simulated clicks.

Real relevance labels (Census-Income `income`: income > 50K) are placed in
ranked lists and clicked through the position-based examination model
(Joachims et al. 2017; Craswell et al. 2008):

    click = relevant AND examined,  P(examined at position p) = (1 / p) ** eta.

How the lists are ranked matters. Were positions random, every model trained
on clicks would still rank by relevance (P(click | x) = P(relevant | x) times
a constant). A production ranker places what it believes relevant first, and
its beliefs are imperfect: here a logistic regression on the seven numeric
columns only, fit on 1% of the training rows (plus Gaussian noise of
`logging_noise` on its logit). Rows it overrates get examined more, so a model
fit on raw clicks learns the logging ranker's preferences along with
relevance, the more so the larger eta. eta = 0 examines everything: clicks are
the relevance labels, the unbiased reference.

Splits: training and validation rows are cut into lists of `list_size` by a
seeded permutation and carry the position they were shown at and the
simulated click. Test rows carry the true relevance as `click` (what the
benchmark scores against) and position 1 (the slot a row is scored for when
a model takes position as an ordinary feature).
"""

import numpy as np

from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.sources.census_income import load_census_income
from zoo.features.spec import CategoricalFeature
from zoo.tasks import Task

NAME = "census-position-bias"
RELEVANCE = "income"
LOGGING_FEATURES = (
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "stock_dividends",
    "num_emp",
    "weeks_worked",
)


def examination_probability(positions, eta):
    """P(examined) = (1 / p) ** eta for 1-based positions."""
    return np.power(1.0 / np.asarray(positions, "float64"), eta)


def fit_logging_ranker(features, relevance, rng, sample_fraction=0.01, steps=500):
    """Weights of a logistic regression on LOGGING_FEATURES, fit on a sample of rows.

    Plain gradient descent on standardized columns; this is a deliberately
    weak stand-in for a production ranker, so it need not be a library's.

    Returns:
        A function from a features dict to logging logits.
    """
    rows = rng.choice(len(relevance), max(200, int(sample_fraction * len(relevance))), False)
    columns = np.stack([np.asarray(features[n], "float64") for n in LOGGING_FEATURES], axis=1)
    mean, std = columns[rows].mean(axis=0), columns[rows].std(axis=0) + 1e-9
    x, y = (columns[rows] - mean) / std, np.asarray(relevance, "float64")[rows]
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        w -= 0.5 * x.T @ (p - y) / len(y)
        b -= 0.5 * float(np.mean(p - y))

    def score(feature_dict):
        cols = np.stack([np.asarray(feature_dict[n], "float64") for n in LOGGING_FEATURES], 1)
        return ((cols - mean) / std) @ w + b

    return score


def simulate_clicks(relevance, logging_scores, list_size, eta, rng):
    """Positions (1-based) and observed clicks of rows shown in ranked lists.

    Rows are cut into lists of `list_size` in a random order; within a
    list, the higher a row's logging score, the better its position.
    """
    num_rows = len(relevance)
    order = rng.permutation(num_rows)
    positions = np.empty(num_rows, "int64")
    for start in range(0, num_rows, list_size):
        members = order[start : start + list_size]
        ranked = members[np.argsort(-logging_scores[members], kind="stable")]
        positions[ranked] = np.arange(1, len(ranked) + 1)
    examined = rng.random(num_rows) < examination_probability(positions, eta)
    clicks = (np.asarray(relevance) > 0.5) & examined
    return positions, clicks.astype("float32")


def load_census_position_bias(
    data_dir=None,
    eta=1.0,
    list_size=10,
    logging_noise=0.5,
    include_position=True,
    seed=1,
    embedding_dim=4,
):
    """Census-Income with simulated positions and clicks, as a `TabularDataset`.

    Args:
        data_dir: Census-Income folder (default: the shipped copy).
        eta: severity of position bias, >= 0; 0 means no bias.
        list_size: results per ranked list (positions 1..list_size).
        logging_noise: standard deviation of the noise added to the logging
            ranker's logit (0: it ranks by its logistic regression alone).
        include_position: whether `position` is a feature (a model that
            ignores position entirely is trained with `False`).
        seed: seed of the logging ranker's sample, the lists and the clicks.
        embedding_dim: embedding width of every categorical feature.

    Returns:
        A `TabularDataset` with one binary task `click`.
    """
    if eta < 0:
        raise ValueError(f"Expected eta >= 0. Received: eta={eta}")
    if list_size < 1:
        raise ValueError(f"Expected list_size >= 1. Received: list_size={list_size}")
    census = load_census_income(
        data_dir, task_group=1, protocol="all-features", embedding_dim=embedding_dim
    )
    rng = np.random.default_rng(seed)
    logging_ranker = fit_logging_ranker(census.train.features, census.train.labels[RELEVANCE], rng)
    features = list(census.features)
    if include_position:
        features.append(CategoricalFeature("position", dtype="int64", embedding_dim=4))

    def observed(split):
        scores = logging_ranker(split.features)
        scores = scores + rng.normal(0.0, logging_noise, len(scores))
        return simulate_clicks(split.labels[RELEVANCE], scores, list_size, eta, rng)

    def build(split, positions, clicks):
        data = {f.name: split.features[f.name] for f in census.features}
        if include_position:
            data["position"] = positions
        return Split(features=data, labels={"click": clicks})

    train_positions, train_clicks = observed(census.train)
    validation_positions, validation_clicks = observed(census.validation)
    test = census.test
    test_positions = np.ones(len(test), "int64")
    relevant = float(np.mean(census.train.labels[RELEVANCE]))
    return TabularDataset(
        name=NAME,
        features=features,
        tasks=[Task("click")],
        train=build(census.train, train_positions, train_clicks),
        validation=build(census.validation, validation_positions, validation_clicks),
        test=build(test, test_positions, np.asarray(test.labels[RELEVANCE], "float32")),
        settings={
            "dataset": NAME,
            "data_dir": census.settings["data_dir"],
            "relevance": RELEVANCE,
            "eta": eta,
            "list_size": list_size,
            "logging_noise": logging_noise,
            "include_position": include_position,
            "seed": seed,
            "embedding_dim": embedding_dim,
        },
        summary=(
            f"eta = {eta}: {float(train_clicks.mean()):.2%} of training rows clicked, "
            f"{relevant:.2%} relevant; test labels are the true relevance"
        ),
    )
