"""Histories, multi-hot and crossed features in the zoo's models, from raw rows to TF Serving.

The data carries a signal only the history holds: task `seen` is 1 when the
candidate item is among the user's past items. A model without the history
cannot beat chance on it; a model with it must.
"""

import keras
import numpy as np
import pytest

from tests.fresh_process import serve_in_fresh_process
from tests.models.models_test import MODEL_KWARGS
from zoo import models
from zoo.export import call_serving_function, export_saved_model, make_serving_function
from zoo.export.warmup import read_warmup_requests
from zoo.features import (
    CategoricalFeature,
    CrossedFeature,
    FeaturePreprocessor,
    MultiHotFeature,
    NumericFeature,
    SequenceFeature,
)
from zoo.metrics.ranking import roc_auc

NUM_ITEMS = 60
HISTORY = 8


def _rows(num_rows, seed):
    rng = np.random.default_rng(seed)
    history = np.stack([rng.permutation(NUM_ITEMS)[:HISTORY] for _ in range(num_rows)])
    lengths = rng.integers(1, HISTORY + 1, num_rows)
    history = np.where(np.arange(HISTORY) < lengths[:, None], history, -1)
    seen = rng.random(num_rows) < 0.5
    position = (rng.random(num_rows) * lengths).astype(int)
    candidate = np.where(
        seen, history[np.arange(num_rows), position], rng.integers(0, NUM_ITEMS, num_rows)
    )
    seen = (history == candidate[:, None]).any(axis=1)
    city = rng.choice(["north", "south", "east"], num_rows)
    tags = rng.choice(["a", "b", "c", ""], (num_rows, 3))
    features = {
        "item": candidate.astype("int64"),
        "city": city,
        "age": rng.normal(size=num_rows).astype("float32"),
        "history": history.astype("int64"),
        "tags": tags,
    }
    labels = {
        "seen": seen.astype("float32"),
        "north": ((city == "north") ^ (rng.random(num_rows) < 0.1)).astype("float32"),
    }
    return features, labels


TRAIN = _rows(4000, seed=0)
TEST = _rows(1000, seed=1)


def _preprocessor(pooling="attention", with_history=True):
    spec = [
        CategoricalFeature("item", dtype="int64", embedding_dim=8),
        CategoricalFeature("city", embedding_dim=8),
        NumericFeature("age"),
        MultiHotFeature("tags", max_len=3, embedding_dim=8),
        CrossedFeature("city_x_item", ["city", "item"], num_bins=64, embedding_dim=8),
    ]
    if with_history:
        spec.append(
            SequenceFeature("history", max_len=6, pooling=pooling, shares_table_with="item")
        )
    features = TRAIN[0] if with_history else {k: v for k, v in TRAIN[0].items() if k != "history"}
    return FeaturePreprocessor(spec).adapt(features)


def _mmoe(preprocessor):
    keras.utils.set_random_seed(7)
    model = models.MMoE(
        tasks=["seen", "north"], preprocessor=preprocessor, num_experts=2, expert_units=[16],
        tower_units=[8],
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True)
    return model


@pytest.fixture(scope="module")
def din_model():
    model = _mmoe(_preprocessor("attention"))
    model.fit(*TRAIN, epochs=6, batch_size=128, verbose=0)
    return model


def _test_auc(model, features=None):
    features = TEST[0] if features is None else features
    return roc_auc(TEST[1]["seen"], model.predict(features, batch_size=512, verbose=0)["seen"])


def test_the_history_carries_the_signal_only_it_has(din_model):
    blind = _mmoe(_preprocessor(with_history=False))
    blind.fit({k: v for k, v in TRAIN[0].items() if k != "history"}, TRAIN[1], epochs=6,
              batch_size=128, verbose=0)  # fmt: skip
    blind_auc = _test_auc(blind, {k: v for k, v in TEST[0].items() if k != "history"})
    din_auc = _test_auc(din_model)
    assert blind_auc < 0.6, blind_auc
    assert din_auc > 0.75 and din_auc > blind_auc + 0.2, (din_auc, blind_auc)


def test_din_weighs_the_candidates_own_past_item_most(din_model):
    features = {k: v[:300] for k, v in TEST[0].items()}
    weights = np.asarray(din_model.attention_weights(features)["history"])
    assert weights.shape == (300, 6)
    history = features["history"][:, :6]  # what max_len=6 keeps
    np.testing.assert_array_equal(weights[history < 0], 0.0)
    match = history == features["item"][:, None]
    rows = match.any(axis=1)
    top = np.argmax(np.where(history >= 0, weights, -np.inf), axis=1)
    share = match[np.flatnonzero(rows), top[rows]].mean()
    # Chance: the top weight on a random one of the row's past items.
    chance = np.mean(1.0 / (history[rows] >= 0).sum(axis=1))
    assert share > chance + 0.2, (share, chance)


