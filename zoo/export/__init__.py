"""Export for TF Serving: named raw-feature signatures, warm-up requests, atomic writes."""

from zoo.export.saved_model import (
    SERVING_SIGNATURE,
    call_serving_function,
    export_saved_model,
    make_serving_function,
    next_version,
    remove_dead_staging_folders,
    serving_input_signature,
)
from zoo.export.warmup import build_predict_request, read_warmup_requests, write_warmup_requests

__all__ = [
    "SERVING_SIGNATURE",
    "build_predict_request",
    "call_serving_function",
    "export_saved_model",
    "make_serving_function",
    "next_version",
    "read_warmup_requests",
    "remove_dead_staging_folders",
    "serving_input_signature",
    "write_warmup_requests",
]
