"""Which floating-point policy to train in: float32, or mixed precision where hardware has it."""

import keras
import tensorflow as tf

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# CPU flags (Linux /proc/cpuinfo) of bfloat16 arithmetic units.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """True if the CPU reports AVX512-BF16 or AMX-BF16 (False where it cannot be read)."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_CPU_FLAGS)
    except OSError:
        pass
    return False


def choose_precision(precision="auto", gpus=None, cpu_bfloat16=None):
    """The Keras dtype policy name for `precision`.

    `"auto"` picks `"mixed_float16"` when TensorFlow sees a GPU (tensor
    cores compute float16 at several times the float32 rate) and
    `"float32"` otherwise. A CPU with AVX512-BF16 or AMX does run
    `"mixed_bfloat16"`, but on the zoo's models it has not paid there
    (`bench/mixed_precision.py` measures it: the small matrices of
    experts and towers are bound by memory and by the casts, not by
    arithmetic), so it is asked for by name.

    Args:
        precision: one of `PRECISIONS`.
        gpus: the visible GPUs; by default `tf.config.list_physical_devices("GPU")`.
        cpu_bfloat16: whether the CPU computes bfloat16; by default read
            from `/proc/cpuinfo`. Only checked for `"mixed_bfloat16"`.

    Raises:
        ValueError: an unknown name, or `"mixed_float16"` without a GPU
            (float16 on a CPU is emulated, many times slower than float32).
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}. Valid precisions: {', '.join(PRECISIONS)}"
        )
    if gpus is None:
        gpus = tf.config.list_physical_devices("GPU")
    if precision == "auto":
        return "mixed_float16" if gpus else "float32"
    if precision == "mixed_float16" and not gpus:
        raise ValueError(
            "precision='mixed_float16' needs a GPU: TensorFlow sees none, and float16 on a CPU "
            "is emulated. Use 'mixed_bfloat16' on a CPU with AVX512-BF16/AMX, or 'float32'."
        )
    if precision == "mixed_bfloat16" and not gpus:
        if cpu_bfloat16 is None:
            cpu_bfloat16 = cpu_has_bfloat16()
        if not cpu_bfloat16:
            raise ValueError(
                "precision='mixed_bfloat16' on this CPU would be emulated: /proc/cpuinfo lists "
                f"none of {', '.join(BF16_CPU_FLAGS)}. Use 'float32'."
            )
    return precision


def set_precision(precision="auto"):
    """Sets Keras' global dtype policy (`choose_precision`) and returns its name.

    Call it before building the model: layers take the policy in force
    when they are made. Zoo models keep their outputs, losses and loss
    weights in float32 under either mixed policy, and a model saved in one
    policy loads and serves in float32 too.
    """
    policy = choose_precision(precision)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy
