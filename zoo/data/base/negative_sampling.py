"""Negatives for implicit-feedback data: items drawn uniformly from those a user never touched."""

import numpy as np

# Vectorized redraw rounds before the few slots still unfilled are drawn user by user.
MAX_ROUNDS = 32


def _contains(sorted_keys, keys):
    """Bool array: which of `keys` are in the sorted array `sorted_keys`."""
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    position = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[position] == keys


def check_negatives_per_positive(value):
    """Raises a ValueError unless `value` is an integer >= 1 (a loader's negative ratio)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            "Expected negatives_per_positive >= 1 (an integer). "
            f"Received: negatives_per_positive={value!r}"
        )


def sample_negatives(users, interacted_users, interacted_items, num_items, rng):
    """Draws one never-interacted item for every entry of `users`, distinct per user.

    Every entry of `users` is a slot: a user id repeated as many times as that
    user needs negatives (across all splits at once, so that no negative pair
    falls in two splits). Each user's items are a uniform random subset of the
    items `0..num_items-1` that are not among its interacted pairs, drawn
    without replacement. All slots are drawn at once and the slots that hit an
    interacted item or repeat an earlier slot of the same user are redrawn,
    up to `MAX_ROUNDS` times; the few left (users who interacted with most
    items) are then drawn user by user from their exact set of free items.
    Neither step looks at which item it is, so every subset of a user's free
    items of the right size is equally likely.

    A user who needs more negatives than it has free items gets all of them:
    that many of its slots, chosen uniformly at random, stay empty (`-1`).

    Args:
        users: int array of user ids, one per negative wanted.
        interacted_users: int array, the users of the pairs never to return.
        interacted_items: int array, the items of those pairs (same length).
        num_items: the item ids are `0..num_items-1`.
        rng: a `numpy.random.Generator`; the draw is a function of it and the inputs.

    Returns:
        An int64 array like `users`: a negative item per slot, or `-1`.
    """
    users = np.asarray(users, np.int64)
    interacted_users = np.asarray(interacted_users, np.int64)
    interacted_items = np.asarray(interacted_items, np.int64)
    if num_items < 1:
        raise ValueError(f"Expected num_items >= 1. Received: num_items={num_items}")
    for name, values in (("users", users), ("interacted_users", interacted_users)):
        if len(values) and values.min() < 0:
            raise ValueError(f"Expected {name} >= 0. Received: {int(values.min())}")
    if len(interacted_items) and (
        interacted_items.min() < 0 or interacted_items.max() >= num_items
    ):
        raise ValueError(f"Expected interacted_items in 0..{num_items - 1}.")
    items = np.full(len(users), -1, np.int64)
    if not len(users):
        return items
    interacted = np.unique(interacted_users * num_items + interacted_items)  # sorted keys
    num_users = int(max(users.max(), interacted_users.max(initial=0))) + 1
    free = num_items - np.bincount(interacted // num_items, minlength=num_users)
    need = np.bincount(users, minlength=num_users)

    kept = np.ones(len(users), bool)
    if (need > free).any():
        # Keep `free` slots of each such user, in a random order.
        order = np.lexsort((rng.random(len(users)), users))
        sorted_users = users[order]
        first = np.searchsorted(sorted_users, sorted_users)  # start of each user's run
        kept[order] = np.arange(len(users)) - first < free[sorted_users]
    slot_users = users[kept]

    drawn = rng.integers(0, num_items, len(slot_users))
    for round_number in range(MAX_ROUNDS + 1):
        keys = slot_users * num_items + drawn
        bad = _contains(interacted, keys)
        order = np.argsort(keys, kind="stable")
        repeated = keys[order][1:] == keys[order][:-1]
        bad[order[1:][repeated]] = True  # a repeat loses to the earlier slot
        if not bad.any() or round_number == MAX_ROUNDS:
            break
        drawn[bad] = rng.integers(0, num_items, int(bad.sum()))

    if bad.any():
        for user in np.unique(slot_users[bad]).tolist():
            mine = slot_users == user
            taken = drawn[mine & ~bad]
            start, stop = np.searchsorted(interacted, [user * num_items, (user + 1) * num_items])
            blocked = np.concatenate([interacted[start:stop] - user * num_items, taken])
            choices = np.setdiff1d(np.arange(num_items), blocked)
            todo = np.flatnonzero(mine & bad)
            drawn[todo] = rng.choice(choices, len(todo), replace=False)
    items[kept] = drawn
    return items
