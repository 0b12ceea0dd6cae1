"""The gate protocol, and the one function that turns a switcher's `gate=` into gate layers.

A gate is a Keras layer constructed as `GateClass(num_experts=N, **its_options)`
and called on float `(batch, input_dim)` inputs (with `training=` if it
needs it), returning `(batch, N)` weights that are non-negative and sum to 1
per row. Every module `<name>_gate.py` in this folder holds one such class,
and `zoo.registry.GATES` lists it as `"<name>"` (underscores as hyphens)
without importing it: adding a gate is adding that file and its test.

A switcher takes `gate=` in one of these forms and calls `make_gate` once
for every gate it needs, so no two gates share weights:

- `None`: the default `SoftmaxGate`, with the switcher's own gate options
  (`gate_temperature`, `kernel_regularizer`).
- a registered name: `"softmax"`, `"noisy-top-k"`, ... with that gate's
  default options.
- a dict `{"class_name": ..., "config": {...}}`, as `keras.layers.serialize`
  writes it. `class_name` is a registered name or a Keras-registered class
  name (`"NoisyTopKGate"`); `config` holds the gate's options and may leave
  out `num_experts` and `name`, which the switcher sets for each gate:
  `{"class_name": "noisy-top-k", "config": {"k": 1, "importance_weight": 0.01}}`.
- a gate layer, used as a prototype: each gate is a new layer of its class
  with its config, `num_experts` and `name` replaced; its dtype policy is
  left to the global one, as for the switcher's other layers.

A switcher's `kernel_regularizer` also goes to a gate that takes a
`kernel_regularizer` and sets none itself. `serialize_gate` gives the form a
switcher's `get_config` stores (a layer becomes its dict), so a saved model
reloads with the same gate.
"""

import inspect

import keras

from zoo.api import PACKAGE
from zoo.layers.gates.softmax_gate import SoftmaxGate
from zoo.registry import GATES

# Keys of `keras.layers.serialize(layer)`; "build_config" is dropped (each gate builds itself).
_DICT_KEYS = {"class_name", "config", "module", "registered_name", "build_config"}


def serialize_gate(gate):
    """The JSON-able form of a `gate=` argument: `None`, a name or a dict.

    Raises:
        ValueError: `gate` is none of the forms in this module's docstring.
    """
    if gate is None:
        return None
    if isinstance(gate, str):
        GATES.check_name(gate)
        return gate
    if isinstance(gate, keras.layers.Layer):
        gate = keras.layers.serialize(gate)
        # Set for each gate: its name, and its dtype policy (the one in force, as for any layer).
        gate["config"] = {k: v for k, v in gate["config"].items() if k not in ("name", "dtype")}
    if isinstance(gate, dict):
        unknown = sorted(set(gate) - _DICT_KEYS)
        if "class_name" not in gate or unknown:
            raise ValueError(
                'Expected a gate dict {"class_name": ..., "config": {...}}. '
                f"Received: gate={gate!r}"
            )
        plain = {key: _plain(gate[key]) for key in gate}
        plain.pop("build_config", None)
        plain["config"] = dict(plain.get("config") or {})
        return plain
    raise ValueError(
        "Expected gate to be None, a gate name, a gate config dict or a gate layer. "
        f"Valid gate names: {', '.join(GATES)}. Received: gate={gate!r}"
    )


def make_gate(gate, num_experts, name, kernel_regularizer=None, **default_options):
    """A new gate layer over `num_experts` experts, from a switcher's `gate=` argument.

    Args:
        gate: `None`, a registered gate name, a config dict or a prototype
            gate layer (see this module's docstring).
        num_experts: int, the experts this gate weighs.
        name: the new layer's name.
        kernel_regularizer: the switcher's regularizer, for a gate that takes
            a `kernel_regularizer` and has none of its own.
        **default_options: `SoftmaxGate` options used when `gate` is `None`
            (`temperature=...`).

    Returns:
        A new, unbuilt gate layer.

    Raises:
        ValueError: an unknown gate, a bad config, or a layer that is not an
            expert gate.
    """
    if gate is None:
        return SoftmaxGate(
            num_experts, kernel_regularizer=kernel_regularizer, name=name, **default_options
        )
    gate = serialize_gate(gate)
    if isinstance(gate, str):
        gate = {"class_name": gate, "config": {}}
    cls = _gate_class(gate)
    arguments = inspect.signature(cls.__init__).parameters
    if not issubclass(cls, keras.layers.Layer) or "num_experts" not in arguments:
        raise ValueError(
            "Expected an expert gate (a layer that takes num_experts). "
            f"Received: gate={gate!r}, a {cls.__name__}"
        )
    config = dict(gate["config"], num_experts=int(num_experts), name=name)
    if (
        kernel_regularizer is not None
        and config.get("kernel_regularizer") is None
        and "kernel_regularizer" in arguments
    ):
        config["kernel_regularizer"] = keras.regularizers.serialize(
            keras.regularizers.get(kernel_regularizer)
        )
    try:
        layer = cls.from_config(config)
    except (TypeError, ValueError) as error:
        # Keras' from_config wraps the constructor's own message in a long one.
        original = error.__cause__ or error.__context__ or error
        raise ValueError(f"{cls.__name__} {name!r}: {original}") from None
    return layer


def check_gate_temperature(gate, gate_temperature):
    """Refuses a switcher's `gate_temperature` with a gate other than the default.

    The temperature is an option of the default `SoftmaxGate`; ignoring it
    silently would train another model than the one asked for.
    """
    if gate is not None and gate_temperature != 1.0:
        raise ValueError(
            "gate_temperature sets the default gate's temperature (gate=None); give another "
            'gate its options in its config, e.g. {"class_name": "softmax", "config": '
            f'{{"temperature": {gate_temperature}}}}}. Received: gate={gate!r}, '
            f"gate_temperature={gate_temperature}"
        )


def _gate_class(gate):
    """The class a gate dict names: a registered gate name, else a Keras-registered class."""
    name = gate["class_name"]
    if name in GATES:
        return GATES[name]
    for registered in (gate.get("registered_name"), name, f"{PACKAGE}>{name}"):
        cls = registered and keras.saving.get_registered_object(registered)
        if isinstance(cls, type):
            return cls
    raise ValueError(
        f"Unknown gate {name!r}. Valid gate names: {', '.join(GATES)}, or the class name of a "
        "gate layer registered with Keras."
    )


def _plain(value):
    """`value` with Keras' tracked dicts and lists turned back into plain ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
