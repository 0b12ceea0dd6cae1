"""TF Serving warm-up requests (`assets.extra/tf_serving_warmup_requests`).

TF Serving replays these PredictionLog records when it loads a version, so
the first real request does not pay for graph initialization. Records are
TF Serving's own messages, declared in `zoo.export.serving_protos` (no
tensorflow-serving-api, and so no second TensorFlow wheel, needed).
"""

import os

import numpy as np
import tensorflow as tf

from zoo.export.serving_protos import ModelSpec, PredictionLog, PredictLog, PredictRequest

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def build_predict_request(model_name, rows, dtypes, signature_name="serving_default"):
    """A `PredictRequest` for `rows` (dict from feature name to a 1-D array, 2-D for a list).

    Raises:
        KeyError: `rows` lacks a feature of `dtypes`.
        TypeError: a feature's values do not convert to its dtype.
    """
    missing = [feature for feature in dtypes if feature not in rows]
    if missing:
        raise KeyError(
            f"Expected warm-up rows for every input {list(dtypes)}. Missing: {missing}; "
            f"received {sorted(rows)}."
        )
    request = PredictRequest(model_spec=ModelSpec(name=model_name, signature_name=signature_name))
    for feature, dtype in dtypes.items():
        values = np.asarray(rows[feature])
        if dtype == tf.string:  # (batch,) or, for a list feature, (batch, length)
            encoded = [v if isinstance(v, bytes) else str(v).encode() for v in values.reshape(-1)]
            values = np.asarray(encoded, dtype=object).reshape(values.shape)
        try:
            proto = tf.make_tensor_proto(values, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"Warm-up rows of feature {feature!r}: expected values of dtype {dtype.name}. "
                f"Received {values.dtype} values that do not convert: {error}"
            ) from None
        # By bytes: the request's TensorProto class lives in serving_protos'
        # descriptor pool, not in TensorFlow's, so CopyFrom would refuse it.
        request.inputs[feature].MergeFromString(proto.SerializeToString())
    return request


def write_warmup_requests(export_dir, model_name, rows, dtypes, num_records=1):
    """Writes `num_records` PredictionLog records of `rows` into `export_dir/assets.extra/`."""
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    request = build_predict_request(model_name, rows, dtypes)
    log = PredictionLog(predict_log=PredictLog(request=request))
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(num_records):
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir):
    """The `PredictRequest`s stored in an export's warm-up file (for checks and tests)."""
    path = os.path.join(export_dir, WARMUP_FILE)
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    return requests
