"""The MMoE paper's synthetic regression tasks with a controlled correlation.

Section 4 of Ma et al. (KDD 2018): inputs x ~ N(0, I_d); two orthogonal unit
vectors u1, u2; task weights w1 = c u1 and w2 = c (p u1 + sqrt(1 - p^2) u2);
labels

    y_k = w_k^T x + sum_{i=1..m} sin(alpha_i w_k^T x + beta_i) + noise,

with the same alpha_i, beta_i ~ N(0, 1) for both tasks and noise
N(0, noise_std^2). The cosine similarity of w1 and w2 is exactly p; the
labels' Pearson correlation is lower because of the sine terms, so both are
reported. Defaults follow the public re-implementation drawbridge/keras-mmoe
(d = 100, c = 0.3, m = 5, noise 0.1).
"""

import numpy as np

from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.features.spec import NumericFeature
from zoo.tasks import Task

NAME = "synthetic"
TASKS = ("task_1", "task_2")


def make_task_weights(input_dim, correlation, scale, rng):
    """w1, w2 with cosine similarity `correlation` and norm `scale`."""
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"Expected -1 <= correlation <= 1. Received: correlation={correlation}")
    if input_dim < 2:
        raise ValueError(f"Expected input_dim >= 2. Received: input_dim={input_dim}")
    # Two orthonormal vectors from the QR decomposition of a random matrix.
    q, _ = np.linalg.qr(rng.normal(size=(input_dim, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    return w1, w2


def generate(
    num_rows,
    correlation,
    input_dim=100,
    num_sinusoids=5,
    scale=0.3,
    noise_std=0.1,
    seed=0,
):
    """Inputs `(num_rows, input_dim)` and the two tasks' labels, as float32 arrays.

    The same arguments give the same arrays (everything is drawn from one
    `numpy.random.default_rng(seed)`).

    Returns:
        `(x, y1, y2)`.
    """
    if num_rows < 1:
        raise ValueError(f"Expected num_rows >= 1. Received: num_rows={num_rows}")
    if num_sinusoids < 0:
        raise ValueError(f"Expected num_sinusoids >= 0. Received: num_sinusoids={num_sinusoids}")
    rng = np.random.default_rng(seed)
    w1, w2 = make_task_weights(input_dim, correlation, scale, rng)
    alpha = rng.normal(size=num_sinusoids)
    beta = rng.normal(size=num_sinusoids)
    x = rng.normal(size=(num_rows, input_dim))

    def labels(w):
        z = x @ w  # (rows,)
        waves = np.sin(np.outer(z, alpha) + beta).sum(axis=1)  # (rows,)
        return z + waves + rng.normal(scale=noise_std, size=num_rows)

    y1, y2 = labels(w1), labels(w2)
    return x.astype("float32"), y1.astype("float32"), y2.astype("float32")


def load_synthetic(
    correlation=0.5,
    num_rows=12000,
    input_dim=100,
    num_sinusoids=5,
    scale=0.3,
    noise_std=0.1,
    seed=0,
):
    """The synthetic tasks as a `TabularDataset`: 10,000 training rows, then 1,000 each
    for validation and test by default (`num_rows` in all, split 10:1:1).

    Args:
        correlation: p, the cosine similarity of the two tasks' weight vectors.
        num_rows: rows in all.
        input_dim: d, the number of input features (`x_0` ... `x_{d-1}`).
        num_sinusoids: m, the number of sine terms.
        scale: c, the norm of the task weights.
        noise_std: standard deviation of the label noise.
        seed: seed of everything drawn.

    Returns:
        A `TabularDataset` named `"synthetic"` with two regression tasks;
        `settings` holds the arguments and the labels' Pearson correlation.
    """
    x, y1, y2 = generate(num_rows, correlation, input_dim, num_sinusoids, scale, noise_std, seed)
    if num_rows < 12:
        raise ValueError(f"Expected num_rows >= 12 for a 10:1:1 split. Received: {num_rows}")
    num_train = num_rows * 10 // 12
    num_validation = (num_rows - num_train) // 2
    bounds = [(0, num_train), (num_train, num_train + num_validation)]
    bounds.append((num_train + num_validation, num_rows))
    names = [f"x_{i}" for i in range(input_dim)]

    def split(start, stop):
        return Split(
            features={name: x[start:stop, i] for i, name in enumerate(names)},
            labels={TASKS[0]: y1[start:stop], TASKS[1]: y2[start:stop]},
        )

    train, validation, test = (split(a, b) for a, b in bounds)
    label_correlation = float(np.corrcoef(y1, y2)[0, 1])
    return TabularDataset(
        name=NAME,
        features=[NumericFeature(name) for name in names],
        tasks=[Task(name, type="regression") for name in TASKS],
        train=train,
        validation=validation,
        test=test,
        settings={
            "dataset": NAME,
            "correlation": correlation,
            "label_pearson_correlation": label_correlation,
            "num_rows": num_rows,
            "input_dim": input_dim,
            "num_sinusoids": num_sinusoids,
            "scale": scale,
            "noise_std": noise_std,
            "seed": seed,
        },
        summary=(
            f"task correlation p = {correlation}; the labels' Pearson correlation is "
            f"{label_correlation:.3f} (the sine terms and the noise lower it)"
        ),
    )
