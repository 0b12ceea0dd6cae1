"""The TF Serving messages of a warm-up file, built without tensorflow-serving-api.

A warm-up file is a TFRecord of `tensorflow.serving.PredictionLog` messages
(tensorflow_serving/apis/prediction_log.proto). The tensorflow-serving-api
package has their Python classes, but it requires the `tensorflow` wheel, so
installing it beside `tensorflow-cpu` (or a preinstalled GPU build) installs
TensorFlow a second time. TF Serving reads the records by field number, so
this module declares the four messages a predict warm-up needs, with the
field numbers of TF Serving's .proto files, and takes `TensorProto` from
TensorFlow itself.

The declarations go into a descriptor pool of their own: the default pool
stays free for the real tensorflow_serving modules, which a program may
import too. Fields the zoo never sets (`ModelSpec.version_label`, streaming
and request options, the other log types) are left out; a message that
holds them still parses, and they are kept as unknown fields.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
from tensorflow.core.framework import tensor_pb2

PACKAGE = "tensorflow.serving"
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED


def _field(message, name, number, field_type, type_name=None, label=_OPTIONAL):
    field = message.field.add(name=name, number=number, type=field_type, label=label)
    if type_name:
        field.type_name = type_name


def _serving_file():
    """The four messages, as a FileDescriptorProto (field numbers as in TF Serving 2.x)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="zoo/export/serving_protos.proto",
        package=PACKAGE,
        syntax="proto3",
        dependency=[tensor_pb2.DESCRIPTOR.name, wrappers_pb2.DESCRIPTOR.name],
    )
    # tensorflow_serving/apis/model.proto
    spec = file.message_type.add(name="ModelSpec")
    _field(spec, "name", 1, _STRING)
    _field(spec, "version", 2, _MESSAGE, ".google.protobuf.Int64Value")
    _field(spec, "signature_name", 3, _STRING)

    # tensorflow_serving/apis/predict.proto; `inputs` is map<string, TensorProto>.
    request = file.message_type.add(name="PredictRequest")
    _field(request, "model_spec", 1, _MESSAGE, f".{PACKAGE}.ModelSpec")
    entry = request.nested_type.add(name="InputsEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _STRING)
    _field(entry, "value", 2, _MESSAGE, ".tensorflow.TensorProto")
    _field(request, "inputs", 2, _MESSAGE, f".{PACKAGE}.PredictRequest.InputsEntry", _REPEATED)
    _field(request, "output_filter", 3, _STRING, label=_REPEATED)

    # tensorflow_serving/apis/prediction_log.proto
    predict_log = file.message_type.add(name="PredictLog")
    _field(predict_log, "request", 1, _MESSAGE, f".{PACKAGE}.PredictRequest")
    log = file.message_type.add(name="PredictionLog")
    log.oneof_decl.add(name="log_type")
    _field(log, "predict_log", 6, _MESSAGE, f".{PACKAGE}.PredictLog")
    log.field[-1].oneof_index = 0
    return file


def _add_with_dependencies(pool, file_descriptor):
    for dependency in file_descriptor.dependencies:
        _add_with_dependencies(pool, dependency)
    try:
        pool.FindFileByName(file_descriptor.name)
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        pool.Add(proto)


def _build_classes():
    pool = descriptor_pool.DescriptorPool()
    _add_with_dependencies(pool, tensor_pb2.DESCRIPTOR)
    _add_with_dependencies(pool, wrappers_pb2.DESCRIPTOR)
    pool.Add(_serving_file())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in ("ModelSpec", "PredictRequest", "PredictLog", "PredictionLog")
    }


_CLASSES = _build_classes()
ModelSpec = _CLASSES["ModelSpec"]
PredictRequest = _CLASSES["PredictRequest"]
PredictLog = _CLASSES["PredictLog"]
PredictionLog = _CLASSES["PredictionLog"]