def test_rows_take_ragged_lists_and_padded_arrays_alike(din_model):
    padded = {k: v[:5] for k, v in TEST[0].items()}
    as_lists = dict(padded)
    as_lists["history"] = [[i for i in row if i >= 0] for row in padded["history"]]
    as_lists["tags"] = [[t for t in row if t] for row in padded["tags"]]
    a = din_model.predict(padded, verbose=0)
    b = din_model.predict(as_lists, verbose=0)
    for task in a:
        np.testing.assert_allclose(a[task], b[task], rtol=1e-6)


MODEL_CLASSES = [*MODEL_KWARGS, models.MMoEDLEN, models.PLEDLEN]
EXTRA_KWARGS = {
    models.MMoEDLEN: {"num_experts": 2, "expert_units": [8], "alpha": 0.3},
    models.PLEDLEN: {"num_levels": 1, "num_task_experts": 1, "num_shared_experts": 1,
                     "expert_units": [8], "alpha": 0.3},
}  # fmt: skip


@pytest.mark.parametrize("model_cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_every_model_takes_list_features_by_the_spec_alone(model_cls, tmp_path):
    pooling = "transformer" if model_cls is models.PLE else "mean"
    preprocessor = _preprocessor(pooling)
    kwargs = {**MODEL_KWARGS.get(model_cls, {}), **EXTRA_KWARGS.get(model_cls, {})}
    if model_cls is models.AutoMTL:
        kwargs["architecture"] = {
            **kwargs["architecture"],
            "task_experts": {"seen": [0, 1], "north": [1, 2]},
        }
    keras.utils.set_random_seed(3)
    model = model_cls(tasks=["seen", "north"], preprocessor=preprocessor, tower_units=[4], **kwargs)
    # A few steps without XLA: what is checked is that every model takes the
    # features; XLA with them is the DIN model's (_mmoe).
    model.compile(jit_compile=False)
    train = ({k: v[:512] for k, v in TRAIN[0].items()}, {k: v[:512] for k, v in TRAIN[1].items()})
    history = model.fit(*train, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    features = {k: v[:7] for k, v in TEST[0].items()}
    predictions = model.predict(features, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path).predict(features, verbose=0)
    for task in ("seen", "north"):
        assert np.isfinite(predictions[task]).all()
        np.testing.assert_allclose(predictions[task], again[task], rtol=1e-5, atol=1e-7)


def test_export_serves_lists_in_a_fresh_process(din_model, tmp_path):
    rows = {k: v[:4] for k, v in TEST[0].items()}
    path = export_saved_model(din_model, str(tmp_path / "serving"), "din", warmup_rows=rows)
    (request,) = read_warmup_requests(path)
    assert [d.size for d in request.inputs["history"].tensor_shape.dim] == [4, HISTORY]

    longer = dict(rows)  # 12 ids: more than max_len=6, the newest six count
    longer["history"] = np.concatenate([rows["history"], rows["history"][:, :4]], axis=1)
    empty = dict(rows)  # no history at all: a (batch, 0) tensor
    empty["history"] = np.zeros((4, 0), "int64")
    unseen = dict(rows)  # ids and tags never seen in training go to the OOV row
    unseen["history"] = np.full((4, 3), 10_000, "int64")
    unseen["tags"] = np.array([["zz", ""]] * 4)
    batches = {"rows": rows, "longer": longer, "empty": empty, "unseen": unseen}
    served = serve_in_fresh_process(path, batches, tmp_path)
    assert served.pop("zoo_imported") is False
    for name, raw in batches.items():
        expected = din_model.predict(raw, verbose=0)
        for task in ("seen", "north"):
            np.testing.assert_allclose(
                served[name][task], expected[task][:, 0], rtol=1e-5, atol=1e-6, err_msg=name
            )
    np.testing.assert_allclose(served["longer"]["seen"], served["rows"]["seen"], rtol=1e-6)


def test_the_serving_function_pads_python_lists_of_unequal_length(din_model):
    rows = {k: v[:3] for k, v in TEST[0].items()}
    lists = {k: v.tolist() for k, v in rows.items()}
    lists["history"] = [[7], [], [1, 2, 3, 4, 5, 6, 7, 8, 9]]
    lists["tags"] = [["a", "b"], [], ["c"]]
    served = call_serving_function(make_serving_function(din_model), lists)
    expected = din_model.predict(lists, verbose=0)
    np.testing.assert_allclose(served["seen"].numpy(), expected["seen"][:, 0], rtol=1e-5)
    with pytest.raises(TypeError, match="'history' expects int64 values of shape"):
        call_serving_function(make_serving_function(din_model), {**lists, "history": [["a"]] * 3})
