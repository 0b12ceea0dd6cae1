import numpy as np
import pytest

from zoo.cli.main import main
from zoo.data import load_dataset, load_synthetic
from zoo.data.synthetic.synthetic import generate, make_task_weights


@pytest.mark.parametrize("p", [1.0, 0.9, 0.5, 0.0])
def test_task_weights_have_the_requested_cosine_and_norm(p):
    w1, w2 = make_task_weights(100, p, 0.3, np.random.default_rng(1))
    cosine = w1 @ w2 / (np.linalg.norm(w1) * np.linalg.norm(w2))
    assert cosine == pytest.approx(p, abs=1e-9)
    assert np.linalg.norm(w1) == pytest.approx(0.3) and np.linalg.norm(w2) == pytest.approx(0.3)


def test_same_seed_same_data_other_seed_other_data():
    a, b = generate(200, 0.5, seed=4), generate(200, 0.5, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[1], generate(200, 0.5, seed=5)[1])


def test_label_correlation_is_reported_and_below_p():
    # Without noise, p = 1 gives identical tasks.
    _, y1, y2 = generate(3000, 1.0, noise_std=0.0, seed=3)
    assert np.corrcoef(y1, y2)[0, 1] == pytest.approx(1.0)
    dataset = load_synthetic(correlation=0.9, seed=3)
    measured = dataset.settings["label_pearson_correlation"]
    assert 0 < measured < 0.9
    assert f"{measured:.3f}" in dataset.summary and "p = 0.9" in dataset.summary


def test_dataset_shape_and_tasks():
    dataset = load_dataset("synthetic", correlation=0.5, num_rows=1200, input_dim=8)
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (1000, 100, 100)
    assert [t.type for t in dataset.tasks] == ["regression", "regression"]
    assert sorted(dataset.train.features) == sorted(f"x_{i}" for i in range(8))


def test_bad_arguments_and_flags():
    with pytest.raises(ValueError, match="correlation"):
        load_synthetic(correlation=1.5)
    with pytest.raises(ValueError, match="input_dim"):
        generate(10, 0.5, input_dim=1)
    with pytest.raises(SystemExit, match="--protocol does not apply to dataset 'synthetic'"):
        main(["train", "--dataset", "synthetic", "--protocol", "paper"])
    with pytest.raises(SystemExit, match="--correlation does not apply to dataset 'census-income'"):
        main(["train", "--correlation", "0.5"])
