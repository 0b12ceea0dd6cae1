"""What a client sees when a request does not fit the serving signature.

Three ways in: the loaded SavedModel signature (what TF Serving and other
TensorFlow programs call), the Python function `make_serving_function`
returns, and `call_serving_function`, which checks a dict of features by
name before calling either. Every refusal names a feature (TensorFlow's own
dtype check in a signature call names its position in sorted name order, as
the table below records); every answer is finite.
"""

import re

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fresh_process import run_without_zoo
from zoo import export

RAW_DTYPES = {
    "city": tf.string,
    "device": tf.int64,
    "query": tf.string,
    "age": tf.float32,
    "score": tf.float32,
}
NUMERIC = ("age", "score")
# Far outside the training range: standardized, `score` (std 0.29) overflows float32.
HUGE = 3.4e38


@pytest.fixture(scope="module")
def exported(small_model, tmp_path_factory):
    return export.export_saved_model(small_model, str(tmp_path_factory.mktemp("sm")), "m")


@pytest.fixture(scope="module")
def routes(exported, small_model):
    signature = tf.saved_model.load(exported).signatures["serving_default"]
    python_function = export.make_serving_function(small_model)
    return {
        "signature": lambda feed: signature(**feed),
        "python": lambda feed: python_function(**feed),
        "checked": lambda feed: export.call_serving_function(signature, feed),
    }


@pytest.fixture(scope="module")
def good(synthetic_dataset):
    features = synthetic_dataset.test.features
    return {
        name: tf.constant(features[name][:3].tolist(), dtype=dtype)
        for name, dtype in RAW_DTYPES.items()
    }


def _with(good, **changes):
    feed = dict(good)
    for name, value in changes.items():
        if value is None:
            del feed[name]
        else:
            feed[name] = value
    return feed


# (request, {route: fragments the error message must hold}).
WRONG_REQUESTS = {
    "(batch, 1) for (batch,)": (
        lambda g: _with(g, age=tf.reshape(g["age"], (3, 1))),
        {
            "signature": ["Shape of tensor age [3,1] is not compatible with expected shape [?]"],
            "python": ["name='age'", "shape=(3, 1)"],
            "checked": ["Feature 'age' expects float32 values of shape (batch,)", "(3, 1)"],
        },
    ),
    "scalar for (batch,)": (
        lambda g: _with(g, city=tf.constant("paris")),
        {
            "signature": ["Shape of tensor city [] is not compatible"],
            "python": ["name='city'", "shape=()"],
            "checked": ["Feature 'city' expects string values of shape (batch,)", "shape ()"],
        },
    ),
    "batch sizes differ": (
        lambda g: _with(g, age=tf.constant([30.0, 40.0, 50.0, 60.0])),
        {
            # Assert prints its strings C-escaped, so the in-graph message quotes no names.
            "signature": ["Feature age: expected as many rows as most features have,] [3]", "[4]"],
            "python": ["Feature age: expected as many rows as most features have,] [3]", "[4]"],
            "checked": ["same number of rows, 3 as most do. Received 'age' with 4 rows"],
        },
    ),
    "string for a float": (
        lambda g: _with(g, age=tf.constant(["a", "b", "c"])),
        {
            # TensorFlow's own check, before the graph: inputs counted in sorted name order.
            "signature": ["input #0(zero-based) was expected to be a float tensor but is a string"],
            "python": ["name='age'", "dtype=tf.string", "dtype=tf.float32"],
            "checked": ["Feature 'age' expects float32 values", "Received dtype string"],
        },
    ),
    "float for a string": (
        lambda g: _with(g, city=tf.constant([1.0, 2.0, 3.0])),
        {
            "signature": ["input #1(zero-based) was expected to be a string tensor but is a float"],
            "python": ["name='city'", "dtype=tf.float32", "dtype=tf.string"],
            "checked": ["Feature 'city' expects string values", "Received dtype float32"],
        },
    ),
    "missing feature": (
        lambda g: _with(g, score=None),
        {
            "signature": ["missing a required argument: 'score'"],
            "python": ["missing a required argument: 'score'"],
            "checked": ["Missing: ['score']"],
        },
    ),
    "unknown feature": (
        lambda g: _with(g, colour=tf.constant(["red"] * 3)),
        {
            "signature": ["unexpected keyword argument 'colour'"],
            "python": ["unexpected keyword argument 'colour'"],
            "checked": ["unknown: ['colour']"],
        },
    ),
    "NaN": (
        lambda g: _with(g, age=tf.constant([30.0, float("nan"), 1.0])),
        {
            route: ["Feature 'age' received a NaN or infinite value"]
            for route in ("signature", "python", "checked")
        },
    ),
    "finite but overflowing": (
        lambda g: _with(g, score=tf.constant([0.5, HUGE, 0.5])),
        {
            route: ["Feature 'score'", "too far from the training range", "overflows float32"]
            for route in ("signature", "python", "checked")
        },
    ),
}


