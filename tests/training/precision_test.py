"""Mixed precision: the policy choice, and zoo models training and serving under mixed policies.

This machine has no GPU: `mixed_float16` (the GPU policy) is set directly
here, where TensorFlow emulates float16 on the CPU, so that its code path
(Keras' loss-scale optimizer, float16 layers, float32 outputs) is still run.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.export.saved_model import export_saved_model
from zoo.models.dlen import base_rates
from zoo.models.registry import get_model_class
from zoo.training import TrainingConfig, choose_precision, evaluate, fit, predict
from zoo.training.precision import cpu_has_bfloat16


def test_auto_is_mixed_float16_on_a_gpu_and_float32_on_a_cpu():
    assert choose_precision("auto", gpus=["GPU:0"]) == "mixed_float16"
    assert choose_precision("auto", gpus=[]) == "float32"
    assert choose_precision("float32", gpus=["GPU:0"]) == "float32"


def test_policies_the_hardware_would_emulate_are_refused():
    with pytest.raises(ValueError, match="'mixed_float16' needs a GPU"):
        choose_precision("mixed_float16", gpus=[])
    with pytest.raises(ValueError, match="avx512_bf16, amx_bf16"):
        choose_precision("mixed_bfloat16", gpus=[], cpu_bfloat16=False)
    assert choose_precision("mixed_bfloat16", gpus=[], cpu_bfloat16=True) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Valid precisions: auto, float32"):
        choose_precision("fp8")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_bf16\n")
    assert cpu_has_bfloat16(str(cpuinfo))
    cpuinfo.write_text("processor : 0\nflags : fpu avx2 avx512f\n")
    assert not cpu_has_bfloat16(str(cpuinfo))
    assert not cpu_has_bfloat16(str(tmp_path / "missing"))


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_dtype_policy(request.param)
    yield request.param
    keras.mixed_precision.set_dtype_policy("float32")


# XLA on where a GPU run would have it; off for the other models, whose
# compilation would be most of the test's time.
@pytest.mark.parametrize(
    "policy, model_name, xla",
    [
        ("mixed_bfloat16", "mmoe", True),
        ("mixed_float16", "mmoe", True),
        ("mixed_bfloat16", "esmm", False),
        ("mixed_bfloat16", "mmoe-dlen", False),
        ("mixed_bfloat16", "snr-trans", False),
    ],
    indirect=["policy"],
)
def test_models_train_and_serve_float32_under_mixed_precision(
    policy, model_name, xla, synthetic_dataset, synthetic_preprocessor, tmp_path
):
    extra = {"base_rates": base_rates(synthetic_dataset)} if model_name == "mmoe-dlen" else {}
    model = get_model_class(model_name)(
        tasks=synthetic_dataset.tasks, preprocessor=synthetic_preprocessor, **extra
    )
    config = TrainingConfig(
        epochs=1,
        batch_size=128,
        early_stopping_patience=None,
        jit_compile=xla,
        verbose=0,
        seed=1,
    )
    before = [np.array(w) for w in model.get_weights()] if model.built else None
    result = fit(model, synthetic_dataset, config)
    compute_dtype = "bfloat16" if policy == "mixed_bfloat16" else "float16"
    assert model.switcher.dtype_policy.compute_dtype == compute_dtype
    # Weights stay float32 (the optimizer updates them there); losses are finite.
    assert {w.dtype for w in model.trainable_weights} == {"float32"}
    assert np.isfinite(result.history["loss"]).all()
    if before is not None:
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    features = {k: v[:16] for k, v in synthetic_dataset.test.features.items()}
    outputs = model(features)
    assert {v.dtype for v in outputs.values()} == {tf.float32}
    metrics = evaluate(model, synthetic_dataset, "test")
    assert all(0 <= metrics[t.name]["auc"] <= 1 for t in synthetic_dataset.tasks)

    path = export_saved_model(model, str(tmp_path), model_name)
    signature = tf.saved_model.load(path).signatures["serving_default"]
    raw = synthetic_dataset.head("test", 64)
    feed = {k: tf.constant(v.tolist() if v.dtype == object else v) for k, v in raw.items()}
    served = signature(**feed)
    expected = predict(model, synthetic_dataset, "test", outputs="serving")
    for t in synthetic_dataset.tasks:
        assert served[t.name].dtype == tf.float32
        np.testing.assert_allclose(
            served[t.name].numpy().reshape(-1), expected[t.name][:64], atol=1e-6
        )
