"""Serving an exported SavedModel in a fresh Python process that never imports the zoo."""

import json
import os
import subprocess
import sys

import numpy as np

SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf
inputs = np.load(sys.argv[2], allow_pickle=True)
signature = tf.saved_model.load(sys.argv[1]).signatures[sys.argv[3]]
outputs = {}
for batch in sorted({key.split("/", 1)[0] for key in inputs.files}):
    feed = {}
    for key in inputs.files:
        if key.startswith(batch + "/"):
            values = inputs[key]
            feed[key.split("/", 1)[1]] = tf.constant(
                values.tolist() if values.dtype == object else values
            )
    result = signature(**feed)
    outputs[batch] = {task: value.numpy().tolist() for task, value in result.items()}
outputs["zoo_imported"] = any(name == "zoo" or name.startswith("zoo.") for name in sys.modules)
print(json.dumps(outputs))
"""


def serve_in_fresh_process(saved_model_path, batches, work_dir, signature="serving_default"):
    """A signature's answers to each batch of raw features, from a new interpreter.

    Args:
        saved_model_path: the exported version folder.
        batches: dict from batch name to a dict of raw feature arrays.
        work_dir: a folder for the inputs file (and the process's working directory).
        signature: the signature to call.

    Returns:
        Dict from batch name to `{output: list}`, and `"zoo_imported"`: whether
        the process imported the zoo (it must not need to).
    """
    arrays = {f"{batch}/{k}": v for batch, raw in batches.items() for k, v in raw.items()}
    inputs = os.path.join(work_dir, "inputs.npz")
    np.savez(inputs, **arrays)
    return run_without_zoo(SERVE, [str(saved_model_path), inputs, signature], work_dir)


def run_without_zoo(script, args, work_dir):
    """Runs a Python `script` in a new interpreter that cannot import the zoo from this checkout.

    Returns the JSON object the script printed on its last line.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    completed = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=work_dir,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])