@pytest.mark.parametrize("route", ["signature", "python", "checked"])
@pytest.mark.parametrize("case", list(WRONG_REQUESTS))
def test_a_wrong_request_is_refused_naming_the_feature(routes, good, route, case):
    request, fragments = WRONG_REQUESTS[case]
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError, KeyError)) as info:
        routes[route](request(good))
    for fragment in fragments[route]:
        assert fragment in str(info.value)


def test_call_serving_function_converts_arrays_and_agrees(routes, small_model, synthetic_dataset):
    features = {k: v[:5] for k, v in synthetic_dataset.test.features.items()}
    features["age"] = features["age"].astype("float64")  # numpy's default float
    features["device"] = features["device"].astype("int32")
    features["city"] = features["city"].tolist()
    tensors = {
        name: tf.constant(np.asarray(features[name]).tolist(), dtype=dtype)
        for name, dtype in RAW_DTYPES.items()
    }
    expected = routes["signature"](tensors)
    # The Python function, like the signature, takes tensors of the declared dtypes only.
    python_function = export.make_serving_function(small_model)
    for served in (
        routes["checked"](features),
        routes["python"](tensors),
        export.call_serving_function(python_function, features),
    ):
        assert sorted(served) == ["click", "like"]
        for task in ("click", "like"):
            np.testing.assert_allclose(served[task].numpy(), expected[task].numpy(), atol=1e-6)


def test_an_empty_batch_is_answered_empty(routes, good):
    for route in routes.values():
        served = route({name: value[:0] for name, value in good.items()})
        assert {name: value.shape.as_list() for name, value in served.items()} == {
            "click": [0],
            "like": [0],
        }


# -- the property ---------------------------------------------------------------

_NAMED = [
    r"Feature '?(\w+)'?[: ]",
    r"Shape of tensor (\w+) ",
    r"missing a required argument: '(\w+)'",
    r"unexpected keyword argument '(\w+)'",
    r"name='(\w+)'\) to TensorSpec",
    r"'(\w+)' with \d+",
]
_WRONG_DTYPES = (tf.string, tf.float32, tf.float64, tf.int32, tf.int64, tf.bool)


def _values(dtype, rows):
    if dtype == tf.string:
        element = st.one_of(
            st.sampled_from([b"paris", b"lyon", b"q1", b"", b"PARIS", b"paris "]),
            st.binary(max_size=6),
        )
    elif dtype == tf.int64:
        element = st.one_of(st.integers(0, 6), st.integers(-(2**63), 2**63 - 1))
    else:
        element = st.one_of(
            st.floats(0, 100, width=32),
            st.floats(width=32),  # NaN, infinities, 3.4e38, subnormals
            st.sampled_from([HUGE, -HUGE, 1e30, 1e-45, -0.0]),
        )
    return st.lists(element, min_size=rows, max_size=rows)


def _castable(expected, received):
    """Whether call_serving_function casts `received` to `expected` (as the preprocessor does)."""
    return (expected == tf.float32 and (received.is_floating or received.is_integer)) or (
        expected == tf.int64 and received.is_integer
    )


