"""Initializers that never repeat themselves across experts or layers.

A Keras 3 initializer draws its seed once, at construction, and returns the
same values on every call. Sharing one instance across N experts therefore
starts them all from identical weights (DeepCTR's MMoE and PLE do exactly
that by passing one seed to every expert), and the experts then stay
symmetric under the gates. Every place that needs several weights of the
same shape asks this module for distinct copies instead.
"""

import random

import keras


def distinct_initializers(initializer, count):
    """`count` copies of `initializer`, each with its own seed.

    A seeded initializer gives seeds `seed, seed + 1, ...`, so a seeded
    configuration stays reproducible; an unseeded one gets seeds drawn from
    Python's `random`, which `keras.utils.set_random_seed` seeds.
    """
    initializer = keras.initializers.get(initializer)
    config = initializer.get_config()
    if "seed" not in config:
        # Deterministic initializers (zeros, ones, constant, identity) have
        # nothing to vary.
        return [initializer.__class__.from_config(config) for _ in range(count)]
    base = config["seed"]
    if not isinstance(base, int):
        base = random.randint(0, 2**30)
    copies = []
    for i in range(count):
        copies.append(initializer.__class__.from_config({**config, "seed": base + i}))
    return copies
