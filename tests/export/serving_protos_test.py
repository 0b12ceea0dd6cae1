"""The warm-up messages built without tensorflow-serving-api are TF Serving's, byte for byte."""

import numpy as np
import tensorflow as tf

from zoo.export import serving_protos, warmup

ROWS = {
    "age": np.array([35.0, 52.5], "float32"),
    "city": np.array(["paris", "lyon"], object),
    "device": np.array([3, 1], "int64"),
}
DTYPES = {"age": tf.float32, "city": tf.string, "device": tf.int64}

# PredictionLog(predict_log=PredictLog(request=...)) of ROWS for model "m", made with
# tensorflow-serving-api 2.21.0's classes (the inputs copied from tf.make_tensor_proto)
# and serialized with deterministic=True.
TF_SERVING_BYTES = bytes.fromhex(
    "32780a760a140a016d1a0f73657276696e675f64656661756c7412190a0361676512120801120412020802"
    "220800000c4200005242121d0a0463697479121508071204120208024205706172697342046c796f6e1224"
    "0a06646576696365121a0809120412020802221003000000000000000100000000000000"
)


def _log(request):
    return serving_protos.PredictionLog(predict_log=serving_protos.PredictLog(request=request))


def test_records_are_the_bytes_tensorflow_serving_api_writes():
    request = warmup.build_predict_request("m", ROWS, DTYPES)
    assert _log(request).SerializeToString(deterministic=True) == TF_SERVING_BYTES


def test_tensorflow_serving_records_parse_back_to_their_values():
    log = serving_protos.PredictionLog.FromString(TF_SERVING_BYTES)
    assert log.WhichOneof("log_type") == "predict_log"
    request = log.predict_log.request
    assert (request.model_spec.name, request.model_spec.signature_name) == (
        "m",
        "serving_default",
    )
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["age"]), ROWS["age"])
    assert tf.make_ndarray(request.inputs["city"]).tolist() == [b"paris", b"lyon"]
    assert tf.make_ndarray(request.inputs["device"]).dtype == np.int64


def test_written_file_reads_back(tmp_path):
    warmup.write_warmup_requests(str(tmp_path), "m", ROWS, DTYPES, num_records=2)
    requests = warmup.read_warmup_requests(str(tmp_path))
    assert len(requests) == 2
    assert _log(requests[0]).SerializeToString(deterministic=True) == TF_SERVING_BYTES


def test_fields_left_out_survive_a_round_trip():
    # A request with a field the zoo does not declare (version_label = 4) keeps it.
    spec = serving_protos.ModelSpec(name="m")
    with_label = spec.SerializeToString() + b"\x22\x06stable"
    assert serving_protos.ModelSpec.FromString(with_label).SerializeToString() == with_label