@st.composite
def requests(draw):
    """A route, a feed of tensors, the features it gets wrong and those a refusal may name."""
    route = draw(st.sampled_from(["signature", "python", "checked"]))
    rows = draw(st.integers(0, 4))
    feed, wrong, different_rows = {}, set(), False
    # Half the requests fit the signature, so that answers get checked as often as refusals.
    faults = (
        ["none"] if draw(st.booleans()) else ["none"] * 3 + ["dtype", "shape", "rows", "missing"]
    )
    for name, dtype in RAW_DTYPES.items():
        fault = draw(st.sampled_from(faults))
        values = draw(_values(dtype, rows))
        value = tf.constant(values, dtype=dtype)
        if fault == "none" and dtype == tf.float32 and not np.isfinite(values).all():
            wrong.add(name)  # the preprocessor refuses NaN and infinities
        elif fault == "dtype":
            other = draw(st.sampled_from([d for d in _WRONG_DTYPES if d != dtype]))
            filler = {tf.string: "7", tf.bool: True}.get(other, 7)
            value = tf.fill([rows], tf.constant(filler, dtype=other))
            if route != "checked" or not _castable(dtype, other):
                wrong.add(name)
        elif fault == "shape":
            value = tf.reshape(value, (rows, 1)) if draw(st.booleans()) or not rows else value[0]
            wrong.add(name)
        elif fault == "rows":
            value = tf.constant(draw(_values(dtype, rows + 1)), dtype=dtype)
            wrong.add(name)
            different_rows = True
        elif fault == "missing":
            wrong.add(name)
            continue
        feed[name] = value
    if len(faults) > 1 and draw(st.integers(0, 4)) == 0:
        feed["unknown_feature"] = tf.zeros([rows])
        wrong.add("unknown_feature")
    # Which feature is the odd one out depends on what most features have.
    return route, feed, wrong, wrong | set(feed) if different_rows else wrong


def _named_features(message):
    """The feature names an error message points at."""
    names = {name for pattern in _NAMED for name in re.findall(pattern, message)}
    for index in re.findall(r"input #(\d+)\(zero-based\)", message):
        names.add(sorted(RAW_DTYPES)[int(index)])
    for listed in re.findall(r"(?:Missing|unknown): \[([^\]]*)\]", message):
        names.update(re.findall(r"'(\w+)'", listed))
    return names


@settings(
    max_examples=40,
    deadline=None,
    database=None,  # tests write only into tmp_path
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=requests())
def test_any_request_gets_a_named_refusal_or_finite_probabilities(routes, request):
    route, feed, wrong, suspects = request
    extreme = {
        name
        for name in NUMERIC
        if name in feed and feed[name].dtype.is_floating and np.any(np.abs(feed[name]) >= 1e6)
    }
    try:
        served = routes[route](feed)
    except (tf.errors.InvalidArgumentError, TypeError, ValueError, KeyError) as error:
        message = str(error)
        event(f"{route}: refused")  # --hypothesis-show-statistics shows the mix
        if "expected a finite value" in message or "too far from the training range" in message:
            event("refused: out of float32's range")
            assert extreme, message  # only values far out of range overflow
            return
        named = _named_features(message)
        assert named & suspects, f"{route}: {message[:2000]}"
        return
    event(f"{route}: served")
    assert not wrong, f"{route} served a request wrong in {sorted(wrong)}"
    rows = next(iter(feed.values())).shape[0]
    for value in served.values():
        assert value.shape == (rows,)
        assert np.all(np.isfinite(value)) and np.all((value >= 0) & (value <= 1))


# -- a process that has never imported the zoo ---------------------------------

FRESH = r"""
import json, sys
import tensorflow as tf
signature = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
good = dict(
    city=tf.constant(["paris", "atlantis"]), device=tf.constant([1, 99], tf.int64),
    query=tf.constant(["q1", ""]), age=tf.constant([30.0, 1e30]), score=tf.constant([0.5, 0.1]),
)
requests = {
    "good": good,
    "shape": dict(good, age=tf.constant([[30.0], [40.0]])),
    "rows": dict(good, query=tf.constant(["q1"])),
    "overflow": dict(good, score=tf.constant([3.4e38, 0.5])),
}
answers = {}
for name, feed in requests.items():
    try:
        answers[name] = {k: v.numpy().tolist() for k, v in signature(**feed).items()}
    except tf.errors.InvalidArgumentError as error:
        answers[name] = error.message
answers["zoo_imported"] = any(m == "zoo" or m.startswith("zoo.") for m in sys.modules)
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_named_refusals_in_a_process_without_the_zoo(exported, tmp_path):
    answers = run_without_zoo(FRESH, [exported], tmp_path)
    assert answers["zoo_imported"] is False
    assert np.isfinite(answers["good"]["click"]).all() and len(answers["good"]["like"]) == 2
    assert "Shape of tensor age [2,1] is not compatible" in answers["shape"]
    assert "Feature query: expected as many rows as most features have" in answers["rows"]
    assert "Feature 'score': a value is too far from the training range" in answers["overflow"]
